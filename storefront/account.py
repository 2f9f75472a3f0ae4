"""The shopper's account page: who they are and what they bought. Signing up, in and out, and the
password pages are django-allauth's (under /accounts/), in the store's look (templates/allauth)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from recommendations.selectors.orders import orders_of_user


@login_required
def account_page(request: HttpRequest) -> HttpResponse:
    return render(request, "storefront/account.html", {"orders": orders_of_user(user_id=request.user.pk)})
