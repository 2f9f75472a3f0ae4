"""Every view, click, add-to-cart and purchase lands in PostgreSQL with its shopper and source."""

from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from recommendations.models import Interaction, Visitor
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def test_a_product_view_is_logged_for_a_new_visitor_with_a_cookie(client):
    product = ProductFactory()
    response = client.get(reverse("product-detail", args=[product.pk]))
    assert response.status_code == 200
    visitor_id = response.cookies["visitor_id"].value.split(":")[0]  # a signed token: "<uuid>:<signature>"
    event = Interaction.objects.get()
    assert (event.kind, event.product_id, str(event.visitor_id), event.user_id) == (
        "view",
        product.pk,
        visitor_id,
        None,
    )
    client.get(reverse("product-detail", args=[product.pk]))  # the cookie comes back: same visitor
    assert set(Interaction.objects.values_list("visitor_id", flat=True)) == {Visitor.objects.get().pk}


def test_a_click_on_a_recommendation_records_its_row_strategy_and_slot(client):
    product = ProductFactory()
    client.get(
        reverse("product-detail", args=[product.pk]), {"row": "home.recommended", "strategy": "als", "slot": "3"}
    )
    click = Interaction.objects.get(kind="click")
    assert (click.source_row, click.source_strategy, click.source_slot) == ("home.recommended", "als", 3)
    assert Interaction.objects.filter(kind="view", source_strategy="als").exists()


@pytest.mark.parametrize("slot", ["\u00b2", "\u0663", "1000", "-1", "1e2", " 3", "\uff13", "99999999999999999999"])
def test_a_slot_that_is_not_a_small_number_is_dropped_and_the_view_still_logged(client, slot):
    """Issue 16: a Unicode digit ("²" passes str.isdigit(), int() refuses it) answered 500."""
    product = ProductFactory()
    response = client.get(reverse("product-detail", args=[product.pk]), {"row": "home.recommended", "slot": slot})
    assert response.status_code == 200
    assert list(Interaction.objects.order_by("kind").values_list("kind", "source_slot")) == [
        ("click", None),
        ("view", None),
    ]


def test_add_to_cart_and_checkout_log_events_and_take_stock(client):
    product = ProductFactory(stock_quantity=1)
    client.post(reverse("cart-add", args=[product.pk]))
    client.post(reverse("checkout"))
    assert list(Interaction.objects.order_by("pk").values_list("kind", flat=True)) == ["add_to_cart", "purchase"]
    assert Interaction.objects.get(kind="purchase").price == product.price  # what it cost, for the ranker
    product.refresh_from_db()
    assert product.stock_quantity == 0
    # Sold out now: a second shopper cannot buy it.
    other = type(client)()
    response = other.post(reverse("cart-add", args=[product.pk]), follow=True)
    assert "sold out" in response.content.decode()
    assert Interaction.objects.filter(kind="purchase").count() == 1


def test_signing_in_merges_the_anonymous_history_into_the_user(client):
    product = ProductFactory()
    client.get(reverse("product-detail", args=[product.pk]))
    user = get_user_model().objects.create_user("shopper")  # as imported: no usable password
    Interaction.objects.create(user=user, product=ProductFactory(), kind="purchase", created_at=timezone.now())
    client.post(reverse("demo-login", args=[user.pk]))  # a real sign-in request, through the middleware
    event = Interaction.objects.get(product=product)
    assert event.user == user
    client.get(reverse("product-detail", args=[product.pk]))
    assert Interaction.objects.filter(user=user, product=product).count() == 2
    assert Interaction.objects.filter(user=user, visitor__isnull=True).count() == 2  # the user's alone


def test_logging_does_not_need_redis(client):
    """The broker is unreachable (simulated): pages still render and every event is written."""
    product = ProductFactory()
    with mock.patch("kombu.connection.Connection.ensure_connection", side_effect=ConnectionError("Redis down")):
        assert client.get(reverse("product-detail", args=[product.pk])).status_code == 200
        client.post(reverse("cart-add", args=[product.pk]))
    assert Interaction.objects.count() == 2


def test_an_unknown_product_logs_nothing(client):
    assert client.get(reverse("product-detail", args=[987654])).status_code == 404
    assert not Interaction.objects.exists()


def test_the_gender_choice_is_stored_on_the_visitor(client):
    client.post(reverse("gender-choose"), {"gender": "men"})
    assert Visitor.objects.get().gender_preference == "men"
    assert client.post(reverse("gender-choose"), {"gender": "martian"}).status_code == 400


def test_a_malformed_session_cookie_is_ignored_not_a_server_error(client):
    client.cookies["sessionid"] = "abc\x00def123"
    assert client.get("/").status_code == 200


def test_the_cart_has_quantities_a_total_and_removal_and_a_checkout_gives_an_order_number(client, settings):
    """Issue 41: the cart had no quantities, total or remove button, and a checkout ended with
    "Thank you: 1 product(s) bought." and no order number."""
    from storefront.models import Order

    settings.SHOP_CURRENCY = "EUR"
    chino, shirt = ProductFactory(price="30.00", stock_quantity=5), ProductFactory(price="12.50", stock_quantity=1)
    for product in (chino, chino, shirt):
        client.post(reverse("cart-add", args=[product.pk]))
    page = client.get(reverse("cart"))
    assert [(line.product.pk, line.quantity) for line in page.context["lines"]] == [(chino.pk, 2), (shirt.pk, 1)]
    assert "€72.50" in page.content.decode()
    assert client.post(reverse("cart-update", args=[chino.pk]), {"quantity": "3"}).status_code == 302
    assert client.post(reverse("cart-update", args=[chino.pk]), {"quantity": "-1"}).status_code == 400
    client.post(reverse("cart-update", args=[shirt.pk]), {"remove": "1"})
    assert [(line.product.pk, line.quantity) for line in client.get(reverse("cart")).context["lines"]] == [
        (chino.pk, 3)
    ]
    home = client.post(reverse("checkout"), follow=True).content.decode()
    order = Order.objects.get()
    assert f"order {order.number} is placed, 3 items for €90.00" in home
    assert [(line.product_id, line.quantity) for line in order.lines.all()] == [(chino.pk, 3)]
    assert Interaction.objects.filter(kind="purchase", product=chino).count() == 3  # one event per item, as H&M's
    chino.refresh_from_db()
    assert chino.stock_quantity == 2 and client.get(reverse("cart")).context["lines"] == []


def test_a_quantity_beyond_the_stock_left_is_not_bought_and_stays_in_the_cart(client):
    product = ProductFactory(stock_quantity=1)
    client.post(reverse("cart-add", args=[product.pk]))
    client.post(reverse("cart-update", args=[product.pk]), {"quantity": "2"})
    home = client.post(reverse("checkout"), follow=True).content.decode()
    assert "too few left" in home and not Interaction.objects.filter(kind="purchase").exists()
    assert [line.quantity for line in client.get(reverse("cart")).context["lines"]] == [2]
