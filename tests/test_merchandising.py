"""Merchandising rules (issue 44) on the homepage, on known answers and as properties over random rule
sets: no hidden product shown, a pinned eligible product at its place, no hard filter broken, rows
full when the catalog allows, rules outside their window change nothing; and a saved rule reaching
the next page through the page cache."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from catalog.models import Gender
from merchandising.models import Rule
from recommendations.models import PopularScore, TrendingScore, Visitor
from recommendations.selectors.homepage import homepage_rows
from recommendations.selectors.shopper import shopper_load
from tests.factories import ProductFactory

TYPES = ("Dress", "Top", "Trousers")
SIZE = 6


@pytest.fixture
def shop(settings):
    """24 women's products (8 of each type), 6 men's, 2 women's sold out; trending by position."""
    settings.HOME_ROW_SIZE, settings.ROW_EXPLORATION_SLOTS, settings.PAGE_CACHE_VARIANTS = SIZE, 0, 1
    women = [ProductFactory(article_type=TYPES[n % 3], name=f"W{n}") for n in range(24)]
    men = [ProductFactory(gender=Gender.MEN, article_type=TYPES[n % 3], name=f"M{n}") for n in range(6)]
    sold_out = [ProductFactory(stock_quantity=0, article_type="Dress", name=f"S{n}") for n in range(2)]
    for rank, product in enumerate(women[:12] + men):
        TrendingScore.objects.create(product=product, score=100.0 - rank)
    PopularScore.objects.bulk_create(PopularScore(product=p, score=50 - n) for n, p in enumerate(women + men))
    return {"women": women, "men": men, "sold_out": sold_out, "all": women + men + sold_out}


def page(visitor: Visitor | None = None) -> list:
    rows = homepage_rows(shopper=shopper_load(user_id=None, visitor=visitor or Visitor()), rng=random.Random(0))
    return [(row.key, [card.product_id for card in row.cards], [card.strategy for card in row.cards]) for row in rows]


def ids(rows) -> list[int]:
    return [pid for _, products, _ in rows for pid in products]


@pytest.mark.django_db
def test_a_pin_takes_its_place_a_hide_removes_a_type_and_the_row_stays_full(shop):
    before = page()
    pinned = shop["women"][20]  # not trending: it would not be on the page
    Rule.objects.create(name="Launch", action="pin", surfaces=["home"], row="home.trending", product=pinned,
                        position=2)  # fmt: skip
    Rule.objects.create(name="Recall", action="hide", surfaces=["home"], article_types=["Top"])
    after = page()
    [(key, products, strategies)] = [row for row in after if row[0] == "home.trending"]
    assert products[1] == pinned.pk and strategies[1].startswith("rule:")
    types = {p.pk: p.article_type for p in shop["all"]}
    assert not [pid for pid in ids(after) if types[pid] == "Top"]
    assert len(products) == SIZE and len(ids(before)) == len(ids(after))


@pytest.mark.django_db
def test_a_pin_never_breaks_a_hard_filter(shop):
    for product in (shop["sold_out"][0], shop["men"][0]):
        Rule.objects.create(name="Pin", action="pin", surfaces=["home"], product=product, position=1)
    women = Visitor.objects.create(gender_preference=Gender.WOMEN)
    shown = ids(page(women))
    assert shop["sold_out"][0].pk not in shown and shop["men"][0].pk not in shown
    assert len(shown) == len(ids(page(Visitor.objects.create(gender_preference=Gender.WOMEN))))


@pytest.mark.django_db
def test_a_promote_gives_new_arrivals_their_share_and_a_boost_lifts_a_type(shop):
    newest = shop["women"][23]
    # The trending row holds two trousers already (W2, W5): a share of three adds the newest one.
    Rule.objects.create(name="New", action="promote", surfaces=["home"], max_cards=3, new_within_days=1,
                        article_types=["Trousers"])  # fmt: skip
    after = page(Visitor.objects.create(gender_preference=Gender.WOMEN))
    promoted = [pid for _, products, strategies in after for pid, s in zip(products, strategies, strict=True)
                if s.startswith("rule:")]  # fmt: skip
    trousers = {p.pk for p in shop["women"] if p.article_type == "Trousers"}
    assert promoted == [newest.pk]
    [(_, products, _)] = [row for row in after if row[0] == "home.trending"]
    assert len(products) == SIZE and len(set(products) & trousers) == 3
    Rule.objects.all().delete()
    Rule.objects.create(name="Dresses up", action="boost", surfaces=["home"], article_types=["Dress"], factor=50)
    types = {p.pk: p.article_type for p in shop["all"]}
    [(_, products, _)] = [row for row in page() if row[0] == "home.trending"]
    shown_types = [types[pid] for pid in products]
    assert shown_types[: shown_types.count("Dress")] == ["Dress"] * shown_types.count("Dress")  # dresses first


