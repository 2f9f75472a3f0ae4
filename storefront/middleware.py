from django.conf import settings
from django.utils.functional import SimpleLazyObject

from recommendations.services.interactions import visitor_get_or_create

COOKIE = "visitor_id"
HEADER = "X-Visitor-Id"


class VisitorMiddleware:
    """Gives every shopper a visitor id, created only when a page needs it: in a long-lived cookie
    for browsers, in the X-Visitor-Id header (sent and returned) for mobile clients."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        state = {}

        given = request.headers.get(HEADER) or request.COOKIES.get(COOKIE)

        def load():
            visitor, created = visitor_get_or_create(visitor_id=given)
            state["visitor"], state["created"] = visitor, created or given != str(visitor.id)
            return visitor

        request.visitor = SimpleLazyObject(load)
        response = self.get_response(request)
        if "visitor" in state:
            response[HEADER] = str(state["visitor"].id)
        if state.get("created"):
            response.set_cookie(
                COOKIE, str(state["visitor"].id), max_age=settings.VISITOR_COOKIE_AGE_S,
                httponly=True, samesite="Lax", secure=request.is_secure(),
            )  # fmt: skip
        return response
