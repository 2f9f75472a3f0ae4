"""Server errors as a client can use them: JSON under /api/ always, and 503 (retry later) when
PostgreSQL or Redis is unreachable, where Django would answer an HTML 500 to every request.

Most Redis uses fail open (the page cache, the API's throttles); the sign-in limits cannot (allauth
counts failed passwords in the cache, and an uncounted guess is a free guess), so while Redis is down
signing in answers this 503 rather than skipping the limit."""

import sys

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from redis.exceptions import RedisError

RETRY_AFTER_S = "30"
_OUTAGE = (OperationalError, InterfaceError, RedisError)  # a server is down or the connection broke


def _outage() -> bool:
    error = sys.exc_info()[1]
    return isinstance(error, _OUTAGE) or (isinstance(error, DatabaseError) and "connection" in str(error).lower())


def _what() -> str:
    return "The cache (Redis)" if isinstance(sys.exc_info()[1], RedisError) else "The database"


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: Django calls it while the exception is being handled, so sys.exc_info() has it."""
    outage = _outage()
    status = 503 if outage else 500
    if request.path.startswith("/api/"):
        detail = f"{_what()} is unreachable; retry later." if outage else "Server error."
        response = JsonResponse({"detail": detail}, status=status)
    else:  # no base template: it reads the session and the user, which need the database
        response = HttpResponse(render_to_string("storefront/error.html", {"outage": outage}), status=status)
    if outage:
        response["Retry-After"] = RETRY_AFTER_S
    return response


def not_found(request: HttpRequest, exception=None) -> HttpResponse:
    """handler404: JSON under /api/, else the store's own page (header, search) with a way on, where
    Django answered a bare "Not Found" to an unknown product or /api/docs/."""
    from django.shortcuts import render

    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return render(request, "storefront/not_found.html", status=404)