@pytest.mark.django_db
def test_a_rule_outside_its_window_or_switched_off_changes_nothing(shop):
    before = page()
    now = timezone.now()
    hide = {"action": "hide", "surfaces": ["home"], "article_types": list(TYPES)}
    Rule.objects.create(name="Past", starts_at=now - timedelta(days=2), ends_at=now - timedelta(days=1), **hide)
    Rule.objects.create(name="Future", starts_at=now + timedelta(days=1), **hide)
    Rule.objects.create(name="Off", is_enabled=False, **hide)
    Rule.objects.create(name="Elsewhere", **{**hide, "surfaces": ["search"]})
    Rule.objects.create(name="Nothing matched", action="hide", surfaces=["home"])  # no condition: matches nothing
    assert page() == before


@pytest.mark.django_db
def test_a_saved_rule_reaches_the_next_cached_page_at_once(shop, settings, client):
    settings.HOME_PAGE_CACHE_S = 300
    first = client.get("/").context["rows"]
    again = client.get("/").context["rows"]
    assert [r.list_id for r in first] == [r.list_id for r in again]  # served from the page cache
    target = shop["women"][0]
    assert target.pk in {card.product_id for row in again for card in row.cards}
    rule = Rule.objects.create(name="Recall one", action="hide", surfaces=["home"])
    rule.products.add(target)  # the trigger on the link table moves the generation too
    after = client.get("/").context["rows"]
    assert target.pk not in {card.product_id for row in after for card in row.cards}


EVERYWHERE = ["home", "category", "search"]
rule_specs = st.lists(
    st.one_of(
        st.tuples(st.just("hide_type"), st.sampled_from(TYPES)),
        st.tuples(st.just("hide_products"), st.lists(st.integers(0, 31), max_size=4)),
        st.tuples(st.just("boost"), st.sampled_from(TYPES), st.sampled_from([0.2, 3.0])),
        st.tuples(st.just("promote"), st.sampled_from(TYPES), st.integers(1, 3)),
    ),
    max_size=5,
)


