"""After one click: the after-a-click ranker on synthetic baskets whose right answer is known, what
the store serves with it (the homepage, the product page, in Chromium), one row per product on a
page, the evaluation's one-click task, and proof that nothing of it reads the test days."""

import pickle
import random
from datetime import timedelta

import numpy as np
import pytest
from django.core.management import call_command
from django.urls import reverse

from catalog.models import Product
from recommendations.models import Interaction, RankerModel, Visitor
from recommendations.ranker import clicks
from recommendations.ranker.history import Event
from recommendations.ranker.items import TEXT_MIN_SIMILARITY, ItemTable, item_table
from recommendations.ranker.text import TEXT_TERMS, text_vectors
from recommendations.ranker.training import ranker_fit
from tests.test_ranker import DAY0, POPULAR, synthetic_log

PAIRS = 25  # product row r (r < 25) is bought with row r + 25 in the "pairs" world


def basket_log(world: str, *, days: int = 5, seed: int = 0):
    """The ranker's "rebuy" log (returning shoppers, the crowd's favourites) plus, each day, 60
    two-product baskets of a product of rows 0..24 and, depending on ``world``:
    ``pairs``: always its partner, row + 25 (another product group, another article type);
    ``random``: one of the crowd's favourites, whichever product the basket started with."""
    products, events, _ = synthetic_log("rebuy", days=days, seed=seed)
    rng = random.Random(seed + 1)
    pid = [int(p) for p in products.ids]
    for day in range(days - 1):
        at = DAY0 + timedelta(days=day)
        for n in range(60):
            row = rng.randrange(PAIRS)
            other = row + PAIRS if world == "pairs" else rng.choice(POPULAR)
            events += [Event(("basket", day, n), pid[r], "purchase", at) for r in (row, other)]
    events.sort(key=lambda event: event.at)
    return products, events


def test_where_every_basket_holds_a_fixed_pair_a_view_of_one_shows_the_other_first():
    products, events = basket_log("pairs")
    fitted = ranker_fit(products, events)
    assert fitted.clicks is not None and fitted.figures["clicks"]["baskets"] > 0
    table = fitted.table
    for row in range(PAIRS):
        ranked = fitted.clicks.rank_anchors(table, [row])
        assert ranked[0].product_id == int(products.ids[row + PAIRS]), row
        assert ranked[0].source == "also_bought" and ranked[0].anchor == int(products.ids[row])
        assert int(products.ids[row]) not in [c.product_id for c in ranked]  # never what was just seen


def test_the_model_serves_only_where_it_beat_the_heuristic_in_its_validation():
    products, events = basket_log("pairs")
    fitted = ranker_fit(products, events)
    validation = fitted.figures["clicks"]["validation"]
    assert validation["map"] > validation["heuristic_map"] and fitted.clicks.serves
    ids = lambda candidates: [c.product_id for c in candidates]  # noqa: E731
    assert ids(fitted.goes_with([4])) == ids(fitted.clicks.rank_anchors(fitted.table, [4]))
    fitted.clicks.figures["serves"] = False  # as click_fit marks a model that validated worse
    assert ids(fitted.goes_with([4])) == ids(clicks.click_heuristic(fitted.table, [4]))


def test_where_baskets_are_random_the_ranker_falls_back_to_the_best_sellers():
    """The rest of every basket is one of the crowd's favourites, whatever was looked at: the model
    learns to put the best sellers first. The heuristic would show the product's other colours
    first, which nobody ever bought with it."""
    products, events = basket_log("random")
    fitted = ranker_fit(products, events)
    favourites = {int(products.ids[row]) for row in POPULAR}
    for row in range(PAIRS):
        top = [c.product_id for c in fitted.clicks.rank_anchors(fitted.table, [row])[:3]]
        assert set(top) <= favourites, (row, top)
        heuristic = clicks.click_heuristic(fitted.table, [row])
        assert heuristic[0].source == "same_product"  # the sceptic's order, which the model beat


