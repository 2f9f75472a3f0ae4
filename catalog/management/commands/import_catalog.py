from itertools import islice
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from catalog.importers import LAYOUTS, detect_layout
from catalog.importing import catalog_import

DEFAULT_FOLDER = Path(settings.BASE_DIR).parent / "shared" / "data" / "hm"
SHOWN_PROBLEMS = 20


class Command(BaseCommand):
    help = "Import a catalog folder in the H&M (articles.csv) or Fashion Product Images (styles.csv) layout."

    def add_arguments(self, parser):
        parser.add_argument("folder", nargs="?", default=str(DEFAULT_FOLDER), help=f"default: {DEFAULT_FOLDER}")
        parser.add_argument("--layout", choices=sorted(LAYOUTS), help="default: detected from the files")
        parser.add_argument("--limit", type=int, help="import only the first N rows (for trials)")
        parser.add_argument(
            "--hold-embedding", action="store_true",
            help="do not queue new photos for embedding as they import: the sweep queues them, trending "
            "and newest products first (the demo runs it once the purchases are in)",
        )  # fmt: skip

    def handle(self, *args, folder: str, layout: str | None, limit: int | None, verbosity: int,
               hold_embedding: bool = False, **options):  # fmt: skip
        path = Path(folder).expanduser().resolve()
        if not path.is_dir():
            raise CommandError(f"{path} is not a folder.")
        try:
            layout = layout or detect_layout(path)
            rows = LAYOUTS[layout](path)
            total = _count_rows(path, layout)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if limit is not None:
            rows, total = islice(rows, limit), min(total, limit)
        self.stdout.write(f"Importing {total:,} rows from {path} ({layout} layout)")
        with tqdm(total=total, unit="row", disable=verbosity == 0) as bar:
            try:
                summary = catalog_import(rows=rows, on_progress=bar.update, announce=not hold_embedding)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
        for title, problems in (("Bad rows", summary.bad_rows), ("Photo problems", summary.photo_problems)):
            if problems:
                self.stdout.write(self.style.WARNING(f"{title} ({len(problems)}):"))
                for problem in problems[:SHOWN_PROBLEMS]:
                    self.stdout.write(f"  {problem}")
                if len(problems) > SHOWN_PROBLEMS:
                    self.stdout.write(f"  ... and {len(problems) - SHOWN_PROBLEMS} more")
        self.stdout.write(
            self.style.SUCCESS(
                f"Done: {summary.created:,} created, {summary.updated:,} updated, {summary.unchanged:,} unchanged, "
                f"{summary.kept_staff_edits:,} kept as staff edited them; "
                f"{summary.photos_added:,} photos added, {summary.photos_replaced:,} replaced, "
                f"{len(summary.photo_problems):,} missing or unreadable; {len(summary.bad_rows):,} bad rows skipped; "
                f"{summary.photos_changed:,} products with a new photo (handed on for embedding)."
            )
        )


def _count_rows(path: Path, layout: str) -> int:
    name = "articles.csv" if layout == "hm" else "styles.csv"
    with open(path / name, "rb") as handle:
        return max(sum(1 for _ in handle) - 1, 0)
