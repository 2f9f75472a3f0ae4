"""Issue 44's proof in Chromium: staff pin a product on the homepage and hide a product type in the
admin; a new visitor's homepage shows the pin at its place and nothing of that type; the admin's
preview shows both changes marked."""

import pytest

from recommendations.models import PopularScore, TrendingScore
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in(page, url: str, username: str) -> None:
    page.goto(f"{url}/admin/login/")
    page.fill("#id_login", username)
    page.fill("#id_password", "password")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{url}/admin/")


def add_rule(staff, url: str, fields: dict[str, str], *, product_id: int | None = None) -> None:
    staff.goto(f"{url}/admin/merchandising/rule/add/")
    staff.fill("#id_starts_at_0", "2020-01-01")
    staff.fill("#id_starts_at_1", "00:00:00")
    staff.check("input[name=surfaces][value=home]")
    for selector, value in fields.items():
        if selector.startswith("select"):
            staff.select_option(selector.split(" ", 1)[1], value)
        else:
            staff.fill(selector, value)
    if product_id is not None:
        # The product field is an autocomplete (select2, read over Ajax): the choice is set on its select.
        staff.evaluate(
            "pk => { const s = document.querySelector('#id_product'); s.add(new Option('chosen', pk, true, true)); }",
            str(product_id),
        )
    staff.click("input[name=_save]")
    staff.wait_for_selector(".messagelist .success")


def test_staff_pin_and_hide_in_the_admin_and_a_new_visitor_and_the_preview_show_both(
    live_server, browser, admin_user, settings
):
    settings.ROW_EXPLORATION_SLOTS, settings.HOME_ROW_SIZE = 0, 6
    types = ("Dress", "Top", "Trousers")
    products = [ProductFactory(article_type=types[n % 3], name=f"Item {n}") for n in range(18)]
    for rank, product in enumerate(products[:9]):
        TrendingScore.objects.create(product=product, score=20.0 - rank)
    # Sales over a longer window, as every shop with orders has: what tops up a row that hiding shortened.
    PopularScore.objects.bulk_create(PopularScore(product=p, score=30.0 - n) for n, p in enumerate(products))
    pinned = products[15]  # a trousers not trending: not on the page without the rule
    type_of = {str(p.pk): p.article_type for p in products}

    staff = browser.new_page()
    sign_in(staff, live_server.url, admin_user.username)
    add_rule(staff, live_server.url, {"#id_name": "Launch", "select #id_action": "pin", "#id_row": "home.trending",
                                      "#id_position": "2"}, product_id=pinned.pk)  # fmt: skip
    add_rule(staff, live_server.url, {"#id_name": "No tops", "select #id_action": "hide", "#id_article_types": "Top"})

    visitor = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    visitor.goto(f"{live_server.url}/")
    trending = visitor.locator("section.row[data-row='home.trending'] .card")
    shown = trending.evaluate_all("cards => cards.map(c => c.dataset.productId)")
    assert shown[1] == str(pinned.pk), shown
    assert len(shown) == 6  # full: the hidden tops were replaced
    everywhere = visitor.locator("section.row .card").evaluate_all("cards => cards.map(c => c.dataset.productId)")
    assert everywhere and not [pk for pk in everywhere if type_of.get(pk) == "Top"]
    assert "Featured" in trending.nth(1).inner_text()  # the card says why it is there

    staff.goto(f"{live_server.url}/admin/merchandising/rule/preview/")
    marks = staff.locator("td.changed .mark").all_inner_texts()
    assert "placed by the pin rule “Launch”" in marks
    assert "hidden by the rule “No tops”" in marks
