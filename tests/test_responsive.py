"""The store at a phone's, a tablet's and a desktop's width, in Chromium (issue 41): no page is wider
than the screen, the header never breaks inside an item, and cards come at least two to a row on a
phone. Screenshots of every page at every width are kept in test-artifacts/screenshots/."""

from pathlib import Path

import pytest
from django.conf import settings

from tests.test_storefront_pages import two_kinds_catalog

WIDTHS = {"phone": (390, 844), "tablet": (768, 1024), "desktop": (1366, 900)}
SHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_no_page_scrolls_sideways_at_any_width(live_server, browser, django_user_model):
    products = two_kinds_catalog()
    django_user_model.objects.create_user("owner", "owner-with-a-long-address@example.com", "pw-12345-long",
                                          is_staff=True)  # fmt: skip
    pages = {
        "home": "/", "product": f"/products/{products[1].pk}/", "search": "/search/?q=Dress", "shop": "/shop/",
        "browse": "/browse/", "cart": "/cart/", "photo-search": "/search/photo/", "sign-in": "/accounts/login/",
    }  # fmt: skip
    SHOTS.mkdir(parents=True, exist_ok=True)
    wide = []
    for width_name, (width, height) in WIDTHS.items():
        for who in ("visitor", "staff"):
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            if who == "staff":
                page.goto(f"{live_server.url}/accounts/login/")
                page.fill("input[name=login]", "owner")
                page.fill("input[name=password]", "pw-12345-long")
                page.click("button[type=submit]")
                page.wait_for_load_state()
            for name, path in pages.items():
                page.goto(live_server.url + path)
                scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                if scroll > inner:
                    wide.append((width_name, who, name, scroll))
                # Every header item on one line: "By photo" and "Sign out" broke in two at 1366 px.
                broken = page.evaluate(
                    "[...document.querySelectorAll('header.top > a, header.top nav a, header.top button')]"
                    ".filter(e => e.getClientRects().length && e.getBoundingClientRect().height > 30)"
                    ".map(e => e.textContent.trim())"
                )
                assert broken == [], (width_name, who, name, broken)
                page.screenshot(path=str(SHOTS / f"{width_name}-{who}-{name}.png"), full_page=True)
            context.close()
    assert wide == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_on_a_phone_cards_come_two_to_a_row_and_the_product_page_stacks(live_server, browser):
    products = two_kinds_catalog()
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    page.goto(f"{live_server.url}/browse/")
    tops = page.evaluate("[...document.querySelectorAll('.grid .card')].slice(0, 4).map(c => c.offsetTop)")
    assert tops[0] == tops[1] and tops[2] > tops[1]  # two to a row
    search = page.locator("header form.search input").bounding_box()
    assert search["width"] > 300  # the search box is a usable field, not an empty pill
    page.goto(f"{live_server.url}/products/{products[1].pk}/")
    photo, details = page.locator(".product .gallery").bounding_box(), page.locator(".product .details").bounding_box()
    assert details["y"] >= photo["y"] + photo["height"] - 1  # photo above the details, not squeezed beside
