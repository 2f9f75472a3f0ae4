import time

from django.core.management.base import BaseCommand

from recommendations.services.collaborative import collaborative_train
from recommendations.services.trending import trending_refresh


class Command(BaseCommand):
    help = "Train implicit's ALS on the interaction log, store the factors, refresh trending."

    def add_arguments(self, parser):
        parser.add_argument("--factors", type=int)
        parser.add_argument("--iterations", type=int)

    def handle(self, *args, factors, iterations, verbosity: int, **options):
        started = time.monotonic()
        model = collaborative_train(
            factors=factors, iterations=iterations, show_progress=verbosity > 0,
            on_stage=lambda stage: self.stdout.write(f"==> [{time.monotonic() - started:6.1f} s] {stage}"),
        )  # fmt: skip
        self.stdout.write(f"==> [{time.monotonic() - started:6.1f} s] refreshing trending")
        trending = trending_refresh()
        if model is None:
            self.stdout.write(self.style.WARNING("No interactions to train on yet."))
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Done in {time.monotonic() - started:.1f} s: model {model.pk} active, {model.factors} factors, "
                f"{model.users:,} shoppers x {model.items:,} products, {model.interactions:,} shopper-product pairs; "
                f"{trending:,} trending products."
            )
        )
