"""The demo's "browse as an H&M customer": sign in as one of the listed imported customers.

On only in the demo's settings (DEMO_LOGIN_ENABLED); the URLs are not even routed elsewhere. Only
the customers the page lists can be signed in as: imported ones (no usable password, never staff)
with purchases. A person who registered with a password, or staff, can never be impersonated."""

from django.conf import settings
from django.contrib.auth import get_user_model, login, logout
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from recommendations.models import InteractionKind


def _enabled() -> None:
    if not settings.DEMO_LOGIN_ENABLED:
        raise Http404("The demo login is off.")


LISTED = 60


def demo_customers() -> QuerySet:
    """The imported customers the demo lists, most purchases first."""
    return (
        get_user_model()
        .objects.filter(is_staff=False, is_superuser=False, is_active=True)
        .filter(password__startswith=UNUSABLE_PASSWORD_PREFIX)  # imported: nobody can sign in as them otherwise
        .annotate(purchases=Count("interaction", filter=Q(interaction__kind=InteractionKind.PURCHASE)))
        .filter(purchases__gt=0)
        .order_by("-purchases", "pk")[:LISTED]
    )


def customers(request: HttpRequest) -> HttpResponse:
    _enabled()
    return render(request, "storefront/demo_customers.html", {"customers": demo_customers()})


@require_POST
def login_as(request: HttpRequest, pk: int) -> HttpResponse:
    _enabled()
    user = get_object_or_404(get_user_model(), pk__in=demo_customers().values("pk"), pk=pk)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect("home")


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    """Sign out and forget the browser's visitor: the next anonymous page starts a new history."""
    logout(request)
    request.visitor_ended = True  # VisitorMiddleware deletes the cookie
    return redirect("home")
