"""Server errors as a client can use them: JSON under /api/ always, and 503 (retry later) when
PostgreSQL is unreachable, where Django would answer an HTML 500 to every request."""

import sys

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

RETRY_AFTER_S = "30"
_OUTAGE = (OperationalError, InterfaceError)  # the server is down or the connection broke


def _outage() -> bool:
    error = sys.exc_info()[1]
    return isinstance(error, _OUTAGE) or (isinstance(error, DatabaseError) and "connection" in str(error).lower())


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: Django calls it while the exception is being handled, so sys.exc_info() has it."""
    outage = _outage()
    status = 503 if outage else 500
    if request.path.startswith("/api/"):
        detail = "The database is unreachable; retry later." if outage else "Server error."
        response = JsonResponse({"detail": detail}, status=status)
    else:  # no base template: it reads the session and the user, which need the database
        response = HttpResponse(render_to_string("storefront/error.html", {"outage": outage}), status=status)
    if outage:
        response["Retry-After"] = RETRY_AFTER_S
    return response
