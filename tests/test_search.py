"""Search: PostgreSQL full-text over a stored vector, misspellings corrected, re-ordered for the
shopper, logged for staff; the page, the API and a real browser."""

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from catalog.models import Gender, Product, SearchTerm
from catalog.search import corrections_for, nearest_category, normalise, text_search, vocabulary_forget
from recommendations.models import TrendingScore
from recommendations.ranker.history import shoppers_from_events
from recommendations.ranker.training import ranker_fit
from recommendations.selectors.search import blend_orders
from tests.factories import ProductFactory, ProductImageFactory
from tests.test_ranker import synthetic_log

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_vocabulary():
    vocabulary_forget()  # each test's catalog is its own
    yield
    vocabulary_forget()


def shop() -> dict[str, Product]:
    make = ProductFactory
    return {
        "black_trousers": make(name="Slim fit chinos", article_type="Trousers", colour="Black"),
        "blue_trousers": make(name="Wide leg pants", article_type="Trousers", colour="Blue"),
        "black_dress": make(name="Evening dress", article_type="Dress", colour="Black"),
        "sold_out": make(name="Cargo chinos", article_type="Trousers", colour="Black", stock_quantity=0),
        "mens": make(name="Straight chinos", article_type="Trousers", colour="Black", gender=Gender.MEN),
        "cardigan": make(name="Soft knit", article_type="Cardigan", colour="Grey", description="Wool and cotton."),
    }


def found(query: str, **kwargs) -> list[int]:
    return [match.product_id for match in text_search(query, **kwargs).matches]


def test_every_word_must_match_and_the_name_and_type_weigh_most():
    products = shop()
    assert found("trousers black") == sorted(
        [products["black_trousers"].pk, products["sold_out"].pk, products["mens"].pk]
    )  # three equally relevant, in catalog order
    black = ["black_trousers", "black_dress", "sold_out", "mens"]
    assert found("black") == [products[name].pk for name in black]  # the colour alone: all weigh the same
    assert found("wool")[0] == products["cardigan"].pk  # the description counts too
    # A word in the name outranks the same word in the description.
    ProductFactory(name="Wool scarf", article_type="Scarf", colour="Red")
    assert Product.objects.get(pk=found("wool")[0]).name == "Wool scarf"


def test_when_no_product_has_every_word_the_best_partial_matches_come_back():
    products = shop()
    results = text_search("grey trousers")
    assert not results.all_words and products["cardigan"].pk in [m.product_id for m in results.matches]


def test_the_stored_vector_follows_every_write_without_a_recompute():
    products = shop()
    Product.objects.filter(pk=products["cardigan"].pk).update(name="Mohair cardigan")  # not even save()
    assert found("mohair") == [products["cardigan"].pk]
    assert found("soft knit") == []


def test_a_misspelt_word_becomes_the_catalog_word_nearest_to_it():
    products = shop()
    results = text_search("trosers blak")
    assert results.corrections == {"trosers": "trousers", "blak": "black"}
    assert [m.product_id for m in results.matches] == found("trousers black")
    assert corrections_for(["chinos", "cardigen", "zzzzzzzz"]) == {"cardigen": "cardigan"}
    assert found("blak", within=Q(pk=products["black_dress"].pk)) == [products["black_dress"].pk]


def test_nearest_category_and_normalise():
    shop()
    assert nearest_category("cardigens") == "Cardigan"
    assert nearest_category("qqqqqq") == ""
    assert normalise("  Trousers,   BLACK!! ") == "trousers black"


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=40))
def test_the_blend_keeps_text_order_at_weight_zero_and_the_shoppers_at_one(scores):
    ids = list(range(100, 100 + len(scores)))
    relevance = np.linspace(1.0, 0.5, len(ids))  # text order: falling relevance
    assert blend_orders(ids, relevance, np.array(scores), 0.0) == ids
    by_score = blend_orders(ids, relevance, np.array(scores), 1.0)
    assert [scores[i - 100] for i in by_score] == sorted(scores, reverse=True)
    # Equal scores never reorder the text's order; equal relevance leaves it to the shopper.
    assert blend_orders(ids, relevance, np.zeros(len(ids)), 0.7) == ids
    assert blend_orders(ids, np.ones(len(ids)), np.array(scores), 0.3) == by_score


def test_the_rankers_score_of_any_product_is_its_score_as_a_candidate():
    """score_products computes the same features as the homepage's pool: on the pool's own
    candidates it gives exactly the scores rank() gives them."""
    products, train, expected = synthetic_log("co_bought")
    fit = ranker_fit(products, train)
    shopper = shoppers_from_events(products, train)[next(iter(expected))]
    pool, scores = fit.rank(shopper, repurchases=True)
    ids = [int(fit.table.ids[row]) for row in pool.rows]
    assert np.allclose(fit.score_products(shopper, ids), scores)
    assert fit.score_products(shopper, [999_999])[0] == -np.inf  # newer than the model


