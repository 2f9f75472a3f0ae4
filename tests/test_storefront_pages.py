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
def test_the_product_page_lists_similar_in_stock_products(
    client, django_assert_max_num_queries, django_assert_num_queries
):
    catalog = look_alike_catalog()
    url = reverse("product-detail", args=[catalog["query"].pk])
    # The first view finds and stores the product's neighbours: the serving values, product, photos,
    # new visitor, view event, the active ALS model (also bought) and ranker (Goes well with), read
    # once per generation in a process, its embedding, stored neighbours (none), embedding version,
    # HNSW search, store, hard filters, cards, and the merchandising rules in force (read once per
    # generation in a process).
    with django_assert_max_num_queries(15):
        client.get(url)
    # Every later view: the serving values, the visitor, the view event. The product with its photos
    # and the page's lists are in this process's memory under the serving values (built from the
    # neighbours, stored where the HNSW search was, which of them pass the hard filters, the cards).
    with django_assert_num_queries(3):
        response = client.get(url)
    page = response.content.decode()
    assert response.status_code == 200
    similar = [p.name for p in response.context["similar"].products]
    assert similar == ["Black dress, long", "Red scarf"]
    assert "Looks similar" in page and "Black shirt" not in page and "Black dress, short" not in page


@pytest.mark.django_db
def test_an_unknown_product_is_a_404(client):
    assert client.get(reverse("product-detail", args=[999999])).status_code == 404


@pytest.mark.django_db
def test_the_catalog_page_lists_products_and_filters_by_gender(client):
    ProductFactory(name="Linen shirt", gender=Gender.MEN)
    ProductFactory(name="Silk blouse", gender=Gender.WOMEN)
    page = client.get(reverse("browse"), {"gender": "men"}).content.decode()
    assert "Linen shirt" in page and "Silk blouse" not in page


def two_kinds_catalog(count: int = 48):
    """Dresses and sneakers that look alike within their kind, all trending, all in stock: enough
    for three full rows, since a product shows in one row of a page."""
    from recommendations.models import PopularScore, TrendingScore

    rng = np.random.default_rng(11)
    centres = {"Dress": unit(rng.normal(size=DIM)), "Sneaker": unit(rng.normal(size=DIM))}
    products = []
    for index in range(count):
        kind = "Dress" if index % 2 else "Sneaker"
        product = EmbeddedProductFactory(
            name=f"{kind} {index}", article_type=kind, gender=Gender.UNISEX,
            embedding=unit(centres[kind] + 0.02 * rng.normal(size=DIM)),
        )  # fmt: skip
        ProductImageFactory(product=product)
        TrendingScore.objects.create(product=product, score=float(count - index))
        PopularScore.objects.create(product=product, score=float(count - index))  # what tops a short row up
        products.append(product)
    return products


@pytest.mark.django_db
def test_the_homepage_renders_with_a_bounded_number_of_queries(client, django_assert_max_num_queries, settings):
    from recommendations.services.collaborative import collaborative_train

    products = two_kinds_catalog()
    for product in products[:3]:
        client.get(reverse("product-detail", args=[product.pk]))
    collaborative_train()
    client.get(reverse("product-detail", args=[products[4].pk]))  # newer than the model: a fresh vector
    with django_assert_max_num_queries(26):
        response = client.get(reverse("home"))
    rows = response.context["rows"]
    assert [row.key for row in rows] == ["home.recommended", "home.because", "home.trending"]
    assert all(len(row.cards) == settings.HOME_ROW_SIZE for row in rows)
    page = response.content.decode()
    assert "Because you viewed" in page and "Trending" in page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_three_clicks_turn_the_homepage_toward_what_was_clicked(live_server, browser, settings):
    two_kinds_catalog()
    page = browser.new_page()
    page.goto(f"{live_server.url}/")
    assert [row.get_attribute("data-row") for row in page.locator("section.row").all()] == ["home.trending"]
    strategies = []
    for _ in range(3):
        card = page.locator("#hometrending .card", has_text="Sneaker").first
        strategies.append(card.get_attribute("data-strategy"))  # "trending", or "explore" for a random slot
        card.click()
        page.wait_for_url("**/products/**")
        assert page.locator("h1").inner_text().startswith("Sneaker")
        page.goto(f"{live_server.url}/")
    recommended = page.locator("#homerecommended")
    assert recommended.locator("h2").inner_text() == "Recommended for you"
    names = recommended.locator(".card .name").all_inner_texts()
    assert len(names) == settings.HOME_ROW_SIZE
    assert sum(name.startswith("Sneaker") for name in names) >= len(names) * 0.6, names
    assert "Because you viewed Sneaker" in recommended.inner_text()  # the reason is on the card
    from recommendations.models import Interaction

    clicks = Interaction.objects.filter(kind="click", source_row="home.trending").order_by("pk")
    assert list(clicks.values_list("source_strategy", flat=True)) == strategies  # each click names its card's strategy


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
    page.wait_for_url(f"**/products/{catalog['twin'].pk}/**")
    assert page.locator("h1").inner_text() == "Black dress, long"
    assert "Black dress" in page.locator("#looks-similar").inner_text()  # and back again


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "json"),
    [("/healthz", True), ("/api/v1/products/", True), ("/api/v1/recommendations/", True), ("/", False)],
)
def test_a_database_outage_is_a_503_json_on_the_api_and_a_page_elsewhere(path, json):
    """PostgreSQL unreachable (simulated at the driver): no HTML 500 anywhere."""
    from unittest import mock

    from django.db import OperationalError
    from django.test import Client

    client = Client(raise_request_exception=False)
    down = OperationalError('connection to server on socket "/x/.s.PGSQL.5432" failed: No such file or directory')
    with mock.patch("django.db.backends.base.base.BaseDatabaseWrapper._cursor", side_effect=down):
        response = client.get(path)
    assert response.status_code == 503
    if json:
        assert response["Content-Type"] == "application/json"
        body = response.json()
        assert ("detail" in body) or (body["ok"] is False and "unreachable" in body["database"])
    else:
        assert "Back in a moment" in response.content.decode()


