"""DRF's rate limits, counted in the shared Redis cache, and failing open when Redis is down.

Counting in Redis makes the limit one limit for the whole site, not one per gunicorn worker. If
Redis is unreachable the API keeps serving (unthrottled, with a warning in the log): refusing every
request because the rate limiter is down would turn a Redis outage into an API outage.
"""

import logging

from redis.exceptions import RedisError
from rest_framework import throttling

logger = logging.getLogger(__name__)


class _FailOpen:
    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except (RedisError, OSError) as exc:
            logger.warning("Rate limiting skipped, the cache is unreachable: %s", exc)
            return True


class AnonRateThrottle(_FailOpen, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(_FailOpen, throttling.UserRateThrottle):
    pass


class AuthTokenThrottle(_FailOpen, throttling.SimpleRateThrottle):
    """POST /api/v1/auth/token/: every attempt counts, per client address (API_THROTTLE_AUTH_TOKEN)."""

    scope = "auth_token"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
