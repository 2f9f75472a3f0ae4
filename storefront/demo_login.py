"""The demo's "browse as an H&M customer": sign in as any imported customer. Off in production."""

from django.conf import settings
from django.contrib.auth import get_user_model, login, logout
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from recommendations.models import InteractionKind


def _enabled() -> None:
    if not settings.DEMO_LOGIN_ENABLED:
        raise Http404("The demo login is off.")


def customers(request: HttpRequest) -> HttpResponse:
    _enabled()
    people = (
        get_user_model()
        .objects.filter(is_staff=False)
        .annotate(purchases=Count("interaction", filter=Q(interaction__kind=InteractionKind.PURCHASE)))
        .filter(purchases__gt=0)
        .order_by("-purchases", "pk")[:60]
    )
    return render(request, "storefront/demo_customers.html", {"customers": people})


@require_POST
def login_as(request: HttpRequest, pk: int) -> HttpResponse:
    _enabled()
    user = get_object_or_404(get_user_model(), pk=pk, is_staff=False, is_active=True)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect("home")


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("home")
