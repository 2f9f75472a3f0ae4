"""Who can read or write whose history: visitors, signed-in shoppers, the demo login."""

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from recommendations.models import Interaction, Visitor
from tests.factories import EmbeddedProductFactory, ProductImageFactory
from tests.test_storefront_pages import look_alike_catalog

pytestmark = pytest.mark.django_db


def customer(name: str = "c0ffee") -> object:
    """An imported H&M customer: no usable password, one purchase, so the demo lists them."""
    user = get_user_model().objects.create_user(name)
    Interaction.objects.create(user=user, product=EmbeddedProductFactory(), kind="purchase", created_at=timezone.now())
    return user


def event(product, kind="view") -> dict:
    return {"event_id": str(uuid.uuid4()), "product": product.pk, "kind": kind, "occurred_at": timezone.now()}


def row_keys(api: APIClient, **headers) -> list[str]:
    return [row["key"] for row in api.get("/api/v1/recommendations/", headers=headers).json()["rows"]]


def test_signing_out_starts_a_new_visitor_and_leaks_nothing_of_the_session():
    catalog = look_alike_catalog()
    browser = Client()
    browser.get("/")
    browser.post(reverse("demo-login", args=[customer().pk]))
    browser.get(reverse("product-detail", args=[catalog["query"].pk]))  # viewed while signed in
    before = browser.cookies["visitor_id"].value
    response = browser.post(reverse("logout"))
    assert response.cookies["visitor_id"].value == ""  # the cookie is deleted

    page = browser.get("/").content.decode()
    assert "Because you viewed" not in page and "Recommended for you" not in page
    assert browser.cookies["visitor_id"].value not in ("", before)
    api = APIClient()
    api.cookies = browser.cookies
    assert row_keys(api) == ["home.trending"]
    assert api.get("/api/v1/me/events/").json()["results"] == []


def test_a_visitor_that_became_a_user_is_never_used_anonymously_again():
    """Even without the sign-out view (the admin's logout, an expired session), the old cookie of
    a signed-in browser opens nothing."""
    catalog = look_alike_catalog()
    browser = Client()
    browser.get(reverse("product-detail", args=[catalog["query"].pk]))  # anonymous, then merged on sign-in
    browser.post(reverse("demo-login", args=[customer().pk]))
    cookie = browser.cookies["visitor_id"].value
    stranger = Client()
    stranger.cookies["visitor_id"] = cookie
    page = stranger.get("/")
    assert "Because you viewed" not in page.content.decode()
    assert page.cookies["visitor_id"].value != cookie


@pytest.mark.parametrize("forged", ["00000000-0000-0000-0000-000000000000", str(uuid.uuid4()), "garbage"])
def test_a_visitor_id_the_server_did_not_sign_is_ignored_and_not_created(forged):
    product = EmbeddedProductFactory()
    api = APIClient()
    response = api.post("/api/v1/events/", event(product), format="json", headers={"X-Visitor-Id": forged})
    assert response.status_code == 201
    issued = response["X-Visitor-Id"]
    assert issued != forged and issued.split(":")[0] != forged
    assert not Visitor.objects.filter(pk__in=[v for v in [forged] if v != "garbage"]).exists()
    assert str(Interaction.objects.get().visitor_id) == issued.split(":")[0]


def test_a_signed_in_app_cannot_write_into_another_visitors_history():
    catalog = look_alike_catalog()
    victim = APIClient()
    victim.post("/api/v1/events/", event(catalog["far"]), format="json")
    token = victim.post("/api/v1/events/", event(catalog["far"]), format="json")["X-Visitor-Id"]
    app = APIClient()
    app.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=customer()).key}")
    response = app.post("/api/v1/events/", event(catalog["query"], "add_to_cart"), format="json",
                        headers={"X-Visitor-Id": token})  # fmt: skip
    assert response.status_code == 201
    written = Interaction.objects.get(product=catalog["query"])
    assert written.user is not None and written.visitor_id is None  # the user's alone
    history = victim.get("/api/v1/me/events/", headers={"X-Visitor-Id": token}).json()["results"]
    assert {e["product"] for e in history} == {catalog["far"].pk}


