"""Anonymous shoppers: ids issued and signed by the server, rows written only on the first write.

A visitor id travels as a signed token (``<uuid>:<signature>``, Django's Signer with SECRET_KEY) in
the ``visitor_id`` cookie or the ``X-Visitor-Id`` header. A token the server did not sign is ignored
and a fresh one issued, so no client can choose an id or write into another visitor's history. A
page view creates no row: bots that never act leave no trace; the row appears with the first event
or preference. A visitor that was merged into a user on sign-in is never handed to an anonymous
request again: after sign-out the browser starts as a new visitor.
"""

import ipaddress
import time
import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.core.cache import cache
from django.db import router
from redis.exceptions import RedisError

from common.compiled import CompiledQuery
from recommendations.models import Visitor

_SIGNER = signing.Signer(salt="storefront.visitor")
_FIELDS = [field.attname for field in Visitor._meta.concrete_fields]
# Read on nearly every request: compiled once per process (common.compiled).
_VISITOR = CompiledQuery(
    lambda pk: Visitor.objects.filter(pk=pk).values_list(*_FIELDS), pk=uuid.UUID("00000000-7340-4033-8000-000000000001")
)


def _visitor_get(pk: uuid.UUID) -> Visitor | None:
    using = router.db_for_read(Visitor)
    rows = _VISITOR.rows(using, pk=pk)
    return Visitor.from_db(using, _FIELDS, rows[0]) if rows else None


def visitor_token(visitor: Visitor) -> str:
    return _SIGNER.sign(str(visitor.pk))


def visitor_from_token(*, token: str | None, user_id: int | None) -> tuple[Visitor, bool]:
    """The visitor a request's token names, or a fresh unsaved one; True when a new token is issued.

    A visitor that became a user's is only ever handed back to that user: never to an anonymous
    request (the browser of someone who signed out) nor to another user signing in on it."""
    try:
        key = uuid.UUID(_SIGNER.unsign(token)) if token else None
    except (signing.BadSignature, ValueError):
        key = None
    if key is None:
        return Visitor(), True
    visitor = _visitor_get(key)
    if visitor is None:
        return Visitor(pk=key), False  # issued earlier, nothing written yet
    if visitor.user_id is not None and visitor.user_id != user_id:
        return Visitor(), True  # someone else's browser history stays theirs
    return visitor, False


def visitor_persist(visitor: Visitor) -> Visitor:
    """Write the visitor's row if it has none yet (the first event or preference); safe to race.

    A visitor whose address (``visitor.address``, set by the request's middleware) already started
    VISITORS_PER_ADDRESS_PER_DAY visitors today is written as not counting in shared lists."""
    if visitor._state.adding:
        visitor.counts_in_shared = _address_within_cap(visitor.address)
        # One INSERT ... ON CONFLICT DO NOTHING: two first events at once both succeed.
        Visitor.objects.bulk_create(
            [Visitor(pk=visitor.pk, counts_in_shared=visitor.counts_in_shared)], ignore_conflicts=True
        )
        visitor._state.adding = False
    return visitor


def _address_within_cap(address: str | None) -> bool:
    """Counts one more new visitor for ``address`` today (UTC), in the shared cache; True while within
    VISITORS_PER_ADDRESS_PER_DAY. A day, as trending counts a shopper once a day; an IPv6 address counts
    for its /64, which one client usually holds whole. No address (a job, a test) counts; so does every
    visitor while Redis is down (fail open, as the API's throttles: an outage must not stop logging)."""
    if not address:
        return True
    key = f"new-visitors:{_network(address)}:{int(time.time() // 86_400)}"
    try:
        cache.add(key, 0, 86_400 + 60)
        return cache.incr(key) <= settings.VISITORS_PER_ADDRESS_PER_DAY
    except (RedisError, OSError, ValueError):
        return True


def _network(address: str) -> str:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    return str(ipaddress.ip_network(f"{parsed}/64", strict=False)) if parsed.version == 6 else str(parsed)


def event_owner(*, user: AbstractBaseUser | None, visitor: Visitor | None) -> dict:
    """Who an event belongs to: a signed-in shopper's events are the user's alone, so an anonymous
    history (the visitor's) only ever holds anonymous events."""
    if user is not None and user.is_authenticated:
        return {"user": user, "visitor": None}
    if visitor is None:
        raise ValueError("An anonymous event needs a visitor.")
    return {"user": None, "visitor": visitor_persist(visitor)}


def visitor_gender_set(*, visitor: Visitor, gender: str) -> None:
    """The shopper says whom they shop for; "" clears the choice (then it is inferred)."""
    visitor_persist(visitor)
    Visitor.objects.filter(pk=visitor.pk).update(gender_preference=gender)
    visitor.gender_preference = gender
