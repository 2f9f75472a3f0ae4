from allauth.account.adapter import get_adapter
from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.functional import SimpleLazyObject

from recommendations.services.visitors import visitor_from_token, visitor_token
from storefront.accounts import KNOWN_DEVICE_COOKIE, KNOWN_DEVICE_MAX_AGE_S, known_device_cookie

COOKIE = "visitor_id"
SCHEMA_PATHS = ("/api/v1/schema/",)
HEADER = "X-Visitor-Id"


class VisitorMiddleware:
    """Gives every shopper a visitor, looked up only when a page needs it: a signed token in a
    long-lived cookie for browsers, in the X-Visitor-Id header (sent and returned) for mobile
    clients. Tokens are issued by the server only (see recommendations.services.visitors)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        state = {}
        given = request.headers.get(HEADER) or request.COOKIES.get(COOKIE)

        def load():
            user_id = request.user.pk if request.user.is_authenticated else None
            visitor, issued = visitor_from_token(token=given, user_id=user_id)
            if visitor._state.adding:  # its row may be written by this request: count it per address
                visitor.address = get_adapter(request).get_client_ip(request)
            state["visitor"], state["issued"] = visitor, issued
            return visitor

        request.visitor = SimpleLazyObject(load)
        response = self.get_response(request)
        if "visitor" in state or request.user.is_authenticated or request.path.startswith(SCHEMA_PATHS):
            # (The API's schema differs for staff: it shows them the staff-only writes.)
            # A page made for this shopper: no shared cache in front may keep it, or serve it to another.
            patch_cache_control(response, private=True)
            patch_vary_headers(response, ("Cookie", HEADER, "Authorization"))
        if account := getattr(request, "known_device", ""):  # a sign-in: this browser is the owner's
            response.set_cookie(
                KNOWN_DEVICE_COOKIE, known_device_cookie(account), max_age=KNOWN_DEVICE_MAX_AGE_S,
                httponly=True, samesite="Lax", secure=request.is_secure(),
            )  # fmt: skip
        if getattr(request, "visitor_ended", False):  # signed out: the next request starts afresh
            response.delete_cookie(COOKIE, samesite="Lax")
        elif "visitor" in state:
            token = visitor_token(state["visitor"])
            response[HEADER] = token
            if state["issued"]:
                response.set_cookie(
                    COOKIE, token, max_age=settings.VISITOR_COOKIE_AGE_S,
                    httponly=True, samesite="Lax", secure=request.is_secure(),
                )  # fmt: skip
        return response


class RequestSizeLimitMiddleware:
    """Refuses a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE from its Content-Length, before a
    byte of it is read (a 30 MB upload was read whole before its 413). Put the same limit in front
    of the app too (nginx client_max_body_size; see docs/deployment.md)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if length > limit:
            message = f"The request is {length / 1024 / 1024:.1f} MB; the limit is {limit / 1024 / 1024:.1f} MB."
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": message}, status=413)
            return HttpResponse(message, status=413, content_type="text/plain")
        return self.get_response(request)


class NulByteMiddleware:
    """Refuses a query string with a NUL byte with a 400, for every page at once: PostgreSQL
    text cannot hold one, and the admin's list filters (``?gender__exact=%00``) answered 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if any("\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()):
            message = "The address holds a NUL byte (%00), which no page accepts."
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": message}, status=400)
            return HttpResponse(message, status=400, content_type="text/plain")
        return self.get_response(request)
