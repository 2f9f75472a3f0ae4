"""Reads from PostgreSQL streaming replicas, writes to the primary (DATABASE_REPLICA_URLS; off unless set).

With no replica configured none of this is installed (settings add the router and the middleware only
when DATABASE_REPLICAS names an alias), so a one-box store runs exactly as before.

With replicas, the heavy reads (candidate lists, the HNSW searches behind "Looks similar", catalog and
category pages, the evaluation's loads) go to a replica, and these go to the primary:

- every write (``db_for_write``), and every read after a write in the same request, task or command
  (the write pins this thread, as django-multidb-router's pinning does), and every read inside a
  transaction opened on the primary (it must see its own uncommitted rows);
- in a web request, the shopper's own data, whatever the request did before: their history (a
  replica a second behind would not yet hold the view they just made, and their next page must
  change), their visitor, session, account and tokens (DATABASE_PRIMARY_READS);
- for DATABASE_REPLICA_PIN_S after a request that may write (POST, PUT, PATCH, DELETE), the same
  browser's requests entirely: a cookie pins them, so staff see the product they just saved;
- Celery tasks: a task is queued as its transaction commits on the primary, and a replica may not
  hold that commit yet when the task starts (an embedding task would find no product and return).

Raw SQL through ``django.db.connection`` always runs on the primary (the router is never asked):
the serving state (the history's count and newest id, the serving values) and the event inserts. So
do the reads a process keeps under the serving values (which products pass the hard filters, their
facts, product cards): kept under values read on the primary, a lagging replica's older rows would
stand until the next change. They are few once kept.
"""

import random
import threading

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, HttpResponse

PIN_COOKIE = "primary_pin"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

_state = threading.local()


def pin_to_primary() -> None:
    """From now on this thread (until its request or task ends) reads from the primary."""
    _state.pinned = True


def pinned_to_primary() -> bool:
    return getattr(_state, "pinned", False)


def _begin(*, serving: bool, pinned: bool) -> None:
    _state.serving, _state.pinned = serving, pinned


def _end() -> None:
    _state.serving, _state.pinned = False, False


def _primary_models() -> frozenset[str]:
    """DATABASE_PRIMARY_READS as a set: app labels ("auth") and app_label.model ("recommendations.interaction")."""
    return frozenset(name.lower() for name in settings.DATABASE_PRIMARY_READS)


class ReplicaRouter:
    """DATABASE_ROUTERS entry: see the module's docstring for which reads leave the primary."""

    def db_for_read(self, model, **hints) -> str:
        replicas = settings.DATABASE_REPLICAS
        if not replicas or pinned_to_primary() or connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS
        if getattr(_state, "serving", False):
            primary = _primary_models()
            if model._meta.app_label in primary or model._meta.label_lower in primary:
                return DEFAULT_DB_ALIAS
        return random.choice(replicas)

    def db_for_write(self, model, **hints) -> str:
        pin_to_primary()
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        return True  # every alias holds the same rows

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints) -> bool:
        return db == DEFAULT_DB_ALIAS  # replicas receive the schema through replication


class ReplicaPinMiddleware:
    """Marks a thread as serving a request (the shopper's own data is then read from the primary),
    pins requests that may write and those of a browser that wrote moments ago, and unpins the
    thread when the request ends. The cookie is not signed: a client that forges it only moves its
    own reads to the primary."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        writes = request.method not in SAFE_METHODS
        _begin(serving=True, pinned=writes or PIN_COOKIE in request.COOKIES)
        try:
            response = self.get_response(request)
        finally:
            _end()
        if writes and settings.DATABASE_REPLICA_PIN_S > 0:
            response.set_cookie(
                PIN_COOKIE, "1", max_age=settings.DATABASE_REPLICA_PIN_S,
                httponly=True, samesite="Lax", secure=request.is_secure(),
            )  # fmt: skip
        return response


def pin_tasks() -> None:
    """Connect Celery's task signals: each task reads from the primary, and leaves its thread unpinned."""
    from celery.signals import task_postrun, task_prerun

    task_prerun.connect(_task_started, dispatch_uid="storefront.replicas.task_prerun", weak=False)
    task_postrun.connect(_task_ended, dispatch_uid="storefront.replicas.task_postrun", weak=False)


def _task_started(**kwargs) -> None:
    _begin(serving=False, pinned=True)


def _task_ended(**kwargs) -> None:
    _end()