@pytest.mark.django_db
def test_an_unexpected_api_error_is_json(monkeypatch):
    from django.test import Client

    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("recommendations.api.views.homepage_rows_served", broken)
    response = Client(raise_request_exception=False).get("/api/v1/recommendations/")
    assert response.status_code == 500 and response.json() == {"detail": "Server error."}


def colourways_catalog():
    """One strap top in three colours (one sold out), a men's top sharing nothing, and an unrelated item."""
    black = ProductFactory(name="Strap top black", product_group="0108775", colour="Black")
    white = ProductFactory(name="Strap top white", product_group="0108775", colour="White")
    ProductFactory(name="Strap top red", product_group="0108775", colour="Red", stock_quantity=0)
    other = ProductFactory(name="Tights", product_group="0111586")
    for product in (black, white, other):
        ProductImageFactory(product=product)
    return black, white, other


@pytest.mark.django_db
def test_the_product_page_shows_its_other_colours_in_stock(client):
    black, white, _ = colourways_catalog()
    response = client.get(reverse("product-detail", args=[black.pk]))
    assert [p.name for p in response.context["colours"]] == ["Strap top white"]
    assert "Other colours" in response.content.decode()
    lone = ProductFactory(product_group="")
    assert "Other colours" not in client.get(reverse("product-detail", args=[lone.pk])).content.decode()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_signed_in_customer_sees_buy_again_and_a_product_page_shows_other_colours(live_server, browser):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from recommendations.models import Interaction

    black, white, tights = colourways_catalog()
    customer = get_user_model().objects.create_user("0a1b2c")  # imported: no usable password
    for product in (black, tights):
        Interaction.objects.create(user=customer, product=product, kind="purchase", created_at=timezone.now())
    page = browser.new_page()
    page.goto(f"{live_server.url}/demo/customers/")
    page.locator("form button", has_text="Browse as this customer").first.click()
    page.wait_for_url(f"{live_server.url}/")
    again = page.locator("section.row").first
    assert again.locator("h2").inner_text() == "Buy again"
    names = again.locator(".card .name").all_inner_texts()
    # The colours of what was bought take cards of their own (the exception to one card per product),
    # and every card shows its product's colours as swatches.
    assert set(names[:2]) == {"Strap top black", "Tights"} and names[2] == "Strap top white"
    strap = again.locator(".card", has_text="Strap top black").first
    assert strap.locator(".swatch").evaluate_all("dots => dots.map(d => d.title)") == ["Black", "White"]
    assert "You bought this before" in again.inner_text()
    again.locator(".card", has_text="Strap top black").first.click()
    page.wait_for_url(f"**/products/{black.pk}/**")
    colours = page.locator("#other-colours")
    assert colours.locator("h2").inner_text() == "Other colours"
    assert colours.locator(".card .name").all_inner_texts() == ["Strap top white"]


