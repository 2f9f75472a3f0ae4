from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from catalog.management.commands.import_catalog import DEFAULT_FOLDER
from recommendations.importing import InteractionImportSummary, customers_import, transactions_import
from recommendations.services.trending import trending_refresh

SHOWN_PROBLEMS = 20


class Command(BaseCommand):
    help = "Import H&M customers (as shop users) and transactions_train.csv (as purchases). Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("folder", nargs="?", default=str(DEFAULT_FOLDER), help=f"default: {DEFAULT_FOLDER}")

    def handle(self, *args, folder: str, verbosity: int, **options):
        path = Path(folder).expanduser().resolve()
        customers, transactions = path / "customers.csv", path / "transactions_train.csv"
        if not transactions.exists():
            raise CommandError(f"{transactions} does not exist.")
        summary = InteractionImportSummary()
        if customers.exists():
            customers_import(path=customers, summary=summary)
        with open(transactions, "rb") as handle:
            total = max(sum(1 for _ in handle) - 1, 0)
        self.stdout.write(f"Importing {total:,} purchases from {transactions}")
        with tqdm(total=total, unit="row", disable=verbosity == 0) as bar:
            try:
                transactions_import(path=transactions, summary=summary, on_progress=bar.update)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
        if summary.bad_rows:
            self.stdout.write(self.style.WARNING(f"Bad rows ({len(summary.bad_rows)}):"))
            for problem in summary.bad_rows[:SHOWN_PROBLEMS]:
                self.stdout.write(f"  {problem}")
        trending = trending_refresh()
        self.stdout.write(
            self.style.SUCCESS(
                f"Done: {summary.users_created:,} customers added as users; {summary.purchases_created:,} purchases "
                f"added, {summary.purchases_existing:,} already there; {len(summary.bad_rows):,} bad rows skipped; "
                f"{trending:,} trending products."
            )
        )
