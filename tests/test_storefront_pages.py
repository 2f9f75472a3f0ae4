"""The shopper's pages: rendered by Django's test client, and in real headless Chromium."""

import numpy as np
import pytest
from django.urls import reverse

from catalog.models import Gender
from tests.factories import EmbeddedProductFactory, ProductFactory, ProductImageFactory

DIM = 1280


def unit(vector):
    return vector / np.linalg.norm(vector)


def look_alike_catalog():
    """A black dress, two close look-alikes (one sold out), a men's look-alike and a far item."""
    rng = np.random.default_rng(3)
    base = unit(rng.normal(size=DIM))

    def make(name, noise, **kwargs):
        product = EmbeddedProductFactory(name=name, embedding=unit(base + noise * rng.normal(size=DIM)), **kwargs)
        ProductImageFactory(product=product)
        return product

    return {
        "query": make("Black dress", 0),
        "twin": make("Black dress, long", 0.02),
        "sold_out": make("Black dress, short", 0.01, stock_quantity=0),
        "mens": make("Black shirt", 0.01, gender=Gender.MEN),
        "far": make("Red scarf", 5),
    }


@pytest.mark.django_db
def test_the_product_page_lists_similar_in_stock_products(client, django_assert_max_num_queries):
    catalog = look_alike_catalog()
    with django_assert_max_num_queries(7):  # product, photos, savepoint, settings, similar, photos, release
        response = client.get(reverse("product-detail", args=[catalog["query"].pk]))
    page = response.content.decode()
    assert response.status_code == 200
    similar = [p.name for p in response.context["similar"]]
    assert similar == ["Black dress, long", "Red scarf"]
    assert "Looks similar" in page and "Black shirt" not in page and "Black dress, short" not in page


@pytest.mark.django_db
def test_an_unknown_product_is_a_404(client):
    assert client.get(reverse("product-detail", args=[999999])).status_code == 404


@pytest.mark.django_db
def test_the_home_page_lists_products_and_filters_by_gender(client):
    ProductFactory(name="Linen shirt", gender=Gender.MEN)
    ProductFactory(name="Silk blouse", gender=Gender.WOMEN)
    page = client.get(reverse("home"), {"gender": "men"}).content.decode()
    assert "Linen shirt" in page and "Silk blouse" not in page


@pytest.fixture
def browser(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )  # fmt: skip
        yield browser
        browser.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_shopper_sees_looks_similar_and_follows_it(live_server, browser):
    catalog = look_alike_catalog()
    page = browser.new_page()
    page.goto(f"{live_server.url}/products/{catalog['query'].pk}/")
    section = page.locator("#looks-similar")
    assert section.locator("h2").inner_text() == "Looks similar"
    names = section.locator(".card .name").all_inner_texts()
    assert names == ["Black dress, long", "Red scarf"]
    assert section.locator(".card img").first.evaluate("img => img.naturalWidth") == 200  # the photo loads
    section.locator(".card").first.click()
    page.wait_for_url(f"**/products/{catalog['twin'].pk}/")
    assert page.locator("h1").inner_text() == "Black dress, long"
    assert "Black dress" in page.locator("#looks-similar").inner_text()  # and back again