def test_pages_without_a_cookie_create_no_visitor_until_the_first_event():
    product = EmbeddedProductFactory()
    ProductImageFactory(product=product)
    for _ in range(5):  # a bot
        assert Client().get("/").status_code == 200
        assert APIClient().get("/api/v1/recommendations/").status_code == 200
        assert Client().get(reverse("browse")).status_code == 200
    assert not Visitor.objects.exists()
    Client().get(reverse("product-detail", args=[product.pk]))
    assert Visitor.objects.count() == 1


def test_the_demo_login_signs_in_only_as_a_listed_imported_customer():
    listed = customer()
    registered = get_user_model().objects.create_user("alice", password="a long passphrase 123")
    Interaction.objects.create(user=registered, product=EmbeddedProductFactory(), kind="purchase",
                               created_at=timezone.now())  # fmt: skip
    staff = get_user_model().objects.create_user("boss", is_staff=True)
    page = Client().get(reverse("demo-customers")).content.decode()
    assert listed.username in page and "alice" not in page
    for user in (registered, staff):
        assert Client().post(reverse("demo-login", args=[user.pk])).status_code == 404
    browser = Client()
    assert browser.post(reverse("demo-login", args=[listed.pk])).status_code == 302
    assert browser.get("/api/v1/me/events/").json()["results"][0]["kind"] == "purchase"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_in_chromium_signing_out_leaves_no_trace_of_the_signed_in_shopper(live_server, browser):
    catalog = look_alike_catalog()
    user = customer()
    page = browser.new_page()
    page.goto(f"{live_server.url}/")
    page.goto(f"{live_server.url}/demo/customers/")
    page.locator("form button", has_text="Browse as this customer").first.click()
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/products/{catalog['query'].pk}/")
    page.goto(f"{live_server.url}/")
    # Signed in: rows made of their own history (the small catalog's look-alikes all fit in the first
    # row, and a product shows in one row of a page, so "Because you viewed" may have none left).
    assert "Recommended for you" in page.content()
    page.locator("button", has_text="Sign out").click()
    page.wait_for_url(f"{live_server.url}/")
    assert "Because you viewed" not in page.content()
    assert "Recommended for you" not in page.content()
    events = page.request.get(f"{live_server.url}/api/v1/me/events/").json()["results"]
    recommendations = page.request.get(f"{live_server.url}/api/v1/recommendations/").json()
    assert events == [] and [row["key"] for row in recommendations["rows"]] == ["home.trending"]
    assert Interaction.objects.filter(user=user, product=catalog["query"]).exists()


def test_a_browser_visitor_of_one_user_is_never_handed_to_another_user():
    """User A signs in and out through the admin's logout (or a session expires), leaving the cookie;
    user B signs in on the same browser: B starts a visitor of their own, and A's stays A's."""
    catalog = look_alike_catalog()
    alice, bob = customer("a11ce"), customer("b0b")
    browser = Client()
    browser.get("/")
    browser.post(reverse("demo-login", args=[alice.pk]))
    browser.get(reverse("product-detail", args=[catalog["query"].pk]))
    cookie = browser.cookies["visitor_id"].value
    browser.logout()  # no sign-out view: the visitor cookie stays
    browser.cookies["visitor_id"] = cookie
    browser.post(reverse("demo-login", args=[bob.pk]))
    browser.post(reverse("gender-choose"), {"gender": "men"})
    assert Visitor.objects.get(pk=cookie.split(":")[0]).user == alice
    assert Visitor.objects.get(user=bob).gender_preference == "men"  # a visitor of B's own
    assert Visitor.objects.get(pk=cookie.split(":")[0]).gender_preference == ""