def test_search_puts_what_the_ranker_expects_the_shopper_to_buy_first():
    """In a world where shoppers buy the partner of their purchase next, a search whose matches hold
    that partner among others of its type shows it first for the shopper, and in text order (catalog
    order, since all match equally) without personalising."""
    from recommendations.selectors.search import shopper_scores

    products, train, expected = synthetic_log("co_bought")
    fit = ranker_fit(products, train)
    shoppers = shoppers_from_events(products, train)
    first_personal, first_text = 0, 0
    for key, partner in expected.items():
        row = products.index[partner]
        same_type = [
            int(pid) for r, pid in enumerate(products.ids) if products.article_type[r] == products.article_type[row]
        ]
        scores, by = shopper_scores(shoppers[key], same_type, fit=fit)
        assert by == "ranker"
        first_personal += blend_orders(same_type, np.ones(len(same_type)), scores, 0.5)[0] == partner
        first_text += same_type[0] == partner
    assert first_personal == len(expected) and first_text < len(expected) / 2


# --- The page and the API -------------------------------------------------------------------------


def test_the_page_corrects_filters_and_orders_for_a_new_visitor_by_what_sells(client):
    products = shop()
    TrendingScore.objects.create(product=products["black_trousers"], score=1.0)
    later = ProductFactory(name="Relaxed chinos", article_type="Trousers", colour="Black")
    TrendingScore.objects.create(product=later, score=50.0)
    page = client.get(reverse("search"), {"q": "Trosers Blak"})
    html = page.content.decode()
    shown = [card.pk for card, _ in page.context["cards"]]
    assert "Showing results for" in html and "trousers black" in html
    assert shown == [later.pk, products["black_trousers"].pk, products["mens"].pk]  # the best seller first
    assert products["sold_out"].pk not in shown  # the hard filters
    plain = client.get(reverse("search"), {"q": "Trosers Blak", "order": "relevance"})
    assert [card.pk for card, _ in plain.context["cards"]] == [products["black_trousers"].pk, products["mens"].pk,
                                                               later.pk]  # fmt: skip
    assert 'data-strategy="search.popularity"' in html  # a click on a result is logged as search


def test_a_chosen_gender_filters_search_but_an_inferred_one_does_not(client):
    products = shop()
    client.post(reverse("gender-choose"), {"gender": Gender.WOMEN})
    shown = {card.pk for card, _ in client.get(reverse("search"), {"q": "chinos"}).context["cards"]}
    assert products["mens"].pk not in shown and products["black_trousers"].pk in shown


def test_nothing_found_offers_best_sellers_and_is_logged_for_staff(client, admin_client):
    products = shop()
    TrendingScore.objects.create(product=products["black_dress"], score=9.0)
    page = client.get(reverse("search"), {"q": "qwertyuiop"})
    assert "Nothing matches" in page.content.decode()
    assert [card.pk for card, _ in page.context["cards"]][0] == products["black_dress"].pk
    client.get(reverse("search"), {"q": "Trousers  BLACK"})
    client.get(reverse("search"), {"q": "trousers black", "page": 1})
    client.get(reverse("search"), {"q": "trousers black", "page": 2})  # a later page is not a new search
    terms = {term.query: term for term in SearchTerm.objects.all()}
    assert terms["trousers black"].searches == 2 and terms["trousers black"].last_results == 2
    assert terms["qwertyuiop"].searches_without_results == 1
    listing = admin_client.get("/admin/catalog/searchterm/?found=none").content.decode()
    assert "qwertyuiop" in listing and "trousers black" not in listing
    assert client.get("/admin/catalog/searchterm/").status_code == 302  # shoppers: the sign-in page


def test_the_api_searches_for_the_caller_and_says_how():
    from rest_framework.test import APIClient

    products = shop()
    api = APIClient()
    assert api.get("/api/v1/search/").status_code == 400
    body = api.get("/api/v1/search/", {"q": "trosers", "page_size": 1}).json()
    assert body["corrections"] == {"trosers": "trousers"} and body["count"] == 3 and len(body["results"]) == 1
    assert body["personalised_by"] == "popularity"
    assert api.get("/api/v1/search/", {"q": "trosers", "order": "relevance"}).json()["personalised_by"] == ""
    assert api.get("/api/v1/search/", {"q": "x", "page_size": 500}).status_code == 400
    none = api.get("/api/v1/search/", {"q": "qwertyuiop"}).json()
    assert none["count"] == 0 and none["fallback"][0]["id"] in {p.pk for p in products.values()}


def test_a_signed_in_shoppers_search_reads_their_history(client):
    """Only one's own history orders one's results: a user who bought a black dress, searching
    "black", sees it placed by the visual-and-sales order, and the query names no one else."""
    user = get_user_model().objects.create_user("searcher", password="pw-long-enough-1")
    shop()
    client.force_login(user)
    page = client.get(reverse("search"), {"q": "black"})
    assert page.status_code == 200 and page.context["results"].personalised_by in ("popularity", "visual", "ranker")


