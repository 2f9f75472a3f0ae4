import time

from django.core.management.base import BaseCommand

from recommendations.services.ranker import ranker_train


class Command(BaseCommand):
    help = "Train the learned ranker (LightGBM, rank_xendcg) on the interaction log and make it the active one."

    def handle(self, *args, **options):
        started = time.monotonic()
        model = ranker_train(on_step=lambda step: self.stdout.write(f"==> {step}"))
        if model is None:
            self.stdout.write(self.style.WARNING("No ranker trained: what served before keeps serving."))
            return
        figures, validation = model.figures, model.figures.get("validation")
        if validation is None:
            self.stdout.write("No validation: the log holds one fold of labels only.")
        else:
            v = validation
            self.stdout.write(
                f"Validation ({v['shoppers']:,} shoppers with history who bought in the {figures['label_days']} "
                f"day(s) from {v['cutoff'][:10]}, a model of the older days): MAP@12 {v['map']:.4f}, recall@12 "
                f"{v['recall']:.4f}; the sources' own order {v['sources_order_map']:.4f} / "
                f"{v['sources_order_recall']:.4f}; {v['candidate_recall']:.0%} of their purchases were among the "
                "candidates; "
                + ("the model orders Recommended for you." if v["map"] > v["sources_order_map"]
                   else "it validated no better: the sources' own order serves.")
            )  # fmt: skip
        top = ", ".join(f"{name} {share:.0%}" for name, share in list(model.importances.items())[:6])
        self.stdout.write(f"Feature importances (share of gain): {top}")
        clicks = figures.get("clicks")
        if clicks is None:
            self.stdout.write("After a click: no basket of two or more products to learn from; the heuristic serves.")
        else:
            v = clicks.get("validation")
            said = (
                f"validation on {v['baskets']:,} baskets MAP@12 {v['map']:.4f}, recall@12 {v['recall']:.4f} "
                f"(the heuristic {v['heuristic_map']:.4f} / {v['heuristic_recall']:.4f})"
                if v
                else "one fold: no validation"
            )
            top = ", ".join(f"{name} {share:.0%}" for name, share in list(clicks["importances"].items())[:4])
            serving = "the model serves" if clicks.get("serves") else "the heuristic serves (the model did not beat it)"
            self.stdout.write(
                f"After a click: {clicks['baskets']:,} baskets, {clicks['rows']:,} rows, {clicks['seconds']} s; "
                f"{said}; {top}; {serving}."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Done in {time.monotonic() - started:.1f} s (fit {figures['seconds']} s, peak memory "
                f"{figures['peak_memory_mb']:,} MB): ranker {model.pk} active, {figures['trees']} trees, "
                f"{figures['rows']:,} candidate rows of {figures['shoppers']:,} shoppers, labels of "
                f"{figures['label_days']} day(s) per fold."
            )
        )
