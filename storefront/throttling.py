"""DRF's rate limits, counted in the shared Redis cache, and failing open when Redis is down.

Counting in Redis makes the limit one limit for the whole site, not one per gunicorn worker. If
Redis is unreachable the API keeps serving (unthrottled, with a warning in the log): refusing every
request because the rate limiter is down would turn a Redis outage into an API outage.

Each limit is a fixed window counted with Redis's atomic INCR: one round trip per limit and
request, whatever the rate. DRF's own throttle keeps the time of every request in the window as one
cached list that each request reads and writes whole (two round trips, a list of thousands of
entries at a high rate such as a shop's apps behind one address), and two requests at once can both
read the same list and count once. A fixed window lets a client spend its limit at the end of one
window and again at the start of the next: at most twice the rate over a moment, never more.
"""

import logging

from allauth.account.adapter import get_adapter
from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError
from rest_framework import throttling

logger = logging.getLogger(__name__)


class _Counted:
    """allow_request and wait for DRF's SimpleRateThrottle subclasses, as a fixed-window counter."""

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        try:
            count = _increment(f"{self.key}:{self.duration}:{window}", self.duration)
        except (RedisError, OSError) as exc:
            logger.warning("Rate limiting skipped, the cache is unreachable: %s", exc)
            return True
        self.window_end = (window + 1) * self.duration
        return count <= self.num_requests

    def wait(self) -> float:
        """Seconds until the window ends (DRF's Retry-After)."""
        return max(self.window_end - self.now, 0.0)


def _increment(name: str, duration: int) -> int:
    """INCR on the cache's own Redis (its server, database and key prefix), with the window's expiry
    set in the same round trip; the key outlives its window by a second so a slow clock never
    meets an expired counter mid-window."""
    key = cache.make_and_validate_key(name)
    # Django's RedisCache keeps its client private; it has no atomic increment-with-expiry of its own.
    client = cache._cache.get_client(key, write=True)
    with client.pipeline() as pipe:
        pipe.incr(key)
        pipe.expire(key, duration + 1)
        count, _ = pipe.execute()
    return int(count)


class AnonRateThrottle(_Counted, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(_Counted, throttling.UserRateThrottle):
    pass


class AuthTokenThrottle(_Counted, throttling.SimpleRateThrottle):
    """POST /api/v1/auth/token/: every attempt counts, per client address (API_THROTTLE_AUTH_TOKEN)."""

    scope = "auth_token"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class PhotoSearchThrottle(_Counted, throttling.SimpleRateThrottle):
    """Search by photo, on the API (views whose throttle_scope is "photo_search") and on the store's
    page (storefront/photo_search.py) under one count: PHOTO_SEARCH_PER_MINUTE a minute per client
    address, signed in or not. Each search holds a worker for up to PHOTO_SEARCH_TIMEOUT_S."""

    scope = "photo_search"

    def get_rate(self) -> str:
        return f"{settings.PHOTO_SEARCH_PER_MINUTE}/min"

    def get_cache_key(self, request, view):
        if getattr(view, "throttle_scope", None) != self.scope:
            return None  # other views: not this limit
        return self.cache_format % {"scope": self.scope, "ident": get_adapter(request).get_client_ip(request)}