def test_search_answers_within_a_bounded_number_of_queries(client, django_assert_max_num_queries):
    shop()
    client.get(reverse("search"), {"q": "chinos"})  # reads the vocabulary once per process
    # Session-less visitor, history, text search, serving generation, trending, query log, cards.
    with django_assert_max_num_queries(8):
        client.get(reverse("search"), {"q": "chinos"})


def test_in_chromium_a_misspelt_type_in_the_search_box_finds_it(live_server, browser, transactional_db):
    products = shop()
    ProductImageFactory(product=products["cardigan"])
    page = browser.new_page()
    page.goto(live_server.url + "/")
    page.get_by_role("searchbox", name="Search products").fill("cardigen")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search/?q=cardigen")
    assert "Showing results for" in page.locator("#corrected").inner_text()
    assert page.locator(f"#search-results [data-product-id='{products['cardigan'].pk}']").count() == 1


def test_the_evaluation_of_search_finds_what_rebuyers_buy_again_first():
    """Known answer: shoppers buy again what they bought the day before. Searching its type and colour
    (several products match, all equally), the order as served puts their own product first; text
    alone and text + best sellers cannot know it."""
    from types import SimpleNamespace

    from recommendations.evaluation.search import evaluate_search

    products, train, expected = synthetic_log("rebuy")
    for row, pid in enumerate(products.ids):
        ProductFactory(pk=int(pid), name=f"product {row}", article_type=products.article_type[row],
                       colour=products.colour[row], stock_quantity=5)  # fmt: skip
    fit = ranker_fit(products, train)
    catalog = SimpleNamespace(index=products.index, article_type=products.article_type, colour=products.colour,
                              available=np.ones(len(products.ids), dtype=bool))  # fmt: skip
    fitted = SimpleNamespace(catalog=catalog, shoppers=shoppers_from_events(products, train))
    held_out = {key: {pid} for key, pid in expected.items()}
    result = evaluate_search(fitted, fit, held_out)
    returning = result["segments"]["returning"]
    assert returning["purchases"] == len(expected) and returning["found"] == 1.0
    assert returning["mrr"]["personal_0.9"] == 1.0
    # Five products match each query: text alone finds the right one first by chance of its id.
    assert returning["mrr"]["text"] < 0.8 and returning["mrr"]["sales_0.9"] < 0.9
    assert returning["personal_vs_text"]["low"] > 0 and returning["personal_vs_sales"]["low"] > 0


def test_a_repeated_search_comes_from_the_cache_yet_never_shows_what_sold_out(client, django_assert_max_num_queries):
    products = shop()
    first = [card.pk for card, _ in client.get(reverse("search"), {"q": "chinos"}).context["cards"]]
    assert products["black_trousers"].pk in first
    Product.objects.filter(pk=products["black_trousers"].pk).update(stock_quantity=0)
    # The session, the visitor's serving state, the filters, the query log, the cards: no text search.
    with django_assert_max_num_queries(6):
        again = [card.pk for card, _ in client.get(reverse("search"), {"q": "chinos"}).context["cards"]]
    assert again == [pk for pk in first if pk != products["black_trousers"].pk]
    # A renamed product is a new text: it reaches this cached search only when the entry expires,
    # but a new event of the shopper orders the next search afresh (a new key).
    client.get(reverse("product-detail", args=[products["cardigan"].pk]))
    Product.objects.filter(pk=products["cardigan"].pk).update(name="Knitted chinos jacket")
    assert products["cardigan"].pk in [
        card.pk for card, _ in client.get(reverse("search"), {"q": "chinos"}).context["cards"]
    ]


def test_a_query_that_looks_like_personal_data_is_not_logged_and_no_one_sees_anothers_words(client):
    shop()
    client.get(reverse("search"), {"q": "jane.doe@example.com chinos"})
    client.get(reverse("search"), {"q": "chinos 07700 900123"})
    assert not SearchTerm.objects.exists()
    from rest_framework.test import APIClient

    APIClient().get("/api/v1/search/", {"q": "ALICE chinos"})  # kept under "alice chinos"
    body = APIClient().get("/api/v1/search/", {"q": "alice chinos"}).json()
    assert body["query"] == "alice chinos"


def test_the_search_log_forgets_what_nobody_searched_for_in_a_while(settings):
    from datetime import timedelta

    from django.utils import timezone

    from catalog.tasks import search_log_prune
    from workers.celery import app

    now = timezone.now()
    SearchTerm.objects.create(query="old", searches=3, first_searched_at=now - timedelta(days=200),
                              last_searched_at=now - timedelta(days=91))  # fmt: skip
    SearchTerm.objects.create(query="recent", searches=1, first_searched_at=now - timedelta(days=200),
                              last_searched_at=now - timedelta(days=89))  # fmt: skip
    settings.SEARCH_LOG_KEEP_DAYS = 90
    assert search_log_prune() == 1
    assert list(SearchTerm.objects.values_list("query", flat=True)) == ["recent"]
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "catalog.tasks.search_log_prune" in scheduled
