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


def test_each_event_counts_its_weight_over_one_plus_its_age_in_days(settings):
    settings.TRENDING_DAYS = 7
    today, bought_3_days_ago, too_old, viewed = ProductFactory.create_batch(4)
    user = get_user_model().objects.create_user("t")
    now = timezone.now().replace(hour=12)
    for product, kind, days in ((today, "purchase", 0), (bought_3_days_ago, "purchase", 3),
                                (too_old, "purchase", 7), (viewed, "view", 0)):  # fmt: skip
        Interaction.objects.create(user=user, product=product, kind=kind, created_at=now - timedelta(days=days))
    # The same shopper buying it twice more that day is still one sale; another shopper is another.
    for minutes in (5, 10):
        Interaction.objects.create(
            user=user, product=today, kind="purchase", created_at=now - timedelta(minutes=minutes)
        )
    other = get_user_model().objects.create_user("o")
    Interaction.objects.create(
        user=other, product=bought_3_days_ago, kind="purchase", created_at=now - timedelta(days=3)
    )
    assert trending_refresh() == 3
    stored = dict(TrendingScore.objects.values_list("product_id", "score"))
    assert stored == {today.pk: 8.0, bought_3_days_ago.pk: 4.0, viewed.pk: 1.0}  # 2 shoppers x 8 / (1 + 3) = 4
    mirrored = {c.product_id: c.score for c in trending_at(events_load())}
    assert mirrored == stored


def test_the_window_ends_at_the_newest_purchase_so_live_clicks_after_a_replayed_log_keep_its_trend():
    bought, clicked = ProductFactory.create_batch(2)
    user = get_user_model().objects.create_user("r")
    long_ago = timezone.now() - timedelta(days=2000)  # the H&M purchases end in 2020
    Interaction.objects.create(user=user, product=bought, kind="purchase", created_at=long_ago)
    Interaction.objects.create(user=user, product=clicked, kind="view", created_at=timezone.now())
    assert trending_refresh() == 1
    assert dict(TrendingScore.objects.values_list("product_id", "score")) == {bought.pk: 8.0}
    assert {c.product_id: c.score for c in trending_at(events_load())} == {bought.pk: 8.0}


def test_the_window_is_whole_days_to_the_second_at_both_ends(settings):
    """The window is read as a range of created_at (so its index serves it): the first second of its
    first day counts, the last second of the day before does not, nor anything after the newest
    purchase's day; the evaluation's mirror agrees."""
    settings.TRENDING_DAYS = 7
    first_second, last_second_before, newest_day_end, newest = ProductFactory.create_batch(4)
    user = get_user_model().objects.create_user("w")
    day = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=10)
    start = day - timedelta(days=6)  # the window: the newest purchase's day and the 6 days before
    for product, at in ((first_second, start), (last_second_before, start - timedelta(seconds=1)),
                        (newest, day + timedelta(hours=12)), (newest_day_end, day + timedelta(hours=12))):  # fmt: skip
        Interaction.objects.create(user=user, product=product, kind="purchase", created_at=at)
    Interaction.objects.create(user=user, product=newest_day_end, kind="view", created_at=day + timedelta(days=1))
    assert trending_refresh() == 3
    stored = dict(TrendingScore.objects.values_list("product_id", "score"))
    assert stored == {first_second.pk: pytest.approx(8 / 7), newest.pk: 8.0, newest_day_end.pk: 8.0}
    assert {c.product_id: pytest.approx(c.score) for c in trending_at(events_load())} == stored
