"""Autopilot experiments (issue 43): Thompson sampling over the non-control arms on known logs, the
control's share kept, the stop rule, each shopper's first arm kept (in the real Redis) while the shares
move, and the results page's charts."""

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from experiments.models import Arm, Experiment, Exposure
from experiments.selectors import assignment
from experiments.services.autopilot import autopilot_plan, autopilot_step
from experiments.services.rollup import rollup
from recommendations.selectors.homepage import Strategy


@pytest.fixture
def autopilot(settings):
    settings.AUTOPILOT_MIN_SHOPPERS, settings.AUTOPILOT_STOP_P = 100, 0.95
    made = Experiment.objects.create(
        name="Autopilot", surfaces=["home"], starts_at=timezone.now() - timedelta(minutes=1), autopilot=True
    )
    Arm.objects.create(experiment=made, key="holdout", strategy=Strategy.HOLDOUT, share=34, is_control=True)
    Arm.objects.create(experiment=made, key="trending", strategy=Strategy.TRENDING, share=33)
    Arm.objects.create(experiment=made, key="served", strategy=Strategy.SERVED, share=33)
    assignment.forget_running()
    yield made
    assignment.forget_running()


def _shoppers(experiment: Experiment, arm: str, shoppers: int, buyers: int, start: int = 0) -> None:
    Exposure.objects.bulk_create(
        Exposure(experiment=experiment, arm=arm, shopper=f"v{arm}{start + n}", first_seen=timezone.now(),
                 purchases=int(n < buyers), revenue=20 if n < buyers else 0)
        for n in range(shoppers)
    )  # fmt: skip


@pytest.mark.django_db
def test_the_planned_shares_hold_until_every_arm_has_enough_shoppers(autopilot):
    _shoppers(autopilot, "holdout", 500, 10)
    _shoppers(autopilot, "trending", 500, 10)
    _shoppers(autopilot, "served", 99, 90)  # one short of the minimum, however well it converts
    step = autopilot_plan(autopilot)
    assert step.shares == {"holdout": 34.0, "trending": 33.0, "served": 33.0} and not step.concluded


@pytest.mark.django_db
def test_the_arm_more_likely_best_gets_more_traffic_and_the_control_keeps_its_share(autopilot):
    _shoppers(autopilot, "holdout", 300, 3)
    _shoppers(autopilot, "trending", 300, 30)  # 10%
    _shoppers(autopilot, "served", 300, 36)  # 12%: likelier best, far from certain
    step = autopilot_plan(autopilot)
    assert step.shares["holdout"] == 10.0  # the control's guaranteed share, however badly it does
    assert sum(step.shares.values()) == pytest.approx(100.0)
    assert step.shares["served"] > step.shares["trending"] > 0 and not step.concluded
    # Probability matching: served's share of the non-control traffic is its probability of being best.
    assert step.shares["served"] / 90 == pytest.approx(step.best["served"], abs=1e-9)
    assert 0.6 < step.best["served"] < 0.95


@pytest.mark.django_db
def test_the_stop_rule_gives_the_winner_the_rest_and_the_shares_stop_moving(autopilot):
    _shoppers(autopilot, "holdout", 300, 3)
    _shoppers(autopilot, "trending", 300, 15)
    _shoppers(autopilot, "served", 300, 60)
    step = autopilot_step(autopilot)
    assert step.shares == {"holdout": 10.0, "trending": 0.0, "served": 90.0}
    assert autopilot.concluded.startswith("served is the best")
    _shoppers(autopilot, "trending", 3000, 2900, start=300)  # whatever comes next, the verdict stands
    autopilot.refresh_from_db()
    assert autopilot_step(autopilot).shares == {"holdout": 10.0, "trending": 0.0, "served": 90.0}
    assert len(autopilot.autopilot_log) == 1


@pytest.mark.django_db
def test_on_revenue_the_arm_that_earns_more_per_shopper_wins(autopilot):
    autopilot.autopilot_metric = "revenue"
    autopilot.save()
    _shoppers(autopilot, "holdout", 300, 30)
    _shoppers(autopilot, "trending", 300, 30)
    Exposure.objects.bulk_create(
        Exposure(experiment=autopilot, arm="served", shopper=f"vs{n}", first_seen=timezone.now(),
                 purchases=int(n < 30), revenue=60 if n < 30 else 0)  # as many buyers, thrice the spend
        for n in range(300)
    )  # fmt: skip
    step = autopilot_plan(autopilot)
    assert step.best["served"] > 0.95 and step.shares["served"] == 90.0


