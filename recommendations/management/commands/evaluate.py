import time
from datetime import UTC, datetime
from datetime import time as day_end
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from recommendations.evaluation.clicks import click_table
from recommendations.evaluation.runner import EvaluationOptions, evaluation_run
from recommendations.evaluation.search import search_table
from recommendations.evaluation.tables import (
    attribute_table,
    discovery_summary,
    time_split_summary,
    time_split_table,
)

MYNTRA = settings.BASE_DIR.parent / "shared" / "data" / "myntra"


def _date(value: str) -> datetime:
    try:
        return datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), day_end.max, tzinfo=UTC)
    except ValueError:
        raise CommandError(f"--until wants a date like 2020-09-22, not {value!r}.") from None


class Command(BaseCommand):
    help = (
        "Offline evaluation: a time split of the interaction log (most popular, visual, ALS, hybrid as "
        "shipped and tuned), attribute precision@6 on Fashion Product Images, a discovery simulation "
        "and an embedding map. Prints tables, writes JSON, keeps the report for the admin."
    )

    def add_arguments(self, parser):
        parser.add_argument("--k", type=int, default=12, help="list length (default 12)")
        parser.add_argument("--test-weeks", type=int, default=4, help="weeks held out (default 4)")
        parser.add_argument("--test-days", type=int, help="hold out the last N calendar days instead of weeks")
        parser.add_argument("--all-in-stock", action="store_true", help="count every active product as in stock")
        parser.add_argument(
            "--windows", type=int, default=1, help="pool this many consecutive test windows (no tuning if > 1)"
        )
        parser.add_argument("--until", type=_date, help="end of the test weeks (default: the newest purchase)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--no-tune", action="store_true", help="skip the validation tuning")
        parser.add_argument("--attributes", default=str(MYNTRA), help=f"Fashion Product Images folder ({MYNTRA})")
        parser.add_argument("--no-attributes", action="store_true")
        parser.add_argument("--discovery-targets", type=int, default=100, help="0 skips the simulation")
        parser.add_argument("--map-sample", type=int, default=1500, help="0 skips the embedding map")
        parser.add_argument(
            "--promote-new-days", type=int, default=0,
            help="also score the homepage with a promote rule on its first row for the products first sold in "
            "the last N days before the cut-off, paired with it without (0, the default, skips it)",
        )  # fmt: skip
        parser.add_argument("--promote-cards", type=int, default=3, help="the promote rule's share of the row")
        parser.add_argument("--json", type=Path, help="default: DATA_DIR/evaluation/report-<time>.json")

    def handle(self, *args, **options):
        if min(options["k"], options["test_weeks"], options["windows"], options["test_days"] or 1) < 1:
            raise CommandError("--k, --test-weeks, --test-days and --windows must be at least 1.")
        attributes = None if options["no_attributes"] else Path(options["attributes"])
        if attributes and not (attributes / "styles.csv").exists():
            raise CommandError(f"{attributes} has no styles.csv; pass --attributes PATH or --no-attributes.")
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        json_path = options["json"] or Path(settings.DATA_DIR) / "evaluation" / f"report-{stamp}.json"
        run_options = EvaluationOptions(
            k=options["k"], test_weeks=options["test_weeks"], test_days=options["test_days"],
            all_in_stock=options["all_in_stock"], windows=options["windows"], until=options["until"],
            seed=options["seed"],
            tune=not options["no_tune"], attributes_folder=attributes,
            discovery_targets=options["discovery_targets"], map_sample=options["map_sample"],
            promote_new_days=options["promote_new_days"], promote_cards=options["promote_cards"],
        )  # fmt: skip
        started = time.monotonic()
        try:
            report = evaluation_run(
                run_options, json_path=json_path, progress=options["verbosity"] > 0,
                on_step=lambda step: self.stdout.write(f"==> {step}"),
            )  # fmt: skip
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self._print(report.data)
        url = reverse("admin:recommendations_evaluationreport_change", args=[report.pk])
        self.stdout.write(
            self.style.SUCCESS(f"Done in {time.monotonic() - started:.0f} s. JSON: {json_path}. Report page: {url}")
        )

    def _print(self, data: dict) -> None:
        section = data["time_split"]
        self.stdout.write("\nTime split: every shopper with held-out purchases\n" + time_split_table(section))
        if "with_history" in section["results"]:
            self.stdout.write(
                "\nShoppers with history before the cut-off\n" + time_split_table(section, "with_history")
            )
        if "new" in section["results"]:
            self.stdout.write("\nNew shoppers (no history before the cut-off)\n" + time_split_table(section, "new"))
        self.stdout.write("\n" + time_split_summary(section))
        for name, title in (("one", "one product viewed"), ("two", "two products viewed, the newest last")):
            clicked = section.get("after_a_click", {}).get(name)
            if not clicked:
                continue
            for segment, who in (("new", "new shoppers"), ("returning", "returning shoppers")):
                if segment in clicked["results"]:
                    self.stdout.write(
                        f"\nAfter a click ({title}): the rest of the day's basket, {who} "
                        f"({len_of(clicked, segment):,} shopper-days)\n" + click_table(clicked, segment)
                    )
        searched = section.get("search")
        for segment, who in (("returning", "returning shoppers"), ("new", "new shoppers")):
            if searched and segment in searched["segments"]:
                self.stdout.write(
                    f"\nSearch by type and colour: reciprocal rank of the purchase, {who} "
                    f"({searched['segments'][segment]['purchases']:,} purchases)\n" + search_table(searched, segment)
                )
        if "attributes" in data:
            self.stdout.write(
                "\nAttribute precision@6 (Fashion Product Images)\n" + attribute_table(data["attributes"])
            )
        if "discovery" in data:
            self.stdout.write("\nDiscovery\n" + discovery_summary(data["discovery"]))
        self.stdout.write("")


def len_of(section: dict, segment: str) -> int:
    """The number of tasks a segment's figures are over."""
    return section["new_tasks"] if segment == "new" else section["tasks"] - section["new_tasks"]
