from django.core.management.base import BaseCommand
from tqdm import tqdm

from experiments.models import Experiment
from experiments.services.rollup import rollup


class Command(BaseCommand):
    help = "Roll the experiments' impressions and events up into the tables their results pages read."

    def handle(self, *args, **options):
        with tqdm(total=Experiment.objects.count(), unit="experiment", disable=None) as bar:
            summary = rollup(on_progress=bar.update)
        self.stdout.write(
            f"Rolled up {summary.experiments} experiments ({summary.exposures:,} shoppers exposed) and "
            f"{summary.source_days:,} day-and-source rows; purged {summary.purged:,} impressions past "
            "IMPRESSIONS_KEEP_DAYS."
        )
