"""Trending products: weighted interactions over the shop's most recent days, materialised in TrendingScore.

What may move this shared list, and how much (docs/how-it-works.md, "Who can move Trending now"):
- purchases come from the store's own checkout, an import, or a staff or service token (the events
  API refuses them from shoppers' clients), so a claimed sale needs a real order;
- a signed-in shopper, or an imported customer, counts once per product, kind and day;
- an anonymous visitor counts the same, but only while its address had not made more than
  VISITORS_PER_ADDRESS_PER_DAY new visitors that day (``Visitor.counts_in_shared``), and its views,
  clicks and add-to-carts only from TRENDING_VISITOR_MIN_AGE_S after its first event: a script that
  starts a new visitor with every request counts for nothing;
- the window is the TRENDING_DAYS newest days *that have events*, each day's weight divided by 1 + its
  rank (0 for the newest), and a day with fewer than TRENDING_FULL_DAY_SHOPPERS counted shoppers
  weighs that much less: two fresh events after a replayed or quiet log do not decide the row.
"""

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from recommendations.models import Interaction, PopularScore, TrendingScore

KEEP = 1000
POPULAR_KEEP = 5000


def trending_days(*, count: int, now: datetime) -> list[datetime]:
    """The starts (midnight, UTC) of the ``count`` newest days that have events up to ``now``, newest
    first. One index look-up per day along created_at (a loose index scan): never reads the whole log.
    An event stamped later than now (a client may send one up to a day ahead) never opens a day."""
    days: list[datetime] = []
    newest_first = (
        Interaction.objects.filter(created_at__lte=now).order_by("-created_at").values_list("created_at", flat=True)
    )
    before = None
    while len(days) < count:
        at = (newest_first.filter(created_at__lt=before) if before else newest_first).first()
        if at is None:
            break
        day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        days.append(day)
        before = day
    return days


@transaction.atomic
def trending_refresh() -> int:
    """Rebuild TrendingScore from the log; returns how many products are trending.

    Each counted event weighs its kind's weight / (1 + its day's rank among the window's days) x its
    day's strength (min(1, counted shoppers that day / TRENDING_FULL_DAY_SHOPPERS)). On a live shop every
    calendar day has events, so the rank is the age in days: on the H&M week, yesterday's sales predict
    tomorrow's best, and this decay beat a flat 14-day count for new shoppers (MAP@12 0.0074 against
    0.0066). A shopper counts once per product, kind and day: five of one product in one basket are one
    sale, which ranks what many people buy above what a few buy in bulk (0.0077 against 0.0074).
    """
    TrendingScore.objects.all().delete()
    now = timezone.now()
    _popular_refresh(now)
    days = trending_days(count=settings.TRENDING_DAYS, now=now)
    if not days:
        return 0
    weights = settings.RECOMMENDER_KIND_WEIGHTS
    dates = [day.date() for day in days]
    cases = " ".join(f"WHEN %s THEN {float(weight)}" for weight in weights.values())
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH counted AS (
                SELECT DISTINCT i.product_id, i.kind, (i.created_at AT TIME ZONE 'UTC')::date AS day,
                       COALESCE('u' || i.user_id::text, 'v' || i.visitor_id::text) AS shopper
                  FROM recommendations_interaction i
                  LEFT JOIN recommendations_visitor v ON v.id = i.visitor_id AND i.user_id IS NULL
                 WHERE i.created_at >= %s AND i.created_at < %s AND i.created_at <= %s
                   AND (i.user_id IS NOT NULL
                        OR (v.counts_in_shared
                            AND (i.kind = 'purchase' OR i.created_at >= v.created_at + %s * interval '1 second')))
            ), ranked_days AS (
                SELECT day, LEAST(1.0, count(DISTINCT shopper)::float / %s) AS strength
                  FROM counted GROUP BY day
            )
            INSERT INTO recommendations_trendingscore (product_id, score, computed_at)
            SELECT product_id, SUM((CASE kind {cases} ELSE 0 END) * d.strength / (1 + r.rank)), now()
              FROM counted
              JOIN ranked_days d USING (day)
              -- The rank among all the window's days, counted shoppers or not.
              JOIN (SELECT unnest(%s::date[]) AS day, generate_subscripts(%s::date[], 1) - 1 AS rank) r USING (day)
             GROUP BY product_id
             ORDER BY 2 DESC, product_id
             LIMIT %s
            """,
            [
                days[-1],
                days[0] + timedelta(days=1),
                now,
                settings.TRENDING_VISITOR_MIN_AGE_S,
                max(settings.TRENDING_FULL_DAY_SHOPPERS, 1),
                *weights.keys(),
                dates,
                dates,
                KEEP,
            ],  # fmt: skip
        )
        return cursor.rowcount


def _popular_refresh(now: datetime) -> None:
    """PopularScore: purchases over the POPULAR_DAYS newest days with events, one per shopper, product
    and day, with no decay: the best sellers a short row is topped up from. Counted purchases only
    (the checkout's, imports', staff and service tokens'), so no client can write this list either."""
    PopularScore.objects.all().delete()
    days = trending_days(count=settings.POPULAR_DAYS, now=now)
    if not days:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO recommendations_popularscore (product_id, score)
            SELECT product_id, count(*) FROM (
                SELECT DISTINCT product_id, (created_at AT TIME ZONE 'UTC')::date,
                       COALESCE('u' || user_id::text, 'v' || visitor_id::text)
                  FROM recommendations_interaction
                 WHERE kind = 'purchase' AND created_at >= %s AND created_at < %s AND created_at <= %s
            ) AS once_a_day
             GROUP BY product_id ORDER BY 2 DESC, product_id LIMIT %s
            """,
            [days[-1], days[0] + timedelta(days=1), now, POPULAR_KEEP],
        )
