"""The evaluation report as plain-text tables for the terminal (and the closing notes)."""

from recommendations.evaluation.offline import LABELS

METRICS = ("precision", "recall", "map", "ndcg", "hit_rate", "coverage", "diversity")
STRATEGY_ORDER = tuple(LABELS)  # the table's order, which a jsonb round trip loses


def time_split_table(section: dict, segment: str = "all") -> str:
    k = section["k"]
    names = {"precision": f"P@{k}", "recall": f"R@{k}", "map": f"MAP@{k}", "ndcg": f"NDCG@{k}",
             "hit_rate": f"HR@{k}", "coverage": "Coverage", "diversity": "Diversity"}  # fmt: skip
    header = f"{'Strategy':<30}" + "".join(f"{names[m]:>11}" for m in METRICS)
    lines = [header, "-" * len(header)]
    results = section["results"][segment]
    for name in (name for name in STRATEGY_ORDER if name in results):
        scores = results[name]
        label = section["strategies"][name]["label"]
        lines.append(f"{label:<30}" + "".join(f"{scores[m]['mean']:>11.4f}" for m in METRICS))
    return "\n".join(lines)


def time_split_summary(section: dict) -> str:
    reach = section["reachable"]
    lines = [
        f"Train: {section['train_events']:,} events before {section['cutoff'][:10]}; "
        f"test: {section['held_out_pairs']:,} purchases of {section['shoppers']:,} shoppers "
        f"({section['shoppers_with_history']:,} with history) until {section['until'][:10]}.",
        f"Reachable held-out purchases: {reach['passes_filters']:.0%} pass the hard filters, "
        f"{reach['known_to_als']:.0%} were bought or seen by someone before the cut-off, "
        f"{reach['bought_before']:.1%} are repurchases (the blend filters them as already purchased; the ranker "
        "may show them).",
    ]
    headroom = section.get("headroom") or {}
    if headroom.get("new_hindsight"):
        bound = headroom["new_hindsight"]
        lines.append(
            f"Headroom, new shoppers: in hindsight, the test days' own {section['k']} best sellers among the "
            f"{bound['shoppers']:,} new shoppers score MAP@K {bound['map']:.4f}, R@K {bound['recall']:.4f} for them: "
            "no list that is the same for every new shopper can do better."
        )
    if headroom.get("candidates"):
        reach = headroom["candidates"]
        sources = ", ".join(f"{source} {share:.1%}" for source, share in reach["by_source"].items())
        lines.append(
            f"Headroom, shoppers with history: {reach['share']:.1%} of their {reach['purchases']:,} held-out "
            f"purchases were among the ranker's candidates ({sources}); no ranking reaches the rest. A perfect "
            f"ranking of their candidates would score MAP@K {reach['perfect_ranking']['map']:.4f}, "
            f"R@K {reach['perfect_ranking']['recall']:.4f}."
        )
    if len(section.get("windows", ())) > 1:
        first, last = section["windows"][-1], section["windows"][0]
        lines.append(
            f"{len(section['windows'])} windows pooled, tested from {first['cutoff'][:10]} to {last['until'][:10]}: "
            f"{section['shoppers']:,} shopper-windows ({section['shoppers_with_history']:,} with history)."
        )
    comparisons = section.get("comparisons", {})
    for name in (name for name in STRATEGY_ORDER if name in comparisons):
        comparison = comparisons[name]
        label = section["strategies"][name]["label"]
        parts = [
            f"{metric} {c['difference']:+.4f} [{c['low']:+.4f}, {c['high']:+.4f}], better for {c['better']}, "
            f"worse for {c['worse']}"
            for metric, c in (("R@K", comparison["recall"]), ("MAP@K", comparison["map"]))
        ]
        lines.append(f"Hybrid as shipped minus {label}: " + "; ".join(parts) + ".")
    for name, per_segment in section.get("vs_heuristic", {}).items():
        label = section["strategies"][name]["label"]
        for segment, c in per_segment.items():
            parts = [f"{metric} {v['difference']:+.4f} [{v['low']:+.4f}, {v['high']:+.4f}]"
                     for metric, v in (("R@K", c["recall"]), ("MAP@K", c["map"]))]  # fmt: skip
            lines.append(f"{label} minus Repurchase + colours ({segment}): " + "; ".join(parts) + ".")
    promotion = section.get("promotion")
    if promotion:
        rule = promotion["rule"]
        lines.append(
            f"A promote rule on the homepage's first row (up to {rule['max_cards']} of the "
            f"{rule['new_arrivals']:,} products first sold in the {rule['days']} day(s) before the cut-off, newest "
            "first), minus the homepage without it: "
            + "; ".join(
                f"{segment}: MAP@K {c['map']['difference']:+.4f} [{c['map']['low']:+.4f}, {c['map']['high']:+.4f}], "
                f"R@K {c['recall']['difference']:+.4f} [{c['recall']['low']:+.4f}, {c['recall']['high']:+.4f}]"
                for segment, c in promotion["vs_homepage"].items()
            )
            + "."
        )
    for number, ranker in enumerate(section.get("ranker") or (), start=1):
        figures, validation = ranker["figures"], ranker["figures"].get("validation")
        top = ", ".join(f"{name} {share:.0%}" for name, share in list(ranker["importances"].items())[:8])
        checked = (
            f"validation ({validation['cutoff'][:10]}, {validation['shoppers']:,} shoppers) MAP@12 "
            f"{validation['map']:.4f} against {validation['sources_order_map']:.4f} in the sources' order, "
            f"{validation['candidate_recall']:.0%} of purchases among the candidates"
            if validation
            else "no validation fold"
        )
        lines.append(
            f"Ranker of window {number}: trained in {figures['seconds']} s (process peak memory "
            f"{figures['peak_memory_mb']:,} MB), {figures['trees']} trees on {figures['rows']:,} rows of "
            f"{figures['shoppers']:,} shoppers, labels of {figures['label_days']} day(s); {checked}. Gain: {top}."
        )
    tuning = section.get("tuning")
    if tuning:
        weights = ", ".join(f"{source} {weight:.2f}" for source, weight in tuning["weights"].items())
        lines.append(
            f"Tuned on {tuning['validation_shoppers']:,} shopper-windows before the cut-off ({tuning['tried']} "
            f"settings): weights {weights}; ALS "
            f"{tuning['als_factors']} factors, regularisation {tuning['als_regularization']}; validation "
            f"MAP {tuning['validation_map']:.4f} against {tuning['shipped_validation_map']:.4f} as shipped."
        )
    return "\n".join(lines)


