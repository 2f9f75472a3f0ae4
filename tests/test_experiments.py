"""Experiments (issue 43): sticky assignment by a salted hash, arms that serve what they say, the
roll-up into per-shopper exposures, and the statistics the results page shows, on known answers."""

from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from experiments.models import Arm, Experiment, Exposure, Impression
from experiments.selectors import assignment
from experiments.selectors.results import (
    difference,
    experiment_results,
    sample_ratio_p,
    shoppers_needed,
    wilson,
)
from experiments.services import impressions
from experiments.services.rollup import experiment_rollup
from recommendations.models import TrendingScore, Visitor
from recommendations.selectors.homepage import Strategy
from tests.factories import ProductFactory


def test_assignment_is_sticky_and_follows_the_shares():
    arms = (("control", Strategy.SERVED, 10), ("ranker", Strategy.TRENDING, 90))
    units = [f"v{n}" for n in range(20_000)]
    first = [assignment.arm_among(arms, assignment.bucket("salt", unit))[0] for unit in units]
    again = [assignment.arm_among(arms, assignment.bucket("salt", unit))[0] for unit in units]
    assert first == again
    assert 0.09 < first.count("control") / len(units) < 0.11
    other = [assignment.arm_among(arms, assignment.bucket("pepper", unit))[0] for unit in units]
    assert first != other  # another experiment's salt splits the same shoppers independently


@pytest.mark.django_db
def test_a_shopper_keeps_their_arm_when_they_sign_in_and_on_another_device(rf):
    from django.contrib.auth.signals import user_logged_in

    user = get_user_model().objects.create_user("bo", password="x-long-password-1")
    phone = Visitor.objects.create()  # browsed first on a phone, never signed in there yet
    laptop = Visitor.objects.create()
    before = assignment.unit_of(user_id=None, visitor_id=laptop.pk)

    def sign_in(visitor):
        request = rf.get("/")
        request.visitor = visitor
        user_logged_in.send(sender=type(user), request=request, user=user)
        Visitor.objects.filter(pk=visitor.pk).update(user=user)

    sign_in(laptop)  # the first sign-in fixes the unit: the laptop's visitor
    assert assignment.unit_of(user_id=user.pk, visitor_id=laptop.pk) == before
    sign_in(phone)  # an older visitor signing in later changes nothing
    assert assignment.unit_of(user_id=user.pk, visitor_id=phone.pk) == before
    users, visitors = assignment.units_of(user_ids={user.pk}, visitor_ids={phone.pk, laptop.pk})
    assert users[user.pk] == visitors[str(phone.pk)] == visitors[str(laptop.pk)] == before


@pytest.mark.django_db
def test_a_signed_in_shopper_without_a_unit_gets_one_at_their_first_page_and_it_is_read_once(
    django_assert_num_queries,
):
    from experiments.models import ShopperUnit

    user = get_user_model().objects.create_user("old-session", password="x-long-password-1")
    first, other = Visitor.objects.create(), Visitor.objects.create()
    assert assignment.unit_of(user_id=user.pk, visitor_id=first.pk) == f"v{first.pk}"  # no sign-in signal ran
    assert ShopperUnit.objects.get(user=user).unit == f"v{first.pk}"
    with django_assert_num_queries(0):  # then read from this process's memory, whatever the device
        assert assignment.unit_of(user_id=user.pk, visitor_id=other.pk) == f"v{first.pk}"


def test_wilson_and_welch_on_known_answers():
    estimate = wilson(10, 100)
    assert estimate.value == 0.1 and estimate.low == pytest.approx(0.0552, abs=1e-4)
    assert estimate.high == pytest.approx(0.1744, abs=1e-4)
    arm, control = np.array([1.0] * 30 + [0.0] * 70), np.array([1.0] * 10 + [0.0] * 90)
    diff = difference(arm, control)
    assert diff.value == pytest.approx(0.2) and 0.08 < diff.low < 0.1 < 0.3 < diff.high < 0.32


def test_the_mismatch_check_fires_on_a_skewed_split_and_not_on_a_fair_one():
    rng = np.random.default_rng(1)
    fair = rng.binomial(1, 0.5, 4000)
    assert sample_ratio_p([int(fair.sum()), int(len(fair) - fair.sum())], [50, 50]) > 0.001
    skewed = rng.binomial(1, 0.6, 4000)  # served 60/40, planned 50/50
    assert sample_ratio_p([int(skewed.sum()), int(len(skewed) - skewed.sum())], [50, 50]) < 0.001