def test_the_sources_propose_colours_baskets_and_best_sellers_and_the_heuristic_keeps_that_order():
    products, events = basket_log("pairs")
    table = item_table(products, events)
    row = 3  # group g1: rows 3, 4, 5
    proposals = clicks.click_proposals(table, [row])
    assert {4, 5} <= {p for p, proposal in proposals.items() if "same_product" in proposal.scores}
    # P(row 28 | row 3) over shopper-days: the pair baskets among all the days anyone bought row 3.
    days: dict = {}
    for event in events:
        days.setdefault((event.shopper, event.at.date()), set()).add(table.index[event.product_id])
    holding = [rows for rows in days.values() if row in rows]
    expected = sum(row + PAIRS in rows for rows in holding) / len(holding)
    assert 0 < expected < 1 and proposals[row + PAIRS].scores["basket"] == pytest.approx(expected)
    assert table.basket(row)[0][0] == row + PAIRS  # its strongest neighbour
    heuristic = [c.product_id for c in clicks.click_heuristic(table, [row])]
    ids = [int(pid) for pid in products.ids]
    assert set(heuristic[:2]) == {ids[4], ids[5]} and heuristic[2] == ids[row + PAIRS]
    assert clicks.click_heuristic(table, []) == []  # nothing looked at: nothing goes with it


def test_the_heuristic_breaks_a_tie_of_co_purchases_in_favour_of_what_sells():
    """Row 0 was bought once with row 40 and once with row 30 (another group each): the same count,
    the same P(other | row 0). Row 40 also sold alone four times, so it comes first, although a tie
    by row would put row 30 first."""
    products, _ = basket_log("pairs")
    pid = [int(p) for p in products.ids]
    events = [Event(("a", 0), pid[0], "purchase", DAY0), Event(("a", 0), pid[30], "purchase", DAY0),
              Event(("b", 0), pid[0], "purchase", DAY0), Event(("b", 0), pid[40], "purchase", DAY0)]  # fmt: skip
    events += [Event(("c", n), pid[40], "purchase", DAY0) for n in range(4)]
    table = item_table(products, events)
    assert table.group[40] != table.group[0] != table.group[30] and table.sold_decayed[40] > table.sold_decayed[30]
    partners = [c.product_id for c in clicks.click_heuristic(table, [0]) if c.source == "also_bought"]
    assert partners[:2] == [pid[40], pid[30]]


def heuristic_by_definition(table, anchors: list[int]) -> list[tuple]:
    """click_heuristic as written before it read the proposals as arrays: a proposal at a time."""
    scored = []
    for proposal in clicks.click_proposals(table, anchors).values():
        tier = next((source for source in clicks.HEURISTIC_TIERS if source in proposal.scores), None)
        if tier is not None:
            scored.append((clicks.HEURISTIC_TIERS[tier] + min(proposal.scores[tier], 0.999), proposal, tier))
    # Equal scores: the tier's own order (its best rank), then the row.
    scored.sort(key=lambda item: (-item[0], item[1].ranks[item[2]], item[1].row))
    return [(int(table.ids[p.row]), score, clicks._STRATEGY[tier], int(table.ids[p.anchor]) if p.anchor >= 0 else None)
            for score, p, tier in scored]  # fmt: skip


def test_the_heuristic_from_the_proposals_arrays_is_the_one_defined_a_proposal_at_a_time():
    products, events = basket_log("pairs")
    table = item_table(products, events)
    histories = [[row] for row in range(len(products.ids))] + [[3, 28], [28, 3, 4], [0, 1, 2, 3]]
    for anchors in histories:
        got = [(c.product_id, c.score, c.source, c.anchor) for c in clicks.click_heuristic(table, anchors)]
        assert got == heuristic_by_definition(table, anchors), anchors
    assert any(len({c[2] for c in heuristic_by_definition(table, anchors)}) == 3 for anchors in histories)


def test_text_vectors_are_unit_rows_of_a_few_shared_words():
    names = ["Idro bikini top", "Idro bikini bottom", "Basic tee", "Basic tee", "Zz9"]
    descriptions = ["Lined triangle top in recycled nylon", "Lined briefs in recycled nylon", "", "", ""]
    text = text_vectors(names, descriptions)
    assert text.shape[0] == 5 and text.nnz
    norms = np.sqrt(np.asarray(text.multiply(text).sum(axis=1)).ravel())
    assert norms[:4] == pytest.approx(1.0) and norms[4] == 0  # no word shared with another product
    assert (np.diff(text.indptr) <= TEXT_TERMS).all()
    assert (text[0] @ text[1].T).toarray()[0, 0] > (text[0] @ text[2].T).toarray()[0, 0] == 0
    assert text_vectors(["a", "b"], ["", ""]).shape == (2, 0)  # no word in two products: no vectors
    many = text_vectors([" ".join(f"word{i}" for i in range(40))] * 2, ["", ""])
    assert (np.diff(many.indptr) == TEXT_TERMS).all()  # the heaviest terms only


