"""The tables the results pages read, from the impressions and the log: one Exposure row per shopper
and experiment (what they did from their first impression in it), recomputed whole for each running or
recently ended experiment (idempotent: a rerun gives the same rows), and the old impressions purged.
Run by Celery beat (experiments.tasks) and ``manage.py experiments_rollup``."""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count, Exists, Min, OuterRef
from django.utils import timezone

from experiments.models import Experiment, Exposure, Impression, SourceDay
from experiments.selectors.assignment import units_of
from experiments.selectors.attribution import credits_between
from experiments.services.autopilot import autopilot_step
from recommendations.models import Interaction, InteractionKind, Visitor


@dataclass
class RollupSummary:
    experiments: int = 0
    exposures: int = 0
    source_days: int = 0
    purged: int = 0
    orphans: int = 0


def units_of_users(user_ids: set[int]) -> dict[int, str]:
    """Each user's assignment unit (experiments.selectors.assignment.unit_of), in one query."""
    return units_of(user_ids=user_ids, visitor_ids=set())[0]


def experiment_rollup(experiment: Experiment) -> int:
    """Recompute the experiment's Exposure rows; returns how many."""
    end = min(experiment.ends_at or timezone.now(), timezone.now())
    seen = list(
        Impression.objects.filter(experiment_id=experiment.pk)
        .values("user_id", "visitor_id", "arm")
        .annotate(first=Min("shown_at"), lists=Count("pk"))
    )
    units, visitor_units = units_of(
        user_ids={row["user_id"] for row in seen if row["user_id"] is not None},
        visitor_ids={row["visitor_id"] for row in seen if row["user_id"] is None},
    )
    exposures: dict[str, Exposure] = {}
    users: dict[str, int] = {unit: user_id for user_id, unit in units.items()}
    for row in sorted(seen, key=lambda r: r["first"]):
        unit = units[row["user_id"]] if row["user_id"] is not None else visitor_units[str(row["visitor_id"])]
        known = exposures.get(unit)
        if known is None:  # the first arm a unit saw is its arm (assignment is sticky; a changed share is not)
            exposures[unit] = Exposure(experiment=experiment, arm=row["arm"], shopper=unit, first_seen=row["first"],
                                       impressions=row["lists"], user_id=users.get(unit))  # fmt: skip
        else:
            known.impressions += row["lists"]
    if exposures:
        _add_outcomes(experiment, exposures, users, end)
    with transaction.atomic():
        Exposure.objects.filter(experiment=experiment).delete()
        Exposure.objects.bulk_create(exposures.values(), batch_size=2000)
    return len(exposures)


def _add_outcomes(experiment: Experiment, exposures: dict[str, Exposure], users: dict[str, int], end) -> None:
    start = min(exposure.first_seen for exposure in exposures.values())
    visitor_units = {unit[1:] for unit in exposures if unit.startswith("v")}
    user_units = units_of_users(set(users.values()) | set(
        Visitor.objects.filter(pk__in=visitor_units, user_id__isnull=False).values_list("user_id", flat=True)
    ))  # fmt: skip
    events = Interaction.objects.filter(
        created_at__gte=start, created_at__lt=end, kind__in=[InteractionKind.ADD_TO_CART, InteractionKind.PURCHASE]
    ).filter(visitor_id__in=visitor_units) | Interaction.objects.filter(
        created_at__gte=start, created_at__lt=end, kind__in=[InteractionKind.ADD_TO_CART, InteractionKind.PURCHASE],
        user_id__in=user_units.keys(),
    )  # fmt: skip
    for user_id, visitor_id, kind, at, price in events.values_list("user_id", "visitor_id", "kind", "created_at",
                                                                   "price"):  # fmt: skip
        unit = user_units.get(user_id) if user_id is not None else f"v{visitor_id}"
        exposure = exposures.get(unit)
        if exposure is None or at < exposure.first_seen:
            continue
        if kind == InteractionKind.ADD_TO_CART:
            exposure.add_to_carts += 1
        else:
            exposure.purchases += 1
            exposure.revenue += price or Decimal(0)
    for credit in credits_between(start, end):
        if credit.experiment_id != experiment.pk or not credit.attributed:
            continue
        exposure = exposures.get(credit.shopper)  # already the unit (selectors.attribution.logged_between)
        if exposure is None:
            continue
        if credit.kind == InteractionKind.CLICK:
            exposure.clicks += 1
        elif credit.kind == InteractionKind.PURCHASE:
            exposure.attributed_revenue += Decimal(str(credit.price or 0))