# Collects every CSP violation a page reports; Playwright runs it before the page's own scripts.
CSP_LISTENER = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_store_the_admin_and_the_api_docs_work_under_the_csp_with_no_violation(live_server, browser, admin_user):
    """Issue 16: no Content-Security-Policy on the store's and the admin's pages. Now every page has
    one without 'unsafe-inline', and Chromium reports no violation on any of them while they work:
    cards and photos show, the cart fills, the admin's inline adds a photo row with its script."""
    catalog = look_alike_catalog()
    context = browser.new_context()
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    console = []
    page.on("console", lambda message: console.append(message.text))
    violations = {}

    def visit(url, check):
        response = page.goto(f"{live_server.url}{url}")
        policy = response.headers.get("content-security-policy", "")
        assert "default-src 'self'" in policy and "unsafe-inline" not in policy, (url, policy)
        check()
        page.wait_for_load_state("networkidle")
        violations[url] = page.evaluate("window.__csp")

    def photos_load():
        images = page.locator("img[src*='/media/']")
        assert images.count() >= 1
        assert images.first.evaluate("img => img.complete && img.naturalWidth > 0")

    visit("/", lambda: (page.locator(".card").first.wait_for(), photos_load()))
    product = catalog["query"].pk
    visit(f"/products/{product}/", photos_load)
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_load_state()
    visit("/cart/", lambda: page.get_by_text(catalog["query"].name).first.wait_for())
    visit("/admin/login/", lambda: None)
    page.fill("#id_login", admin_user.username)
    page.fill("#id_password", "password")
    page.click("main button[type=submit]")  # the store's sign-in page guards the admin too
    page.wait_for_url(f"{live_server.url}/admin/")

    def inline_adds_a_row():
        rows = page.locator("tr.form-row.dynamic-images")
        before = rows.count()
        page.locator(".add-row a").click()  # the admin's inlines.js: runs only if scripts may run
        assert rows.count() == before + 1

    visit(f"/admin/catalog/product/{product}/change/", inline_adds_a_row)
    visit("/admin/catalog/product/", lambda: page.locator("progress").wait_for())
    visit("/api/v1/docs/", lambda: page.locator(".swagger-ui .info").wait_for())
    reported = [text for text in console if "Content Security Policy" in text]
    assert all(found == [] for found in violations.values()) and not reported, (violations, reported)


@pytest.mark.django_db
def test_find_similar_to_this_photo_lists_what_looks_like_the_product(client):
    catalog = look_alike_catalog()
    page = client.get(reverse("product-detail", args=[catalog["query"].pk])).content.decode()
    link = f"/search/photo/?product={catalog['query'].pk}"
    assert link in page
    shown = [p.pk for p in client.get(link).context["products"]]
    assert shown[0] == catalog["twin"].pk and catalog["query"].pk not in shown
    assert catalog["sold_out"].pk not in shown and catalog["mens"].pk not in shown
    assert client.get("/search/photo/?product=999999").status_code == 404


@pytest.mark.django_db
def test_the_photo_page_takes_only_a_product_id_that_can_exist(client):
    assert client.get("/search/photo/?product=99999999999999999999999").status_code == 200  # the empty form
    assert client.get("/search/photo/?product=%C2%B2").status_code == 200


# Issue 41: what a shopper notices.


def test_hm_labels_are_cleaned_for_shoppers():
    from catalog.importers.hm import hm_category, hm_display_name

    assert hm_display_name("Tilly (1)") == "Tilly"
    assert hm_display_name("Jonte Skinny Jogger 24.99:-") == "Jonte Skinny Jogger"
    assert hm_display_name("Tights 2p 20 den") == "Tights 2p 20 den"  # numbers that are the product's own stay
    assert (
        hm_category("Garment Full body") == "Full body"
        and hm_category("Garment and Shoe care") == "Garment and Shoe care"
    )


@pytest.mark.django_db
def test_prices_carry_the_shops_currency_and_unknown_labels_are_not_shown(client, settings):
    from django.core.cache import cache

    from storefront.templatetags.cards import _own_parts

    _own_parts.cache_clear()
    settings.SHOP_CURRENCY = "EUR"
    product = ProductFactory(price="24.99", colour="Unknown", article_type="Trousers", name="Chino")
    page = client.get(reverse("product-detail", args=[product.pk])).content.decode()
    assert "€24.99" in page and "Unknown" not in page
    cache.clear()
    _own_parts.cache_clear()
    settings.SHOP_CURRENCY = "SEK"
    assert "24.99 kr" in client.get(reverse("browse")).content.decode()
    _own_parts.cache_clear()


@pytest.mark.django_db
def test_a_capped_search_count_says_so(client, settings):
    settings.SEARCH_MAX_MATCHES = 3
    for n in range(5):
        ProductFactory(name=f"Linen shirt {n}")
    assert "3+ results" in client.get(reverse("search"), {"q": "linen"}).content.decode()


@pytest.mark.django_db
def test_unknown_pages_are_the_stores_own_and_the_favicon_is_found(client):
    missing = client.get("/products/999999999/")
    assert missing.status_code == 404 and "We could not find that page" in missing.content.decode()
    assert 'rel="icon"' in missing.content.decode()
    api = client.get("/api/docs/")  # no such API path (the docs are /api/v1/docs/): JSON, not a bare page
    assert api.status_code == 404 and api.json() == {"detail": "Not found."}
    favicon = client.get("/favicon.ico")
    assert favicon.status_code == 301 and favicon["Location"].endswith("storefront/favicon.ico")