def test_the_planner_needs_more_shoppers_for_smaller_lifts():
    assert shoppers_needed(0.05, 0.10) > shoppers_needed(0.05, 0.20) > 0
    assert shoppers_needed(0.05, 0.10) == pytest.approx(31_200, rel=0.02)  # the textbook figure for 5% -> 5.5%


@pytest.fixture
def experiment(settings):
    settings.ROW_EXPLORATION_SLOTS, settings.PAGE_CACHE_VARIANTS = 0, 1
    for rank in range(8):
        TrendingScore.objects.create(product=ProductFactory(article_type=f"Type {rank}", price=10), score=10.0 - rank)
    made = Experiment.objects.create(name="Trending or nothing", surfaces=["home", "api"],
                                     starts_at=timezone.now() - timedelta(minutes=1))  # fmt: skip
    Arm.objects.create(experiment=made, key="trending", strategy=Strategy.TRENDING, share=50, is_control=True)
    Arm.objects.create(experiment=made, key="holdout", strategy=Strategy.HOLDOUT, share=50)
    assignment.forget_running()
    yield made
    assignment.forget_running()


@pytest.mark.django_db
def test_each_arm_serves_its_strategy_and_the_rollup_counts_what_each_shopper_did(experiment):
    from django.test import Client

    seen = {}
    for n in range(12):
        browser = Client()
        page = browser.get("/")
        keys = [row.key for row in page.context["rows"]]
        seen[n] = (browser, keys)
    arms = {tuple(keys) for _, keys in seen.values()}
    assert arms == {("home.trending",), ("home.new",)}  # both arms served, each its own page
    # One shopper of each arm clicks the first card and buys it.
    for wanted in (("home.trending",), ("home.new",)):
        browser, _ = next(value for value in seen.values() if tuple(value[1]) == wanted)
        html = browser.get("/").content.decode()
        link = html.split('class="card" href="')[1].split('"')[0].replace("&amp;", "&")
        product_id = int(link.split("/")[2])
        browser.get(link)
        browser.post(f"/cart/add/{product_id}/")
        browser.post("/cart/checkout/")
    impressions.buffer.flush()
    assert set(Impression.objects.values_list("experiment_id", flat=True)) == {experiment.pk}
    assert experiment_rollup(experiment) == 12
    rows = list(Exposure.objects.filter(experiment=experiment).values_list("arm", "clicks", "purchases", "revenue"))
    by_arm = {arm: [r for r in rows if r[0] == arm] for arm in ("trending", "holdout")}
    assert sum(len(v) for v in by_arm.values()) == 12 and all(by_arm.values())
    for arm_rows in by_arm.values():
        assert sorted((clicks, purchases, revenue) for _, clicks, purchases, revenue in arm_rows)[-1] == (
            1, 1, Decimal("10.00")
        )  # fmt: skip
    results = experiment_results(experiment)
    assert {arm.key: arm.shoppers for arm in results.arms} == {k: len(v) for k, v in by_arm.items()}
    assert all(arm.clicks == 1 for arm in results.arms)


def test_an_a_a_split_is_called_significant_about_one_time_in_twenty():
    """Shoppers all served alike (conversion 4%, revenue skewed as shops' is), split at random 400 times:
    the Welch intervals call 3% to 7% of the splits significant at 95%, as a sound test must."""
    from experiments.selectors.results import aa_false_positive_rate

    rng = np.random.default_rng(7)
    bought = rng.random(20_000) < 0.04
    revenue = np.where(bought, rng.lognormal(3.0, 0.8, 20_000), 0.0)
    assert 0.03 <= aa_false_positive_rate(bought.astype(float), reassignments=400, seed=1) <= 0.07
    assert 0.03 <= aa_false_positive_rate(revenue, reassignments=400, seed=2) <= 0.07


@pytest.mark.django_db
def test_deleting_a_user_deletes_what_their_visitors_were_shown_and_their_exposures(experiment, rf):
    from django.contrib.auth.signals import user_logged_in
    from django.test import Client

    browser = Client()
    browser.get("/")  # shown as an anonymous visitor
    impressions.buffer.flush()
    visitor_id = Impression.objects.get().visitor_id
    user = get_user_model().objects.create_user("di", password="x-long-password-1")
    visitor = Visitor.objects.create(pk=visitor_id, user=user)  # then signed in on that browser
    request = rf.get("/")
    request.visitor = visitor
    user_logged_in.send(sender=type(user), request=request, user=user)
    assert experiment_rollup(experiment) == 1
    user.delete()
    assert not Impression.objects.exists() and not Exposure.objects.exists()
    assert experiment_rollup(experiment) == 0