@pytest.mark.django_db
@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    specs=rule_specs,
    pin=st.none() | st.tuples(st.integers(0, 31), st.integers(1, SIZE + 2)),
    when=st.sampled_from(["now", "now", "past", "future"]),
    men=st.booleans(),
)
def test_any_rule_set_keeps_every_promise(shop, specs, pin, when, men):
    products = shop["all"]
    visitor = Visitor.objects.create(gender_preference=Gender.MEN if men else Gender.WOMEN)
    before = page(visitor)
    before_elsewhere = (scoped(visitor), searched(visitor, "dress"))
    now = timezone.now()
    window = {"now": {}, "past": {"starts_at": now - timedelta(days=3), "ends_at": now - timedelta(days=1)},
              "future": {"starts_at": now + timedelta(days=1)}}[when]  # fmt: skip
    hidden: set[int] = set()
    if pin is not None:
        Rule.objects.create(name="p", action="pin", surfaces=EVERYWHERE, row="home.trending",
                            product=products[pin[0]], position=pin[1], **window)  # fmt: skip
    for spec in specs:
        kind = spec[0]
        if kind == "hide_type":
            Rule.objects.create(name="h", action="hide", surfaces=EVERYWHERE, article_types=[spec[1]], **window)
            hidden |= {p.pk for p in products if p.article_type == spec[1]}
        elif kind == "hide_products" and spec[1]:
            rule = Rule.objects.create(name="h", action="hide", surfaces=EVERYWHERE, **window)
            rule.products.set([products[i] for i in spec[1]])
            hidden |= {products[i].pk for i in spec[1]}
        elif kind == "boost":
            action = "boost" if spec[2] > 1 else "bury"
            Rule.objects.create(name="b", action=action, surfaces=EVERYWHERE, article_types=[spec[1]], factor=spec[2],
                                **window)  # fmt: skip
        elif kind == "promote":
            Rule.objects.create(name="n", action="promote", surfaces=EVERYWHERE, article_types=[spec[1]],
                                max_cards=spec[2], **window)  # fmt: skip
    try:
        after = page(visitor)
        if when != "now":
            assert after == before  # an expired or future rule changes nothing
            assert (scoped(visitor), searched(visitor, "dress")) == before_elsewhere
            return
        allowed = {Gender.MEN, Gender.UNISEX} if men else {Gender.WOMEN, Gender.UNISEX}
        by_pk = {p.pk: p for p in products}
        shown = ids(after)
        assert not set(shown) & hidden  # no hidden product, on any row
        assert all(by_pk[pid].stock_quantity > 0 and by_pk[pid].gender in allowed for pid in shown)
        assert len(shown) == len(set(shown))  # one card per product
        eligible = [p for p in products if p.stock_quantity > 0 and p.gender in allowed and p.pk not in hidden]
        # The category page's row and the search: the same promises, within their scope.
        in_category, (found, _) = [pid for pid, _ in scoped(visitor)], searched(visitor, "dress")
        for elsewhere in (in_category, found):
            assert not set(elsewhere) & hidden
            assert all(by_pk[pid].article_type == "Dress" and by_pk[pid].stock_quantity > 0 for pid in elsewhere)
            assert all(by_pk[pid].gender in allowed for pid in elsewhere)
            assert len(elsewhere) == len(set(elsewhere))
        dresses_left = [p for p in eligible if p.article_type == "Dress"]
        assert len(in_category) == min(SIZE, len(dresses_left))  # the category's row full when it can be
        assert sorted(found) == sorted(p.pk for p in eligible if p.article_type == "Dress")  # nothing added
        trending = next((row for row in after if row[0] == "home.trending"), None)
        if len(eligible) >= SIZE:
            assert trending is not None and len(trending[1]) == SIZE  # rows full when the catalog allows
        if pin is not None and products[pin[0]] in eligible:  # a pinned, eligible product is at its place
            # (the row's end when the row is shorter: few products of the shopper's gender are left)
            assert trending[1].index(products[pin[0]].pk) == min(pin[1], len(trending[1])) - 1
    finally:
        Rule.objects.all().delete()