def test_a_product_of_the_same_line_in_another_group_is_proposed_by_its_words_and_survives_storage():
    """Row 0 and row 20 are never bought together and belong to different groups, but their names
    and descriptions share a line's words: the text source proposes row 20 first after a view of row
    0, never row 0's own colours (their source), and a stored table keeps its words."""
    products, events = basket_log("random")
    products.name[0], products.description[0] = "Idro bikini top", "Lined triangle top, recycled nylon"
    products.name[20], products.description[20] = "Idro bikini bottom", "Lined briefs, recycled nylon"
    table = item_table(products, events)
    assert table.sold_decayed[20] > 0 and row_pair_bought(events, products, 0, 20) is False
    rows, similarity = table.reads_like_selling(0, 10)
    assert rows[0] == 20 and similarity[0] >= similarity[-1] and similarity[-1] >= TEXT_MIN_SIMILARITY
    assert not set(rows.tolist()) & {0, 1, 2}  # itself and its other colours (group g0)
    proposals = clicks.click_proposals(table, [0])
    assert "text" in proposals[20].scores and proposals[20].ranks["text"] == 0
    pool = clicks.click_pool(table, [0])
    position = pool.rows.tolist().index(20)
    assert pool.features[position, clicks.CLICK_FEATURES.index("text_similarity")] == pytest.approx(similarity[0])
    stored = ItemTable.from_bytes(table.to_bytes())
    assert stored.reads_like_selling(0, 10)[0].tolist() == rows.tolist()
    assert stored.text_similarity(np.array([0]), np.array([20]))[0] == pytest.approx(similarity[0])


def test_the_text_source_looks_among_the_best_sellers_only(monkeypatch):
    """A request's cost is bounded by TEXT_POOL, whatever the catalog's size."""
    from recommendations.ranker import items

    products, events = basket_log("random")
    monkeypatch.setattr(items, "TEXT_POOL", 4)
    table = item_table(products, events)
    best = table.popular[:4]  # every product has words here ("product"), so the four best sellers
    assert sorted(table.text_selling.tolist()) == sorted(best.tolist())
    assert set(table.reads_like_selling(int(table.popular[10]), 10)[0].tolist()) <= set(best.tolist())


def test_a_table_stored_before_words_were_kept_loads_without_them():
    products, events = basket_log("random")
    table = item_table(products, events)
    arrays = {name: getattr(table, name) for name in ItemTable._ARRAYS if not name.startswith("text_")}
    old = ItemTable(as_of=table.as_of, popular_by_gender=table.popular_by_gender, **arrays)
    assert old.text.nnz == 0 and old.reads_like_selling(0, 10)[0].tolist() == []
    assert old.text_similarity(np.array([0]), np.array([30])).tolist() == [0.0]
    assert len(clicks.click_pool(old, [0]).rows)  # the other sources still propose


def row_pair_bought(events, products, a: int, b: int) -> bool:
    days: dict = {}
    for event in events:
        days.setdefault((event.shopper, event.at.date()), set()).add(event.product_id)
    ids = {int(products.ids[a]), int(products.ids[b])}
    return any(ids <= held for held in days.values())


def test_the_evaluation_trains_the_after_a_click_ranker_on_events_before_the_test_cutoff_only(monkeypatch):
    """A spy around the real ranker_fit (which trains both rankers): every event it is given lies
    before the test days, and the after-a-click model does not change when the test days do."""
    from recommendations.evaluation import offline
    from recommendations.evaluation.split import time_split

    products, events = basket_log("pairs", days=6)
    seen = []

    def spy(products_, given, **kwargs):
        seen.append(max(event.at for event in given))
        return ranker_fit(products_, given, **kwargs)

    monkeypatch.setattr(offline, "ranker_fit", spy)
    split = time_split(events, test_days=1)
    ranker = offline._ranker_for(products, split, lambda _: None)
    assert ranker.clicks is not None and seen and max(seen) < split.cutoff
    shuffled = [
        e._replace(product_id=1000 + (e.product_id - 1000 + 7) % 60) if e.at >= split.cutoff else e for e in events
    ]
    again = offline._ranker_for(products, time_split(shuffled, test_days=1), lambda _: None)
    assert again.clicks.booster.to_text() == ranker.clicks.booster.to_text()


