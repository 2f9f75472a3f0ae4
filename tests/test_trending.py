"""Trending, known answers: the stored scores (SQL) and the evaluation's mirror (Python) agree."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from recommendations.evaluation.data import events_load
from recommendations.evaluation.fitting import trending_at
from recommendations.models import Interaction, TrendingScore
from recommendations.services.trending import trending_refresh
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _every_day_full(settings):
    """The known answers below count one or two shoppers a day; a day counts fully from one."""
    settings.TRENDING_DAYS, settings.TRENDING_FULL_DAY_SHOPPERS = 7, 1


def test_each_event_counts_its_weight_over_one_plus_its_days_rank():
    today, bought_3_days_ago, too_old, viewed = ProductFactory.create_batch(4)
    user = get_user_model().objects.create_user("t")
    now = timezone.now().replace(hour=12)
    if now > timezone.now():  # before noon UTC: noon today is in the future, and the future is ignored
        now -= timedelta(days=1)
    for product, kind, days in ((today, "purchase", 0), (bought_3_days_ago, "purchase", 3),
                                (too_old, "purchase", 7), (viewed, "view", 0)):  # fmt: skip
        Interaction.objects.create(user=user, product=product, kind=kind, created_at=now - timedelta(days=days))
    # Every day between has events (a live shop), so a day's rank is its age.
    filler = ProductFactory()
    for days in (1, 2, 4, 5, 6):
        Interaction.objects.create(user=user, product=filler, kind="view", created_at=now - timedelta(days=days))
    # The same shopper buying it twice more that day is still one sale; another shopper is another.
    for minutes in (5, 10):
        Interaction.objects.create(
            user=user, product=today, kind="purchase", created_at=now - timedelta(minutes=minutes)
        )
    other = get_user_model().objects.create_user("o")
    Interaction.objects.create(
        user=other, product=bought_3_days_ago, kind="purchase", created_at=now - timedelta(days=3)
    )
    assert trending_refresh() == 4
    stored = dict(TrendingScore.objects.values_list("product_id", "score"))
    assert stored[today.pk] == 8.0 and stored[viewed.pk] == 1.0 and too_old.pk not in stored
    assert stored[bought_3_days_ago.pk] == 4.0  # 2 shoppers x 8 / (1 + 3)
    assert stored[filler.pk] == pytest.approx(1 / 2 + 1 / 3 + 1 / 5 + 1 / 6 + 1 / 7)
    mirrored = {c.product_id: pytest.approx(c.score) for c in trending_at(events_load())}
    assert mirrored == stored


def test_days_without_events_are_skipped_so_live_clicks_after_a_replayed_log_keep_its_trend():
    """The H&M purchases end in 2020: the window is the newest days *with events*, so a click today
    is one day of it and 2020's last day the next, not 2,000 days too old."""
    bought, clicked = ProductFactory.create_batch(2)
    user = get_user_model().objects.create_user("r")
    long_ago = timezone.now() - timedelta(days=2000)
    Interaction.objects.create(user=user, product=bought, kind="purchase", created_at=long_ago)
    Interaction.objects.create(user=user, product=clicked, kind="view", created_at=timezone.now())
    assert trending_refresh() == 2
    assert dict(TrendingScore.objects.values_list("product_id", "score")) == {bought.pk: 4.0, clicked.pk: 1.0}
    assert {c.product_id: c.score for c in trending_at(events_load())} == {bought.pk: 4.0, clicked.pk: 1.0}


def test_a_few_fresh_events_after_a_quiet_spell_do_not_decide_the_row(settings):
    """Issue 40: in the demo, one live purchase moved the window from the imported 2020 log to today,
    and two purchases then owned "Trending now". A day weighs its counted shoppers over
    TRENDING_FULL_DAY_SHOPPERS: two shoppers today are a tenth of a day."""
    settings.TRENDING_FULL_DAY_SHOPPERS = 20
    best_seller, fresh = ProductFactory.create_batch(2)
    users = [get_user_model().objects.create_user(f"b{n}") for n in range(22)]
    long_ago = timezone.now() - timedelta(days=800)
    for user in users[:20]:
        Interaction.objects.create(user=user, product=best_seller, kind="purchase", created_at=long_ago)
    for user in users[20:]:
        Interaction.objects.create(user=user, product=fresh, kind="purchase", created_at=timezone.now())
    trending_refresh()
    ranked = list(TrendingScore.objects.order_by("-score").values_list("product_id", "score"))
    assert ranked == [(best_seller.pk, pytest.approx(20 * 8 / 2)), (fresh.pk, pytest.approx(2 * 8 * 2 / 20))]
    assert [(c.product_id, pytest.approx(c.score)) for c in trending_at(events_load())] == ranked


def test_the_window_is_whole_days_to_the_second_at_both_ends():
    """The window is read as a range of created_at (so its index serves it): the first second of its
    first day counts, the last second of the day before does not; the evaluation's mirror agrees."""
    first_second, last_second_before, newest = ProductFactory.create_batch(3)
    user = get_user_model().objects.create_user("w")
    day = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=10)
    start = day - timedelta(days=6)  # the window: the newest day and the 6 days before, each with events
    filler = ProductFactory()
    for days in range(1, 6):
        Interaction.objects.create(user=user, product=filler, kind="view", created_at=day - timedelta(days=days))
    for product, at in ((first_second, start), (last_second_before, start - timedelta(seconds=1)),
                        (newest, day + timedelta(hours=23, minutes=59, seconds=59))):  # fmt: skip
        Interaction.objects.create(user=user, product=product, kind="purchase", created_at=at)
    assert trending_refresh() == 3
    stored = dict(TrendingScore.objects.values_list("product_id", "score"))
    assert stored[first_second.pk] == pytest.approx(8 / 7) and stored[newest.pk] == 8.0
    assert last_second_before.pk not in stored
    assert {c.product_id: pytest.approx(c.score) for c in trending_at(events_load())} == stored
