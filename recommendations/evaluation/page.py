"""What the admin's report page shows: the tables as rows and the charts as inline SVG."""

from recommendations.evaluation.charts import bar_chart, scatter_map
from recommendations.evaluation.tables import METRICS, STRATEGY_ORDER, discovery_summary, time_split_summary

CHARTED = ("recall", "map", "ndcg", "hit_rate", "coverage", "diversity")


def report_page_context(data: dict) -> dict:
    split = data["time_split"]
    k = split["k"]
    titles = {
        "precision": f"Precision@{k}", "recall": f"Recall@{k}", "map": f"MAP@{k}", "ndcg": f"NDCG@{k}",
        "hit_rate": f"Hit rate@{k}", "coverage": "Catalog coverage", "diversity": "Diversity (article types)",
    }  # fmt: skip
    # jsonb keeps keys in its own order: put the strategies back in the table's order.
    results = {name: split["results"]["all"][name] for name in STRATEGY_ORDER if name in split["results"]["all"]}
    labels = {name: split["strategies"][name]["label"] for name in results}
    # The charts compare lists scored by article; the rows scored by product are in the table only.
    charted = {name: scores for name, scores in results.items() if not name.endswith("_products")}
    context = {
        "data": data,
        "metric_titles": [titles[m] for m in METRICS],
        "rows": [(labels[name], [scores[m]["mean"] for m in METRICS]) for name, scores in results.items()],
        "summary": time_split_summary(split),
        "charts": [
            bar_chart(
                titles[metric],
                [(labels[name], scores[metric]["mean"]) for name, scores in charted.items()],
                stderr=[scores[metric]["stderr"] for scores in charted.values()],
            )
            for metric in CHARTED
        ],
    }
    attributes = data.get("attributes")
    if attributes:
        unavailable = {key: entry for key, entry in attributes["encoders"].items() if "unavailable" in entry}
        scored = {key: entry for key, entry in attributes["encoders"].items() if "unavailable" not in entry}
        context["attribute_unavailable"] = unavailable
        context["attribute_charts"] = [
            bar_chart(
                f"Attribute precision@6, {key}",
                [("All", entry["unfiltered"]["overall"])]
                + [(category, value["mean"]) for category, value in entry["unfiltered"]["per_category"].items()],
            )
            for key, entry in scored.items()
        ]
    if data.get("discovery"):
        context["discovery"] = discovery_summary(data["discovery"])
        guided, randomly = data["discovery"]["guided"], data["discovery"]["random"]
        context["discovery_chart"] = bar_chart(
            "Mean rounds to find the target (fewer is better)",
            [("Preference + exploration", guided["mean"]), ("Random pages", randomly["mean"])],
        )
    embedding = data.get("embedding_map")
    if embedding and embedding["points"]:
        context["embedding_map"] = scatter_map(embedding["points"], embedding["categories"])
    return context