def test_the_one_click_task_reveals_one_product_of_each_basket_and_scores_the_lines():
    from recommendations.evaluation.clicks import click_tasks

    start = DAY0
    events = [Event(("s", n), 1000 + n, "purchase", start) for n in range(5)]  # one product a day: no task
    events += [Event("two", pid, "purchase", start + timedelta(hours=h)) for h, pid in enumerate((1, 2))]
    events += [Event("three", pid, "purchase", start) for pid in (4, 5, 6, 6)]
    tasks = click_tasks(events, start, start + timedelta(days=1), revealed=1, seed=0)
    assert {task.shopper for task in tasks} == {"two", "three"}
    for task in tasks:
        assert len(task.shown) == 1 and task.shown[0] not in task.truth
        assert {task.shown[0], *task.truth} == ({1, 2} if task.shopper == "two" else {4, 5, 6})
    assert [t.shopper for t in click_tasks(events, start, start + timedelta(days=1), revealed=2, seed=0)] == ["three"]


# --- Served ----------------------------------------------------------------------------------------


def _baskets_in_database(world: str = "pairs") -> dict:
    from tests.factories import ProductFactory

    products, events = basket_log(world)
    made = {
        int(pid): ProductFactory(
            name=f"Product {row}", product_group=products.group[row], article_type=products.article_type[row],
            gender="women", stock_quantity=5,
        )
        for row, pid in enumerate(products.ids)
    }  # fmt: skip
    visitors = {key: Visitor.objects.create() for key in {e.shopper for e in events}}
    Interaction.objects.bulk_create(
        Interaction(visitor=visitors[e.shopper], product=made[e.product_id], kind=e.kind, created_at=e.at)
        for e in events
    )
    call_command("train_ranker")
    return {"made": made, "ids": [int(pid) for pid in products.ids]}


@pytest.mark.django_db
def test_after_one_view_the_homepage_and_the_product_page_show_what_is_bought_with_it(client):
    from recommendations.selectors.homepage import homepage_rows
    from recommendations.selectors.shopper import shopper_load

    log = _baskets_in_database("pairs")
    stored = RankerModel.objects.get(is_active=True)
    assert stored.click_boosters and stored.figures["clicks"]["validation"]["baskets"] > 0
    a, b = log["made"][log["ids"][7]], log["made"][log["ids"][7 + PAIRS]]
    client.get(reverse("product-detail", args=[a.pk]))
    response = client.get(reverse("product-detail", args=[a.pk]))
    assert response.context["goes_with"][0].pk == b.pk
    assert "Goes well with" in response.content.decode()
    page = client.get(reverse("home"))
    rows = page.context["rows"]
    first = rows[0]
    assert first.key == "home.recommended" and first.cards[0].product_id == b.pk
    assert first.cards[0].reason == f"Often bought with {a.name}"
    shown = [card.product_id for row in rows for card in row.cards]
    assert len(shown) == len(set(shown))  # one row each
    # Serving and the evaluation give this shopper the same first row: the evaluation's view of the
    # same log (its catalog, the shopper rebuilt from the events) through RankerFit.candidates and
    # its row assembly, as evaluation.clicks scores "Homepage as served".
    from recommendations.evaluation.data import catalog_load
    from recommendations.evaluation.fitting import fit
    from recommendations.evaluation.ranking import because_you_viewed, homepage_list, shopper_sources
    from recommendations.selectors.ranked import active_ranker
    from recommendations.services.ranker import log_events

    visitor = Visitor.objects.get(pk=page.wsgi_request.visitor.pk)
    fitted = fit(catalog_load(), log_events())
    key = ("visitor", str(visitor.pk))
    ranker = active_ranker().fit
    served = ranker.candidates(fitted.shoppers[key], repurchases=True)
    sources = shopper_sources(fitted, key, blend=False)
    evaluated = homepage_list(fitted, sources, {}, key, k=len(first.cards), seed=0, ranked=served,
                              because=lambda: because_you_viewed(fitted, sources, key, ranker))  # fmt: skip
    assert evaluated == [card.product_id for card in first.cards]
    again = homepage_rows(shopper=shopper_load(user_id=None, visitor=visitor), rng=random.Random(0))
    assert [c.product_id for c in again[0].cards] == evaluated