def attribute_table(section: dict) -> str:
    lines = [f"{'Encoder':<22}{'Category':<16}{'Queries':>9}{'P@6':>8}{'P@6 as served':>15}"]
    lines.append("-" * len(lines[0]))
    for key, scores in section["encoders"].items():
        if "unavailable" in scores:
            lines.append(f"{key:<22}unavailable: {scores['unavailable'][:80]}")
            continue
        unfiltered, served = scores["unfiltered"], scores["as_served"]
        lines.append(
            f"{key:<22}{'(all)':<16}{scores['embedded']:>9}{unfiltered['overall']:>8.3f}{served['overall']:>15.3f}"
        )
        for category, entry in unfiltered["per_category"].items():
            lines.append(
                f"{'':<22}{category:<16}{entry['queries']:>9}{entry['mean']:>8.3f}"
                f"{served['per_category'][category]['mean']:>15.3f}"
            )
    return "\n".join(lines)


def discovery_summary(section: dict) -> str:
    guided, randomly = section["guided"], section["random"]
    return (
        f"{section['targets']} hidden targets in {section['catalog']:,} products, {section['page']} per page: "
        f"preference + exploration found them in {guided['mean']:.1f} rounds on average (median "
        f"{guided['median']:.0f}, {guided['found_within_10']:.0%} within 10 rounds, {guided['not_found']} not "
        f"within {section['max_rounds']}); random pages {randomly['mean']:.1f} (median {randomly['median']:.0f}; "
        f"expected {section['random_expected']:.1f})."
    )
