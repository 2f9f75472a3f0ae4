from django.conf import settings
from django.utils.functional import SimpleLazyObject

from recommendations.services.interactions import visitor_get_or_create

COOKIE = "visitor_id"


class VisitorMiddleware:
    """Gives every shopper a visitor id in a long-lived cookie, created only when a page needs it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        state = {}

        def load():
            visitor, created = visitor_get_or_create(visitor_id=request.COOKIES.get(COOKIE))
            state["visitor"], state["created"] = visitor, created or request.COOKIES.get(COOKIE) != str(visitor.id)
            return visitor

        request.visitor = SimpleLazyObject(load)
        response = self.get_response(request)
        if state.get("created"):
            response.set_cookie(
                COOKIE, str(state["visitor"].id), max_age=settings.VISITOR_COOKIE_AGE_S,
                httponly=True, samesite="Lax", secure=request.is_secure(),
            )  # fmt: skip
        return response