@pytest.mark.django_db
def test_because_you_viewed_shows_what_goes_with_the_last_product_viewed_in_the_models_order(client, settings):
    from recommendations.selectors.ranked import active_ranker, goes_with

    # One card per product (colour group, three rows each here): few of C's partners' groups are left
    # under the rows above, and the row is about their order, not how many.
    settings.BECAUSE_MIN_CARDS = 1
    log = _baskets_in_database("pairs")
    a, c = log["made"][log["ids"][3]], log["made"][log["ids"][11]]
    client.get(reverse("product-detail", args=[a.pk]))
    client.get(reverse("product-detail", args=[c.pk]))
    rows = client.get(reverse("home")).context["rows"]
    because = next(row for row in rows if row.key == "home.because")
    assert because.title == f"Because you viewed {c.name}"
    expected = [candidate.product_id for candidate in goes_with(active_ranker(), c.pk)]
    above = {card.product_id for row in rows[: rows.index(because)] for card in row.cards}
    shown = [card.product_id for card in because.cards]
    # What goes with C in the model's order, less what the rows above show (one row each) and what
    # was just seen; not C's look-alikes, which the row showed before a ranker was trained.
    assert shown and set(shown) <= set(expected) - above - {a.pk, c.pk}
    assert shown == [pid for pid in expected if pid in set(shown)]
    partner = log["made"][log["ids"][11 + PAIRS]]  # C's partner is on the page, or a colour of it is
    on_page = Product.objects.filter(pk__in=above | set(shown)).values_list("product_group", flat=True)
    assert partner.product_group in set(on_page)


@pytest.mark.django_db
def test_the_api_gives_what_goes_with_a_product_and_a_clear_400_or_404():
    from rest_framework.test import APIClient

    from tests.factories import ProductFactory

    api = APIClient()
    alone = ProductFactory(stock_quantity=3)
    assert api.get(f"/api/v1/products/{alone.pk}/goes-with/").json() == []  # no ranker yet
    log = _baskets_in_database("pairs")
    a, b = log["made"][log["ids"][2]], log["made"][log["ids"][2 + PAIRS]]
    body = api.get(f"/api/v1/products/{a.pk}/goes-with/", {"k": 5}).json()
    assert [item["id"] for item in body][:1] == [b.pk] and len(body) == 5
    assert set(body[0]) == {"id", "external_id", "name", "gender", "category", "subcategory", "article_type",
                            "colour", "price", "in_stock", "image"}  # fmt: skip
    b.stock_quantity = 0
    b.save()
    assert b.pk not in [item["id"] for item in api.get(f"/api/v1/products/{a.pk}/goes-with/").json()]
    wrong = api.get(f"/api/v1/products/{a.pk}/goes-with/", {"k": 0})
    assert wrong.status_code == 400 and "k" in wrong.json()
    assert api.get("/api/v1/products/999999999/goes-with/").status_code == 404


@pytest.mark.django_db
def test_a_product_page_shows_each_product_once():
    from recommendations.selectors.product_page import product_page_lists

    log = _baskets_in_database("pairs")
    for row in (0, 4, 9):
        lists = product_page_lists(product=log["made"][log["ids"][row]])
        shown = [c.pk for c in [*lists.goes_with, *lists.colours, *lists.also_bought, *lists.similar.products]]
        assert lists.goes_with and len(shown) == len(set(shown))


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_new_visitor_who_opens_one_product_sees_what_is_bought_with_it_first_on_the_homepage(
    live_server, browser
):  # fmt: skip
    log = _baskets_in_database("pairs")
    a, b = log["made"][log["ids"][11]], log["made"][log["ids"][11 + PAIRS]]
    page = browser.new_page()
    page.goto(f"{live_server.url}{reverse('product-detail', args=[a.pk])}")
    assert page.locator("#goes-with .card .name").first.inner_text() == b.name
    page.goto(f"{live_server.url}/")
    first = page.locator("#homerecommended .card").first
    assert first.locator(".name").inner_text() == b.name
    assert f"Often bought with {a.name}" in first.inner_text()
    names = page.locator("section.row .card .name").all_inner_texts()
    cards = page.locator("section.row .card").evaluate_all("cards => cards.map(c => c.dataset.productId)")
    assert names and len(cards) == len(set(cards))  # no product twice on the page


def test_click_features_are_finite_or_missing_and_named():
    products, events = basket_log("pairs")
    table = item_table(products, events)
    pool = clicks.click_pool(table, [2, 1])
    assert pool.features.shape == (len(pool.rows), len(clicks.CLICK_FEATURES))
    assert not np.isinf(pool.features).any()