@pytest.mark.django_db
def test_on_a_simulated_stream_most_non_control_traffic_reaches_the_best_arm_in_the_first_half(autopilot):
    """A known answer: shoppers arrive in batches of 400, each arm converting at a fixed true rate
    (served 9%, trending 6%); each batch is drawn with the shares the previous steps set. By the end of
    the first half most non-control shoppers are in the best arm, and the control keeps 10% after the
    warm-up."""
    rng = np.random.default_rng(3)
    rates = {"holdout": 0.04, "trending": 0.06, "served": 0.09}
    shares = {"holdout": 34.0, "trending": 33.0, "served": 33.0}
    placed = []
    for batch in range(20):
        keys = list(shares)
        arms = rng.choice(keys, size=400, p=np.array([shares[k] for k in keys]) / sum(shares.values()))
        rows = [Exposure(experiment=autopilot, arm=arm, shopper=f"v{batch}-{n}", first_seen=timezone.now(),
                         purchases=int(rng.random() < rates[arm])) for n, arm in enumerate(arms)]  # fmt: skip
        Exposure.objects.bulk_create(rows)
        placed.append(list(arms))
        autopilot.refresh_from_db()
        shares = autopilot_step(autopilot).shares
        if batch >= 2:
            assert shares["holdout"] == 10.0
    first_half = [arm for batch in placed[:10] for arm in batch if arm != "holdout"]
    later = [arm for batch in placed[5:10] for arm in batch if arm != "holdout"]
    assert first_half.count("served") / len(first_half) > 0.6
    assert later.count("served") / len(later) > 0.7


@pytest.mark.django_db
def test_a_shopper_keeps_their_first_arm_when_the_shares_move(autopilot):
    units = [f"v{n:05d}" for n in range(3000)]
    first = {u: assignment.arm_for(surface="home", user_id=None, visitor_id=u[1:]).arm for u in units}
    assert set(first.values()) == {"holdout", "trending", "served"}
    Experiment.objects.filter(pk=autopilot.pk).update(allocation={"holdout": 10.0, "trending": 0.0, "served": 90.0})
    assignment.forget_running()
    again = {u: assignment.arm_for(surface="home", user_id=None, visitor_id=u[1:]).arm for u in units}
    assert again == first  # kept in Redis: no one moved, though the hash is now cut otherwise
    newcomers = [assignment.arm_for(surface="home", user_id=None, visitor_id=f"{n:05d}x").arm for n in range(2000)]
    assert "trending" not in newcomers and 0.07 < newcomers.count("holdout") / 2000 < 0.13


@pytest.mark.django_db
def test_with_redis_failing_a_page_still_gets_an_arm_by_the_hash(autopilot, monkeypatch):
    from django.core.cache import cache

    def failing(*args, **kwargs):  # a fake only to simulate the fault
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(cache, "get", failing)
    choice = assignment.arm_for(surface="home", user_id=None, visitor_id="abc")
    expected = assignment.arm_among(
        assignment.running_experiments()[0].arms, assignment.bucket(autopilot.salt, "vabc")
    )[0]
    assert choice.arm == expected


@pytest.mark.django_db
def test_the_periodic_rollup_steps_a_running_autopilot_and_the_results_page_charts_it(autopilot, admin_client):
    rollup()
    autopilot.refresh_from_db()
    assert len(autopilot.autopilot_log) == 1  # no shoppers yet: the planned shares, logged
    assert autopilot.allocation == {"holdout": 34.0, "trending": 33.0, "served": 33.0}
    page = admin_client.get(f"/admin/experiments/experiment/{autopilot.pk}/change/").content.decode()
    assert "Autopilot (Conversion" in page and 'aria-label="share of new shoppers (%) by shoppers seen"' in page
    assert "srm-warning" not in page  # an autopilot's moving shares are not a mismatch
