"""The mobile API: every endpoint's success and error paths."""

import uuid

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from catalog.models import Gender
from recommendations.models import Interaction, TrendingScore
from tests.factories import EmbeddedProductFactory, ProductFactory, ProductImageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


def event(product, kind="view", **fields):
    return {"event_id": str(uuid.uuid4()), "product": product.pk, "kind": kind,
            "occurred_at": timezone.now().isoformat(), **fields}  # fmt: skip


def test_products_filter_and_paginate_with_a_cursor(api):
    shoes = [ProductFactory(category="Shoes", gender=Gender.WOMEN, price=p, stock_quantity=1) for p in (10, 20, 30, 40)]
    ProductFactory(category="Shoes", gender=Gender.MEN)
    ProductFactory(category="Shoes", gender=Gender.WOMEN, stock_quantity=0)
    query = {"gender": "women", "category": "shoes", "in_stock": "true", "price_min": 15, "page_size": 2}
    first = api.get("/api/v1/products/", query).json()
    assert [p["id"] for p in first["results"]] == [shoes[1].pk, shoes[2].pk]
    second = api.get(first["next"]).json()
    assert [p["id"] for p in second["results"]] == [shoes[3].pk] and second["next"] is None


def test_a_bad_filter_is_a_400_with_the_field(api):
    response = api.get("/api/v1/products/", {"gender": "martian", "price_min": "cheap"})
    assert response.status_code == 400
    assert set(response.json()) == {"gender", "price_min"}


def test_product_detail_has_its_photos_and_an_unknown_product_is_404(api):
    image = ProductImageFactory()
    body = api.get(f"/api/v1/products/{image.product_id}/").json()
    assert body["images"][0]["url"].startswith("http://testserver/media/products/")
    assert api.get("/api/v1/products/999999/").status_code == 404


def test_similar_products_use_the_same_filters_as_the_product_page(api):
    rng = np.random.default_rng(1)
    base = rng.normal(size=1280)
    query = EmbeddedProductFactory(embedding=base / np.linalg.norm(base), gender=Gender.MEN)
    near = [EmbeddedProductFactory(embedding=(v := base + 0.01 * rng.normal(size=1280)) / np.linalg.norm(v),
                                   gender=g, stock_quantity=s)
            for g, s in ((Gender.MEN, 3), (Gender.WOMEN, 3), (Gender.MEN, 0))]  # fmt: skip
    body = api.get(f"/api/v1/products/{query.pk}/similar/", {"k": 5}).json()
    assert [p["id"] for p in body] == [near[0].pk]
    assert 0 <= body[0]["distance"] < 0.1
    assert api.get(f"/api/v1/products/{query.pk}/similar/", {"k": 0}).status_code == 400
    assert api.get("/api/v1/products/999999/similar/").status_code == 404


def test_recommendations_follow_the_shopper_and_carry_reasons(api):
    products = [EmbeddedProductFactory() for _ in range(15)]
    TrendingScore.objects.bulk_create(TrendingScore(product=p, score=i) for i, p in enumerate(products))
    first = api.get("/api/v1/recommendations/")
    visitor = first["X-Visitor-Id"]
    assert [row["key"] for row in first.json()["rows"]] == ["home.trending"]
    api.credentials(HTTP_X_VISITOR_ID=visitor)
    assert api.post("/api/v1/events/", event(products[0], "click"), format="json").status_code == 201
    body = api.get("/api/v1/recommendations/").json()
    assert body["visitor_id"] == visitor
    assert body["rows"][0]["key"] == "home.recommended"
    assert all(item["reason"] and item["strategy"] for item in body["rows"][0]["items"])


def test_a_batch_of_events_is_idempotent_on_the_client_event_id(api):
    product = ProductFactory()
    batch = {"events": [event(product, "view"), event(product, "add_to_cart"), event(product, "purchase")]}
    assert api.post("/api/v1/events/", batch, format="json").json() == {"accepted": 3, "duplicates": 0}
    assert api.post("/api/v1/events/", batch, format="json").json() == {"accepted": 0, "duplicates": 3}
    assert Interaction.objects.count() == 3


def test_a_malformed_batch_writes_nothing_and_says_where(api):
    product = ProductFactory()
    batch = {"events": [event(product), event(product, "teleport"), {**event(product), "product": 999999}]}
    response = api.post("/api/v1/events/", batch, format="json")
    assert response.status_code == 400
    assert "kind" in response.json()["events"][1]
    assert not Interaction.objects.exists()
    response = api.post("/api/v1/events/", {"events": [event(product), {**event(product), "product": 999999}]},
                        format="json")  # fmt: skip
    assert response.json() == {"events": {"1": {"product": ["Unknown product 999999."]}}}
    assert not Interaction.objects.exists()
    assert api.post("/api/v1/events/", {"events": []}, format="json").status_code == 400


def test_a_signed_in_app_records_events_as_its_user(api):
    user = get_user_model().objects.create_user("app-user")
    token = Token.objects.create(user=user)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    api.post("/api/v1/events/", event(ProductFactory(), "purchase"), format="json")
    assert Interaction.objects.get().user == user


def test_the_schema_and_its_docs_are_served(api):
    schema = api.get("/api/v1/schema/")
    assert schema.status_code == 200 and b"/api/v1/recommendations/" in schema.content
    docs = api.get("/api/v1/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content