def test_an_anchors_lists_are_made_once_per_table_and_give_the_same_ranking(monkeypatch):
    products, events = basket_log("pairs")
    fitted = ranker_fit(products, events)
    table = fitted.table
    first = fitted.clicks.rank_anchors(table, [3, 9, 30])
    made = []
    real = clicks._anchor_lists_made
    monkeypatch.setattr(clicks, "_anchor_lists_made", lambda *args: made.append(args[1]) or real(*args))
    again = fitted.clicks.rank_anchors(table, [9, 3, 40])
    assert made == [40]  # 3 and 9 were kept from the first ranking
    # The kept lists are the ones a fresh table makes: the same ranking as without them.
    fresh = ItemTable.from_bytes(table.to_bytes())
    assert [(c.product_id, c.source, c.anchor) for c in fitted.clicks.rank_anchors(fresh, [9, 3, 40])] == [
        (c.product_id, c.source, c.anchor) for c in again
    ]
    assert [c.product_id for c in first] != [c.product_id for c in again]  # other anchors, another list
    lists = clicks._anchor_lists(table, 3, fitted.clicks.sizes)
    assert all(not rows.flags.writeable for _, rows, _ in lists)  # shared by every request: read-only


def test_an_anchors_pair_features_are_kept_and_are_the_ones_computed_for_each_pair():
    """click_pool gathers each (anchor, candidate) pair's features from a block kept per anchor:
    bit for bit what computing them for the pool's own pairs gives, whatever the other anchors."""
    products, events = basket_log("pairs")
    table = item_table(products, events)
    sizes = clicks.ClickSizes()
    rng = np.random.default_rng(0)
    for anchors in [
        [2],
        [2, 1],
        [30, 2, 7],
        *(rng.choice(len(products.ids), 3, replace=False).tolist() for _ in range(20)),
    ]:
        pool = clicks.click_pool(table, anchors, sizes)
        found = clicks.proposal_arrays(table, anchors, sizes)
        anchor = np.where(found.anchor >= 0, found.anchor, anchors[0])
        direct = clicks._pair_features(table, anchor, found.rows)
        assert np.array_equal(pool.features[:, clicks._PAIR_COLUMNS], direct, equal_nan=True)
    kept = table.__dict__["_pairs_memo"]._items
    assert (2, sizes) in kept and all(not block.flags.writeable for _, block in kept.values())
    assert "_pairs_memo" not in pickle.loads(pickle.dumps(table)).__dict__  # kept per process, never stored
    # A pair outside the anchor's block (none is proposed so) is computed, not left empty.
    outside = np.array([r for r in range(len(products.ids)) if r not in set(kept[(2, sizes)][0].tolist())][:3])
    mixed = clicks._pairs_of(table, np.full(len(outside), 2), outside, sizes)
    assert np.array_equal(mixed, clicks._pair_features(table, np.full(len(outside), 2), outside), equal_nan=True)


@pytest.mark.django_db
def test_a_ranker_compiles_its_trees_in_the_background_and_ranks_the_same(settings):
    """The store compiles the active ranker's trees (lleaves) off the request path; LightGBM scores
    until then, and the compiled trees give the same scores and the same lists."""
    from recommendations.selectors import ranked

    _baskets_in_database("pairs")
    settings.RANKER_COMPILE = False
    ranked._cache.clear()
    plain = ranked.active_ranker()
    table = plain.fit.table
    pool = clicks.click_pool(table, [7, 30, 2], plain.fit.clicks.sizes)
    by_lightgbm = plain.fit.clicks.booster.predict(pool.features, num_threads=1)
    lists = [[c.product_id for c in plain.fit.clicks.rank_anchors(table, [row])] for row in range(PAIRS)]
    assert not plain.compiled.is_set() and not plain.fit.booster.compiled

    settings.RANKER_COMPILE = True
    ranked._cache.clear()
    compiling = ranked.active_ranker()
    assert compiling.compiled.wait(120), "the trees were not compiled within two minutes"
    assert compiling.fit.booster.compiled and compiling.fit.clicks.booster.compiled
    by_machine_code = compiling.fit.clicks.booster.predict(pool.features)
    assert np.isnan(pool.features).any()  # missing values take LightGBM's default branches there too
    np.testing.assert_allclose(by_machine_code, by_lightgbm, rtol=0, atol=1e-9)
    table = compiling.fit.table
    assert [[c.product_id for c in compiling.fit.clicks.rank_anchors(table, [row])] for row in range(PAIRS)] == lists
    ranked._cache.clear()
