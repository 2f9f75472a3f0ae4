"""Which arm of which experiment serves a shopper on a surface.

Sticky by a salted hash: the same unit always falls in the same arm of an experiment, with no table
written per shopper. The unit is the visitor (the browser's cookie) for an anonymous shopper, and for
a signed-in one the visitor they were at their first sign-in (ShopperUnit, written then and never
changed; a session older than it, or an app's token, fixes it at its first request): the arm they saw
before signing in is the one they see after, and on every device they sign in on.

An autopilot experiment (experiments.services.autopilot) changes its shares as results come in, and a
hash cut by new shares would move shoppers between arms. There each unit's first arm is kept in Redis
(``cache.add``: the first writer wins, every process reads the same) and only new units are drawn with
the current shares, still by the same hash. If Redis cannot answer, the unit is drawn by the hash with
the current shares and not kept: a page is never refused for it, and the roll-up counts a shopper in
the first arm their impressions show.

The running experiments are read once per EXPERIMENTS_CACHE_S in each process: starting or stopping
one reaches every page within that many seconds."""

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from experiments.models import Experiment, ShopperUnit
from recommendations.models import Visitor
from recommendations.selectors.homepage import Strategy

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ArmChoice:
    experiment_id: int
    arm: str
    strategy: Strategy


@dataclass(frozen=True, slots=True)
class _Running:
    experiment_id: int
    surfaces: frozenset[str]
    salt: str
    arms: tuple[tuple[str, Strategy, float], ...]  # (key, strategy, share) in a fixed order
    sticky_until: float | None = None  # autopilot: units' arms kept in Redis until this epoch second


_running: dict = {"until": 0.0, "items": ()}
_units: OrderedDict[int, str] = OrderedDict()  # user id -> their unit, per process
_lock = threading.Lock()


def running_experiments() -> tuple[_Running, ...]:
    now = time.monotonic()
    if now < _running["until"]:
        return _running["items"]
    moment = timezone.now()
    running = Experiment.objects.filter(
        Q(ends_at__isnull=True) | Q(ends_at__gt=moment), is_enabled=True, starts_at__lte=moment
    ).prefetch_related("arms")
    items = tuple(_running_of(e) for e in running)
    _running.update(items=items, until=now + settings.EXPERIMENTS_CACHE_S)
    return items


def _running_of(experiment: Experiment) -> _Running:
    shares = (experiment.allocation or {}) if experiment.autopilot else {}
    arms = tuple((a.key, Strategy(a.strategy), float(shares.get(a.key, a.share))) for a in experiment.arms.all())
    sticky = None
    if experiment.autopilot:  # kept a while past the end, for the roll-up's influence window
        end = experiment.ends_at or timezone.now() + timedelta(days=365)
        sticky = (end + timedelta(days=settings.ATTRIBUTION_INFLUENCED_DAYS)).timestamp()
    return _Running(experiment.pk, frozenset(experiment.surfaces), experiment.salt, arms, sticky)


def forget_running() -> None:
    """Read the experiments afresh on the next page (the admin calls it on a save in its own process)."""
    _running["until"] = 0.0


def unit_of(*, user_id: int | None, visitor_id) -> str:
    if user_id is None:
        return f"v{visitor_id}"
    with _lock:
        unit = _units.get(user_id)
    if unit is None:
        unit = ShopperUnit.objects.filter(user_id=user_id).values_list("unit", flat=True).first()
        if unit is None and visitor_id is None:
            return f"u{user_id}"  # the API with a token: their first sign-in on the web fixes it (unit_fix)
        if unit is None:
            # Signed in on the web with no unit yet: a session older than ShopperUnit, or one made
            # outside the login view. This request is their sign-in as far as assignment goes, so the
            # query above runs once per user, not on every page.
            unit = ShopperUnit.objects.get_or_create(user_id=user_id, defaults={"unit": f"v{visitor_id}"})[0].unit
        with _lock:
            _units[user_id] = unit  # fixed for ever once written: safe to keep
            while len(_units) > 100_000:
                _units.popitem(last=False)
    return unit


def bucket(salt: str, unit: str) -> float:
    """A stable draw in [0, 1) for this unit in this experiment."""
    digest = hashlib.blake2b(f"{salt}:{unit}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def arm_among(arms: tuple[tuple[str, Strategy, float], ...], draw: float) -> tuple[str, Strategy]:
    total = sum(share for _, _, share in arms)
    edge = 0.0
    for key, strategy, share in arms:
        edge += share / total
        if draw < edge:
            return key, strategy
    return arms[-1][0], arms[-1][1]


def arm_for(*, surface: str, user_id: int | None, visitor_id) -> ArmChoice | None:
    """The arm serving this shopper on this surface, or None (the store's own pages). One experiment per
    surface at a time: the newest running one that covers it."""
    for experiment in running_experiments():
        if surface in experiment.surfaces and experiment.arms:
            unit = unit_of(user_id=user_id, visitor_id=visitor_id)
            key, strategy = arm_among(experiment.arms, bucket(experiment.salt, unit))
            if experiment.sticky_until is not None:
                key, strategy = _kept_arm(experiment, unit, key, strategy)
            return ArmChoice(experiment.experiment_id, key, strategy)
    return None


def _kept_arm(experiment: _Running, unit: str, key: str, strategy: Strategy) -> tuple[str, Strategy]:
    """The unit's first arm in an autopilot experiment: kept in Redis, or ``key`` given now and kept."""
    name = f"experiments:{experiment.experiment_id}:arm:{unit}"
    try:
        kept = cache.get(name)
        if kept is None:
            timeout = max(60, int(experiment.sticky_until - time.time()))
            if cache.add(name, key, timeout):
                return key, strategy
            kept = cache.get(name)  # another process gave this unit its arm first
    except Exception:  # noqa: BLE001 - any Redis failure: serve the hash's arm rather than fail the page
        logger.warning("Autopilot arms cannot be kept in Redis now; serving by the hash", exc_info=True)
        return key, strategy
    for arm_key, arm_strategy, _ in experiment.arms:
        if arm_key == kept:
            return arm_key, arm_strategy
    return key, strategy


def units_of(*, user_ids: set[int], visitor_ids: set) -> tuple[dict[int, str], dict[str, str]]:
    """Every shopper's unit, in two queries: (user id -> unit, visitor id as text -> unit). A visitor that
    became a user's has the user's unit, so what a visitor was shown before signing in is theirs after."""
    owners = dict(Visitor.objects.filter(pk__in=visitor_ids, user_id__isnull=False).values_list("pk", "user_id"))
    wanted = set(user_ids) | set(owners.values())
    fixed = dict(ShopperUnit.objects.filter(user_id__in=wanted).values_list("user_id", "unit"))
    users = {user_id: fixed.get(user_id, f"u{user_id}") for user_id in wanted}
    visitors = {str(v): users[owners[v]] if v in owners else f"v{v}" for v in visitor_ids}
    return users, visitors