def source_days_rollup(since) -> int:
    """Recompute SourceDay from ``since`` (a date) on: cards shown per day, experiment, arm, surface, row
    and source straight from the impressions (one grouped query over unnest), and the credits their
    events earned. Returns the rows written."""
    start = datetime.combine(since, time.min, tzinfo=UTC)
    table = Impression._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT (shown_at AT TIME ZONE 'UTC')::date, experiment_id, arm, surface, row, source, count(*)
                  FROM {table}, unnest(sources) AS source WHERE shown_at >= %s
                 GROUP BY 1, 2, 3, 4, 5, 6""",
            [start],
        )
        shown = cursor.fetchall()
    rows: dict[tuple, SourceDay] = {}
    for day, experiment_id, arm, surface, row, source, count in shown:
        rows[(day, experiment_id, arm, surface, row, source)] = SourceDay(
            day=day, experiment_id=experiment_id, arm=arm, surface=surface, row=row, source=source, cards_shown=count
        )
    for credit in credits_between(start, timezone.now()):
        at = credit.at.astimezone(UTC).date()
        key = (at, credit.experiment_id, credit.arm, credit.surface, credit.row, credit.source)
        item = rows.get(key)
        if item is None:
            item = rows[key] = SourceDay(day=at, experiment_id=credit.experiment_id, arm=credit.arm,
                                         surface=credit.surface, row=credit.row, source=credit.source)  # fmt: skip
        if not credit.attributed:
            item.influenced_purchases += credit.kind == InteractionKind.PURCHASE
        elif credit.kind == InteractionKind.CLICK:
            item.clicks += 1
        elif credit.kind == InteractionKind.ADD_TO_CART:
            item.add_to_carts += 1
        elif credit.kind == InteractionKind.PURCHASE:
            item.purchases += 1
            item.revenue += Decimal(str(credit.price or 0))
    with transaction.atomic():
        SourceDay.objects.filter(day__gte=since).delete()
        SourceDay.objects.bulk_create(rows.values(), batch_size=2000)
    return len(rows)


def rollup(*, on_progress=lambda n: None) -> RollupSummary:
    """Every experiment running or ended within the influence window, the per-source days of that
    window, then the purge."""
    summary = RollupSummary()
    recent = timezone.now() - timedelta(days=settings.ATTRIBUTION_INFLUENCED_DAYS)
    for experiment in Experiment.objects.exclude(ends_at__lt=recent):
        summary.exposures += experiment_rollup(experiment)
        summary.experiments += 1
        if experiment.autopilot and experiment.is_running:
            autopilot_step(experiment)
        on_progress(1)
    summary.source_days = source_days_rollup(recent.date())
    keep = timezone.now() - timedelta(days=settings.IMPRESSIONS_KEEP_DAYS)
    # Not those of an experiment still rolled up: its exposures are recomputed from them whole.
    rolled = Experiment.objects.exclude(ends_at__lt=recent).values_list("pk", flat=True)
    summary.purged, _ = Impression.objects.filter(shown_at__lt=keep).exclude(experiment_id__in=rolled).delete()
    summary.orphans = orphans_purge()
    return summary


def orphans_purge(*, within=timedelta(days=1)) -> int:
    """Impressions of users deleted while their pages' impressions waited in a buffer (a second or so;
    longer if the database was away): Impression.user has no database constraint to refuse them, and
    deleting the user removed only those already written."""
    users = get_user_model().objects.filter(pk=OuterRef("user_id"))
    orphans = Impression.objects.filter(shown_at__gte=timezone.now() - within, user_id__isnull=False)
    deleted, _ = orphans.filter(~Exists(users)).delete()
    return deleted
