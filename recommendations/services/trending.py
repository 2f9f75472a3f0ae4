"""Trending products: weighted interactions over a recent window, materialised in TrendingScore."""

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction

from recommendations.models import Interaction, InteractionKind, TrendingScore

KEEP = 1000


@transaction.atomic
def trending_refresh() -> int:
    """Rebuild TrendingScore from the log; returns how many products are trending.

    Each interaction of the last TRENDING_DAYS counts its kind's weight divided by 1 + its age in
    whole days: on the H&M week, yesterday's sales predict tomorrow's best, and this decayed
    popularity beat the former flat 14-day count for new shoppers (MAP@12 0.0074 against 0.0066).
    A shopper counts once per product, kind and day: five of one product in one basket are one
    sale, which ranks what many people buy above what a few buy in bulk (0.0077 against 0.0074).
    The window ends at the newest purchase rather than now, so a replayed historical log (the H&M
    purchases end in 2020), even with a few live clicks after it, still has a trend; on a live
    shop the two are the same.
    """
    # The window ends at the newest purchase (the newest event in a shop without any yet).
    # Newest first along the created_at index, so neither reads the whole log (10M events: seconds).
    newest_first = Interaction.objects.order_by("-created_at").values_list("created_at", flat=True)
    newest = newest_first.filter(kind=InteractionKind.PURCHASE).first() or newest_first.first()
    TrendingScore.objects.all().delete()
    if newest is None:
        return 0
    weights = settings.RECOMMENDER_KIND_WEIGHTS
    cases = " ".join(f"WHEN %s THEN {float(weight)}" for weight in weights.values())
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO recommendations_trendingscore (product_id, score, computed_at)
            SELECT product_id,
                   SUM((CASE kind {cases} ELSE 0 END) / (1 + (%s::date - day))), now()
              FROM (SELECT DISTINCT product_id, kind, created_at::date AS day,
                           COALESCE('u' || user_id::text, 'v' || visitor_id::text) AS shopper
                      FROM recommendations_interaction
                     -- The window's days as a range of created_at (days in the session's time zone,
                     -- as ::date reads them), which its index serves; created_at::date read every event.
                     WHERE created_at >= (%s::date + 1)::timestamptz
                       AND created_at < (%s::date + 1)::timestamptz) AS once_a_day
             GROUP BY product_id
             ORDER BY 2 DESC
             LIMIT %s
            """,
            [*weights.keys(), newest, newest - timedelta(days=settings.TRENDING_DAYS), newest, KEEP],
        )
        return cursor.rowcount