@pytest.mark.django_db
def test_staff_save_a_rule_in_the_admin_and_the_preview_marks_what_it_changed(shop, admin_client):
    pinned, hidden = shop["women"][20], shop["women"][1]
    assert admin_client.get("/admin/merchandising/rule/add/").status_code == 200
    response = admin_client.post("/admin/merchandising/rule/add/", {
        "name": "Launch", "action": "pin", "is_enabled": "on", "starts_at_0": "2020-01-01", "starts_at_1": "00:00:00",
        "surfaces": ["home"], "row": "home.trending", "product": pinned.pk, "position": 1, "max_cards": 3, "factor": 2,
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    recall = Rule.objects.create(name="Recall", action="hide", surfaces=["home"])
    recall.products.add(hidden)
    women = Visitor.objects.create(gender_preference=Gender.WOMEN)
    [(_, products, _)] = [row for row in page(women) if row[0] == "home.trending"]
    assert products[0] == pinned.pk and hidden.pk not in products
    html = admin_client.get("/admin/merchandising/rule/preview/", {"gender": "women"}).content.decode()
    assert "placed by the pin rule “Launch”" in html and "hidden by the rule “Recall”" in html
    bad = admin_client.get("/admin/merchandising/rule/preview/", {"shopper": "nobody-at-all"})
    assert bad.status_code == 200 and "No customer or visitor" in bad.content.decode()


@pytest.mark.django_db
def test_a_rule_that_cannot_work_is_refused_with_a_reason(shop):
    from django.core.exceptions import ValidationError

    for fields, message in (
        ({"action": "pin"}, "A pin needs a product and a position."),
        ({"action": "boost", "factor": 0.5, "article_types": ["Dress"]}, "above 1"),
        ({"action": "bury", "factor": 2.0, "article_types": ["Dress"]}, "below 1"),
        ({"action": "hide", "price_min": 20, "price_max": 10}, "below its bottom"),
    ):
        with pytest.raises(ValidationError, match=message):
            Rule(name="x", surfaces=["home"], **fields).full_clean()


@pytest.mark.django_db
def test_on_the_product_page_a_hidden_product_leaves_its_list_and_a_pin_is_recorded_as_the_rules(shop, client):
    from experiments.models import Impression
    from experiments.services import impressions

    dress = shop["women"][0]
    colours = [ProductFactory(product_group="G1", article_type="Dress", name=f"Colour {n}") for n in range(3)]
    dress.product_group = "G1"
    dress.save()
    before = client.get(f"/products/{dress.pk}/").context["colours"]
    assert {card.pk for card in before} == {p.pk for p in colours}
    rule = Rule.objects.create(name="Recall a colour", action="hide", surfaces=["product"])
    rule.products.add(colours[0])
    pin = Rule.objects.create(name="Goes with", action="pin", surfaces=["product"], row="product.goes_with",
                              product=shop["women"][5], position=1)  # fmt: skip
    page_after = client.get(f"/products/{dress.pk}/")
    assert {card.pk for card in page_after.context["colours"]} == {colours[1].pk, colours[2].pk}
    assert [card.pk for card in page_after.context["goes_with"]][:1] == [shop["women"][5].pk]
    assert client.get(f"/products/{colours[0].pk}/").status_code == 200  # hidden from lists, not from the shop
    impressions.buffer.flush()
    sources = {tuple(i.sources) for i in Impression.objects.filter(row="product.goes_with")}
    assert (f"rule:{pin.pk}",) in sources  # the impression says which rule placed the card


@pytest.mark.django_db
def test_staff_write_rules_through_the_api_and_shoppers_cannot(shop):
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    staff = get_user_model().objects.create_user("merch", password="x-long-password-1", is_staff=True)
    shopper = get_user_model().objects.create_user("shopper", password="x-long-password-1")
    api = APIClient()
    api.force_authenticate(shopper)
    assert api.get("/api/v1/merchandising/rules/").status_code == 403
    api.force_authenticate(None)
    assert api.post("/api/v1/merchandising/rules/", {}, format="json").status_code in (401, 403)
    api.force_authenticate(staff)
    hidden = shop["women"][0]
    made = api.post("/api/v1/merchandising/rules/", {"name": "Recall", "action": "hide", "surfaces": ["home"],
                                                     "products": [hidden.pk]}, format="json")  # fmt: skip
    assert made.status_code == 201, made.json()
    assert hidden.pk not in ids(page(Visitor.objects.create(gender_preference=Gender.WOMEN)))
    bad = api.post("/api/v1/merchandising/rules/", {"name": "Pin", "action": "pin", "surfaces": ["home"]},
                   format="json")  # fmt: skip
    assert bad.status_code == 400 and "pin needs a product" in str(bad.json())
    wrong = api.patch(f"/api/v1/merchandising/rules/{made.json()['id']}/", {"surfaces": ["moon"]}, format="json")
    assert wrong.status_code == 400 and "surfaces" in wrong.json()
    assert api.delete(f"/api/v1/merchandising/rules/{made.json()['id']}/").status_code == 204
    assert hidden.pk in ids(page(Visitor.objects.create(gender_preference=Gender.WOMEN)))
    schema = api.get("/api/v1/schema/", {"format": "json"}).json()
    assert "/api/v1/merchandising/rules/" in schema["paths"]


def scoped(visitor: Visitor, article_type: str = "Dress", department: str = "") -> list:
    from catalog.categories import CategoryFilter
    from merchandising.selectors.rules import Anchor
    from recommendations.selectors.categories import scoped_row

    chosen = CategoryFilter(article_type=article_type, department=department)
    row = scoped_row(user_id=None, visitor=visitor, scope=chosen.condition(), scope_key=repr(chosen), title="In",
                     anchor=Anchor(department, article_type))  # fmt: skip
    return [(card.product_id, card.strategy) for card in row.cards]


def searched(visitor: Visitor, query: str) -> tuple[list[int], dict[int, str]]:
    from recommendations.selectors.search import search_served

    results = search_served(query=query, user_id=None, visitor=visitor)
    return results.product_ids, results.placed


@pytest.mark.django_db
def test_on_a_category_page_a_hide_leaves_the_row_full_and_a_pin_places_only_within_the_category(shop):
    women = Visitor.objects.create(gender_preference=Gender.WOMEN)
    dresses = [p for p in shop["women"] if p.article_type == "Dress"]
    before = scoped(women)
    assert len(before) == SIZE and {pid for pid, _ in before} <= {p.pk for p in dresses}
    recall = Rule.objects.create(name="Recall", action="hide", surfaces=["category"])
    recall.products.add(dresses[0])
    launch = Rule.objects.create(name="Launch", action="pin", surfaces=["category"], product=dresses[7], position=2)
    Rule.objects.create(name="A top", action="pin", surfaces=["category"], product=shop["women"][1], position=1)
    after = scoped(women)
    assert len(after) == SIZE  # what the hide took out was replaced by the next dress
    assert dresses[0].pk not in [pid for pid, _ in after]
    assert after[1] == (dresses[7].pk, f"rule:{launch.pk}")
    assert shop["women"][1].pk not in [pid for pid, _ in after]  # a top is not pinned among the dresses
    # A rule scoped to another type's pages leaves this one alone; the homepage ignores category rules.
    Rule.objects.all().delete()
    Rule.objects.create(name="Trousers' page", action="hide", surfaces=["category"], article_types=["Dress"],
                        scope_article_types=["Trousers"])  # fmt: skip
    assert scoped(women) == before


@pytest.mark.django_db
def test_in_search_a_hide_removes_a_match_a_pin_lifts_one_and_never_adds_what_was_not_found(shop):
    women = Visitor.objects.create(gender_preference=Gender.WOMEN)
    found, placed = searched(women, "dress")
    dresses = {p.pk for p in shop["women"] if p.article_type == "Dress"}
    assert found and set(found) <= dresses and not placed
    last, first = found[-1], found[0]
    recall = Rule.objects.create(name="Recall", action="hide", surfaces=["search"])
    recall.products.add(first)
    lift = Rule.objects.create(name="Lift", action="pin", surfaces=["search"], product_id=last, position=1)
    Rule.objects.create(name="Off topic", action="pin", surfaces=["search"], product=shop["women"][1], position=2)
    after, placed = searched(women, "dress")
    assert after[0] == last and placed == {last: f"rule:{lift.pk}"}
    assert first not in after and shop["women"][1].pk not in after
    assert sorted(after) == sorted(set(found) - {first})  # nothing added, nothing else lost
    # Ordered by relevance alone, the shopper's order is not asked for: no rule acts.
    from recommendations.selectors.search import search_served

    assert first in search_served(query="dress", user_id=None, visitor=women, personalise=False).product_ids


@pytest.mark.django_db
def test_a_rule_scoped_to_a_department_acts_on_its_products_pages_and_the_api_lists_follow_the_page(shop, client):
    dress, top = shop["women"][0], shop["women"][1]
    Product = type(dress)
    Product.objects.filter(pk=dress.pk).update(department="Dresses")
    pin = Rule.objects.create(name="With dresses", action="pin", surfaces=["product"], row="product.similar",
                              product=shop["women"][5], position=1, scope_departments=["Dresses"])  # fmt: skip
    on_dress = client.get(f"/products/{dress.pk}/").context["similar"]
    assert [card.pk for card in on_dress.products][:1] == [shop["women"][5].pk]
    assert shop["women"][5].pk not in [
        card.pk for card in client.get(f"/products/{top.pk}/").context["similar"].products
    ]
    # Scoped to the product's category (the factory's "Garment Upper body"), and to another one.
    Rule.objects.create(name="Shoes only", action="pin", surfaces=["product"], row="product.colours",
                        product=shop["women"][6], position=1, scope_categories=["Shoes"])  # fmt: skip
    Rule.objects.create(name="Upper body", action="pin", surfaces=["product"], row="product.also_bought",
                        product=shop["women"][9], position=1, scope_categories=["Garment Upper body"])  # fmt: skip
    page = client.get(f"/products/{top.pk}/").context
    assert [card.pk for card in page["also_bought"]][:1] == [shop["women"][9].pk]
    assert shop["women"][6].pk not in [card.pk for card in page["colours"]]
    api = client.get(f"/api/v1/products/{dress.pk}/similar/", {"k": 3}).json()
    assert [item["id"] for item in api][:1] == [shop["women"][5].pk] and api[0]["distance"] == 1.0
    assert pin.pk
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="product and category pages only"):
        Rule(name="x", action="hide", surfaces=["home"], article_types=["Dress"], scope_departments=["Dresses"]).clean()


@pytest.mark.django_db
def test_the_preview_shows_any_surface_with_and_without_the_rules(shop, admin_client):
    dresses = [p for p in shop["women"] if p.article_type == "Dress"]
    Rule.objects.create(name="Launch", action="pin", surfaces=["product", "category", "search"],
                        product=dresses[7], position=1)  # fmt: skip
    for params in ({"surface": "product", "product": dresses[0].pk}, {"surface": "category", "article_type": "Dress"},
                   {"surface": "search", "q": "dress"}):  # fmt: skip
        html = admin_client.get("/admin/merchandising/rule/preview/", {"gender": "women", **params}).content.decode()
        assert "placed by the pin rule “Launch”" in html, params
    bad = admin_client.get("/admin/merchandising/rule/preview/", {"surface": "product", "product": "x"})
    assert "Name an active product" in bad.content.decode()
    # The offline cost of a promote rule, from the newest evaluation that measured one.
    from recommendations.models import EvaluationReport

    interval = {"difference": -0.0123, "low": -0.02, "high": -0.004}
    EvaluationReport.objects.create(data={"time_split": {"promotion": {
        "rule": {"days": 1, "max_cards": 3, "new_arrivals": 900},
        "vs_homepage": {"new": {"map": interval, "recall": interval}}}}})  # fmt: skip
    html = admin_client.get("/admin/merchandising/rule/preview/").content.decode()
    assert "changed MAP@12 by" in html and "-0.0123 [-0.0200, -0.0040] for new shoppers" in html


def test_a_promotion_counts_a_match_already_shown_and_still_fills_its_share():
    """Known answer, without a database (the rules and the facts handed in, as the evaluation does):
    the newest match is already fifth in the row, so it counts once, and the next two newest join it."""
    from merchandising.selectors.rules import CompiledRule
    from recommendations.selectors.merchandise import rows_merchandised
    from recommendations.selectors.rows import Card, Row
    from recommendations.selectors.sources import ProductFacts

    row = Row("home.trending", "Trending", [Card(pid, "trending", "", 0.0) for pid in (1, 2, 3, 4, 5, 6)])
    rule = CompiledRule(pk=7, name="New", action="promote", surfaces=frozenset({"home"}), row="",
                        genders=frozenset(), matching=frozenset({5, 10, 11, 12}), candidates=(5, 10, 11, 12),
                        max_cards=3)  # fmt: skip

    def facts_of(ids):
        return {pid: ProductFacts(True, "women", "Dress", "", f"g{pid}") for pid in ids}

    rows_merchandised([row], surface="home", genders=None, exclude=set(), values=None, size=6, fill=False,
                      in_force=[rule], facts_of=facts_of)  # fmt: skip
    shown = [card.product_id for card in row.cards]
    assert len(shown) == 6 and len(set(shown)) == 6
    assert {pid for pid in shown if pid in rule.matching} == {5, 10, 11}
    assert [card.strategy for card in row.cards if card.product_id in (10, 11)] == ["rule:7", "rule:7"]


@pytest.mark.django_db
def test_a_search_that_found_nothing_shows_no_hidden_best_seller_and_a_rule_alone_shows_no_category_row(shop, client):
    import dataclasses

    from catalog.search import TextResults
    from recommendations.selectors.generation import serving_values
    from recommendations.selectors.search import SearchResults, _merchandised

    fallback = [p.pk for p in shop["women"][:6]]
    results = SearchResults(
        TextResults(query="xyzzy", searched="xyzzy", corrections={}, matches=[], all_words=False),
        [],
        "",
        "Dress",
        fallback,
    )
    recall = Rule.objects.create(name="Recall", action="hide", surfaces=["search"])
    recall.products.add(shop["women"][0])
    shown = _merchandised(results, "", serving_values())
    assert shown.fallback_ids == fallback[1:] and shown.product_ids == []
    assert dataclasses.replace(results).fallback_ids == fallback  # the kept results are not changed
    # A category page's row for a new visitor is the listing's best sellers, so it is not shown; a pin
    # there does not make it the shopper's own.
    Rule.objects.create(name="Launch", action="pin", surfaces=["category"], product=shop["women"][21], position=1)
    assert client.get("/shop/", {"article_type": "Dress"}).context["row"] is None


@pytest.mark.django_db
def test_the_preview_answers_odd_input_with_a_reason(shop, admin_client):
    for params in ({"surface": "product", "product": "²"}, {"surface": "product", "product": "99999999999999999999"},
                   {"surface": "moon"}, {"surface": "search"}, {"surface": "category"}):  # fmt: skip
        response = admin_client.get("/admin/merchandising/rule/preview/", params)
        assert response.status_code == 200, params
        assert 'class="errornote"' in response.content.decode(), params
