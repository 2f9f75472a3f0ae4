"""The offline evaluation on synthetic stores whose right answers are known."""

import json
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.core.management import call_command

from recommendations.evaluation.data import catalog_load, events_load
from recommendations.evaluation.discovery import discovery_rounds
from recommendations.evaluation.fitting import fit
from recommendations.evaluation.offline import SINGLE, earlier_windows, evaluate_time_split
from recommendations.evaluation.ranking import homepage_list, recommend, shopper_seed, shopper_sources
from recommendations.evaluation.scoring import paired_differences, score_lists
from recommendations.evaluation.split import time_split
from recommendations.models import EvaluationReport, Interaction, InteractionKind, Visitor
from tests.evaluation_data import START, _purchase, clustered_store
from tests.factories import EmbeddedProductFactory


def test_a_strategy_that_returns_the_held_out_items_scores_one():
    held_out = {"a": {1, 2}, "b": {3}}
    scores = score_lists({"a": [2, 1, 9], "b": [3]}, held_out, k=12, category_of={}, catalog_size=100)
    for metric in ("recall", "map", "ndcg", "hit_rate"):
        assert scores[metric] == {"mean": 1.0, "stderr": 0.0}
    assert scores["coverage"]["mean"] == 4 / 100


def test_a_random_strategy_scores_near_its_expected_value():
    rng = random.Random(1)
    catalog, k = list(range(500)), 12
    held_out = {shopper: set(rng.sample(catalog, 5)) for shopper in range(2000)}
    lists = {shopper: rng.sample(catalog, k) for shopper in held_out}
    scores = score_lists(lists, held_out, k=k, category_of={}, catalog_size=len(catalog))
    expected = {
        "precision": 5 / 500,
        "recall": k / 500,
        "hit_rate": 1 - np.prod([(495 - i) / (500 - i) for i in range(k)]),
    }
    for metric, value in expected.items():
        assert abs(scores[metric]["mean"] - value) < 3 * scores[metric]["stderr"], metric
    assert scores["coverage"]["mean"] == 1.0  # 2000 random lists of 12 cover 500 products


def test_the_paired_interval_separates_a_clear_winner_and_not_a_coin_toss():
    held_out = {shopper: {shopper} for shopper in range(300)}
    oracle = {shopper: [shopper] for shopper in held_out}
    half = {shopper: [shopper] if shopper % 2 else [-1] for shopper in held_out}
    clear = paired_differences(oracle, {}, held_out, k=12)["recall"]
    assert clear["difference"] == 1.0 and clear["low"] == 1.0 and clear["better"] == 300
    noisy = paired_differences(half, {s: [s] if s % 2 == 0 else [-1] for s in held_out}, held_out, k=12)["recall"]
    assert noisy["low"] < 0 < noisy["high"]


@pytest.mark.django_db
def test_visual_similarity_finds_every_held_out_purchase_in_a_clustered_store(settings):
    settings.ROW_EXPLORATION_SLOTS = 0
    settings.HOME_ROW_SIZE = 17  # the evaluation scores the page as served: its first row holds the 17
    clustered_store()
    section = evaluate_time_split(catalog_load(), events_load(), k=17, test_weeks=1, tune_weights=False)
    results = section["results"]["all"]
    assert section["shoppers"] == 30 and section["cutoff"].startswith("2020-03-09")
    # 17 = the products of the shopper's cluster they have not bought yet: all of them, nothing else.
    assert results["visual"]["recall"]["mean"] == 1.0
    assert results["visual"]["precision"]["mean"] == pytest.approx(2 / 17)
    assert results["hybrid"]["recall"]["mean"] > results["popular"]["recall"]["mean"] + 0.3
    assert results["als"]["recall"]["mean"] > results["popular"]["recall"]["mean"]
    assert section["reachable"]["passes_filters"] == 1.0 and section["reachable"]["bought_before"] == 0.0
    assert section["comparisons"]["popular"]["recall"]["low"] > 0  # the hybrid's lead is not noise


@pytest.mark.django_db
def test_the_test_weeks_never_reach_training(settings):
    """A product everyone buys in the test weeks only: any leak would make it the most popular."""
    settings.ROW_EXPLORATION_SLOTS = 0
    clustered_store()
    magnet = EmbeddedProductFactory(name="magnet")
    Interaction.objects.bulk_create(
        [_purchase(visitor, magnet, START + timedelta(weeks=10)) for visitor in Visitor.objects.all()]
    )
    split = time_split(events_load(), test_weeks=1)
    assert all(event.at < split.cutoff for event in split.train)
    fitted = fit(catalog_load(), split.train)
    assert magnet.pk not in fitted.als.index and magnet.pk not in {c.product_id for c in fitted.trending}
    assert all(magnet.pk not in shopper.purchased for shopper in fitted.shoppers.values())
    for key in split.held_out:
        sources = shopper_sources(fitted, key)
        for weights in SINGLE.values():
            assert magnet.pk not in recommend(fitted, sources, weights, k=12, seed=shopper_seed(key, 0))
    validations = earlier_windows(events_load(), split, count=3)
    assert validations  # the purchases of week 8.5
    for validation in validations:
        assert validation.until < split.cutoff
        assert all(event.at < split.cutoff for event in validation.train)
        assert magnet.pk not in {pid for items in validation.held_out.values() for pid in items}


@pytest.mark.django_db
def test_a_repurchase_is_unreachable_as_in_the_store(settings):
    clustered_store(clusters=1, shoppers_per_cluster=2)
    first = Visitor.objects.order_by("created_at").first()
    bought = Interaction.objects.filter(visitor=first).order_by("created_at").first().product
    Interaction.objects.create(
        visitor=first, product=bought, kind=InteractionKind.PURCHASE, created_at=START + timedelta(weeks=10)
    )
    section = evaluate_time_split(catalog_load(), events_load(), test_weeks=1, tune_weights=False)
    assert section["reachable"]["bought_before"] == pytest.approx(1 / 5)  # 5 held-out pairs, 1 bought before


def test_discovery_beats_random_pages_on_a_navigable_space():
    angles = np.linspace(0, 2 * np.pi, 2000, endpoint=False)
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    result = discovery_rounds(vectors, targets=30, page=10, progress=False)
    assert result["random_expected"] == pytest.approx(100.5)
    assert abs(result["random"]["mean"] - 100.5) < 35  # 30 draws of a uniform 1..200
    assert result["guided"]["mean"] < 20 and result["guided"]["not_found"] == 0


@pytest.mark.django_db
def test_the_command_prints_the_table_writes_json_and_keeps_the_report(settings, tmp_path, capsys):
    settings.DATA_DIR = tmp_path
    clustered_store()
    out = tmp_path / "report.json"
    call_command(
        "evaluate", "--test-weeks", "1", "--no-attributes", "--discovery-targets", "5", "--map-sample", "60",
        "--json", str(out), verbosity=0,
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert "Most popular (baseline)" in printed and "Hybrid, tuned on validation" in printed
    data = json.loads(out.read_text())
    assert set(data["time_split"]["results"]["all"]) == {
        "popular", "visual", "als", "hybrid", "hybrid_tuned", "repurchase", "repurchase_same", "co_bought", "ranker",
        "homepage", "repurchase_same_products", "ranker_products", "homepage_products",
    }  # fmt: skip
    assert len(data["embedding_map"]["points"]) == 60
    assert EvaluationReport.objects.get().data == data
    clicked = data["time_split"]["after_a_click"]["one"]
    assert {"homepage", "homepage_products", "heuristic_products"} <= set(clicked["results"]["all"])
    assert "heuristic_products" not in clicked["vs_heuristic"]  # compared with itself it would say nothing


@pytest.mark.django_db
def test_the_command_says_clearly_when_there_is_nothing_to_hold_out(tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no purchases"):
        call_command("evaluate", "--no-attributes", "--json", str(tmp_path / "r.json"), verbosity=0)
    with pytest.raises(CommandError, match="no styles.csv"):
        call_command("evaluate", "--attributes", str(tmp_path), verbosity=0)


def test_attribute_precision_has_a_known_answer_with_the_real_encoder(settings, tmp_path):
    """Four identical red shirts and four identical blue shoes, all for men: each product's 6
    nearest are its 3 twins (5 of 5 attributes) and 3 of the others (gender only, 1 of 5)."""
    from PIL import Image

    from recommendations.evaluation.attributes import attribute_precision

    settings.DATA_DIR = tmp_path / "data"
    (tmp_path / "images").mkdir()
    lines = ["id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName"]
    for i in range(8):
        shirt = i < 4
        Image.new("RGB", (60, 80), (200, 20, 20) if shirt else (20, 20, 200)).save(tmp_path / "images" / f"{i}.jpg")
        kind = "Apparel,Topwear,Shirts,Red" if shirt else "Footwear,Shoes,Casual Shoes,Blue"
        lines.append(f"{i},Men,{kind},Summer,2012,Casual,Item {i}")
    (tmp_path / "images" / "8.jpg").write_bytes(b"not a photo")
    lines += ["8,Men,Apparel,Topwear,Shirts,Red,Summer,2012,Casual,Broken photo", "9,Men,too,few,fields"]
    (tmp_path / "styles.csv").write_text("\n".join(lines) + "\n")
    report = attribute_precision(tmp_path, progress=False)
    assert report["products"] == 9 and report["skipped_rows"] == 1
    scores = report["encoders"]["efficientnet_lite0"]
    assert scores["embedded"] == 8 and scores["unreadable_photos"] == 1
    assert scores["unfiltered"]["overall"] == pytest.approx((3 * 1.0 + 3 * 0.2) / 6)
    assert scores["unfiltered"]["per_category"]["Footwear"] == {"mean": pytest.approx(0.6), "queries": 4}
    assert scores["as_served"]["overall"] == pytest.approx(0.6)
    assert list(tmp_path.glob("data/evaluation/*.npz"))  # the vectors are cached for the next run


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_shop_owner_reads_the_report_in_the_admin(live_server, browser, settings, tmp_path):
    from django.contrib.auth import get_user_model

    from recommendations.evaluation.runner import EvaluationOptions, evaluation_run

    settings.DATA_DIR = tmp_path
    clustered_store()
    options = EvaluationOptions(test_weeks=1, discovery_targets=5, map_sample=60)
    report = evaluation_run(options, json_path=tmp_path / "report.json", progress=False)
    get_user_model().objects.create_superuser("owner", "owner@example.com", "a-long-password-1")
    page = browser.new_page()
    page.goto(f"{live_server.url}/admin/login/?next=/admin/recommendations/evaluationreport/")
    page.fill("#id_login", "owner")
    page.fill("#id_password", "a-long-password-1")
    page.click("main button[type=submit]")  # the store's sign-in page guards the admin too
    page.click(f"a[href$='/evaluationreport/{report.pk}/change/']")
    page.wait_for_selector("#time-split table")
    rows = page.locator("#time-split tbody tr")
    # Ten strategies, then three of their lists scored by product (table only: the charts are by article).
    assert rows.count() == 13 and "Most popular (baseline)" in rows.first.inner_text()
    assert "by product" in rows.nth(12).inner_text()
    # Six bar charts of ten strategies each; the five model strategies score above zero on this
    # store, so their bars have a visible width (the repurchase heuristics may score zero here).
    assert page.locator("#time-split svg.chart").count() == 6
    bars = page.locator("#time-split svg.chart rect.bar")
    assert bars.count() == 60
    assert all(bars.nth(chart * 10 + i).bounding_box()["width"] > 0 for chart in range(6) for i in range(5))
    assert page.locator("#embedding-map circle").count() == 60
    assert "Cluster 0" in page.locator("#embedding-map").inner_text()  # the legend names the categories
    assert page.locator("#discovery svg.chart rect.bar").count() == 2


@pytest.mark.django_db
def test_on_a_log_of_rebuyers_the_repurchase_heuristics_and_the_homepage_find_everything(settings):
    """Known answer: every shopper buys again in the test days exactly what they bought before. The
    repurchase heuristics and the homepage (whose first row is Buy again) recall all of it; most
    popular cannot; new shoppers form their own segment."""
    from recommendations.evaluation.split import Event
    from tests.factories import EmbeddedProductFactory

    settings.RECOMMEND_REPURCHASES = True
    products = [EmbeddedProductFactory(product_group=f"g{i // 2}") for i in range(40)]
    day = datetime(2020, 9, 16, tzinfo=UTC)
    events = []
    for s in range(20):
        mine = products[s * 2 % 40]
        events.append(Event(("user", s), mine.pk, "purchase", day))
        events.append(Event(("user", s), mine.pk, "purchase", day + timedelta(days=3)))  # the test day
    events.append(Event(("user", 99), products[1].pk, "purchase", day + timedelta(days=3)))  # a new shopper
    result = evaluate_time_split(catalog_load(all_in_stock=True), events, test_days=1, tune_weights=False)
    history = result["results"]["with_history"]
    assert history["repurchase"]["recall"]["mean"] == 1.0
    assert history["repurchase_same"]["recall"]["mean"] == 1.0
    assert history["homepage"]["recall"]["mean"] == 1.0
    assert history["popular"]["recall"]["mean"] < 1.0
    assert result["shoppers"] == 21 and set(result["results"]["new"]["homepage"]) >= {"recall", "map"}
    assert result["vs_heuristic"]["homepage"]["with_history"]["map"]["difference"] <= 0.0001
    # Scored by product, a list holding another colour of the product bought is a hit as well.
    assert history["homepage_products"]["recall"]["mean"] == 1.0
    # The one new shopper bought products[1]: in hindsight, a list that starts with it finds everything.
    assert result["headroom"]["new_hindsight"] == {"map": 1.0, "recall": 1.0, "shoppers": 1}


@pytest.mark.django_db
def test_serving_and_the_evaluation_assemble_the_same_homepage_for_the_same_shopper(settings):
    """One assembly (selectors.rows.page_rows): the store's homepage and the evaluation's "Homepage
    as served" give a shopper with purchases the same first 12 products, in the same order: "Buy
    again" (their purchases, then other colours of them) and then the blend's "Recommended for you"."""
    from catalog.models import Product
    from recommendations.selectors.homepage import homepage_rows
    from recommendations.selectors.shopper import shopper_load
    from recommendations.selectors.sources import visual_preference

    settings.ROW_EXPLORATION_SLOTS = 0
    settings.RECOMMEND_REPURCHASES = True
    settings.RANKER_ENABLED = False
    settings.BLEND_WEIGHTS = {"visual": 1.0}  # ALS and trending are fitted apart in each path; the blend is one
    store = clustered_store(clusters=2)
    for number, product in enumerate(store["products"][0]):  # colours: pairs of products of cluster 0
        Product.objects.filter(pk=product.pk).update(product_group=f"pair {number // 2}")
    catalog = catalog_load()
    fitted = fit(catalog, events_load())
    compared = 0
    for visitor in Visitor.objects.order_by("pk")[:8]:
        key = ("visitor", str(visitor.pk))
        rows = homepage_rows(shopper=shopper_load(user_id=None, visitor=visitor), rng=random.Random(0))
        served = [card.product_id for row in rows for card in row.cards][:12]
        assert rows[0].key == "home.buy_again" and rows[1].key == "home.recommended"
        evaluated = homepage_list(fitted, shopper_sources(fitted, key), settings.BLEND_WEIGHTS, key, k=12,
                                  seed=shopper_seed(key, 0))  # fmt: skip
        again = len(rows[0].cards)
        assert evaluated[:again] == served[:again], visitor.pk  # "Buy again": the same products, same order
        # Then the blend's row, in the order of the visual source: the store reads it from the HNSW index
        # over half-precision vectors, the evaluation computes exact cosines, so products whose
        # similarities differ by less than half precision may swap. The similarities, in order, agree.
        assert len(evaluated) == len(served) == 12
        shopper = fitted.shoppers[key]
        recent = shopper.recent_product_ids[: settings.PREFERENCE_RECENT_EVENTS]
        preference = visual_preference(shopper, {pid: catalog.vectors[catalog.index[pid]] for pid in recent})
        similarity = [float(catalog.vectors[catalog.index[pid]] @ preference) for pid in evaluated[again:]]
        assert similarity == sorted(similarity, reverse=True)
        served_similarity = [float(catalog.vectors[catalog.index[pid]] @ preference) for pid in served[again:]]
        assert np.allclose(similarity, served_similarity, atol=2e-3), visitor.pk
        compared += any(card.strategy == "same_product" for card in rows[0].cards)
    assert compared  # some of them saw other colours in "Buy again"


@pytest.mark.django_db
def test_a_promote_rule_for_new_arrivals_is_scored_against_the_same_homepage(settings):
    """Known answer: the test day's new shoppers buy the products first sold on the last training day.
    Trending (what a new shopper's homepage leads with) ranks the long-sold products first, so the
    homepage without the rule misses them and with it (three cards of the first row) finds them. A
    product first sold on the test day is not a new arrival: the test days never define the rule."""
    from recommendations.evaluation.ranking import new_arrivals_promotion
    from recommendations.evaluation.split import Event
    from tests.factories import EmbeddedProductFactory

    settings.ROW_EXPLORATION_SLOTS = 0
    products = [EmbeddedProductFactory(article_type=f"type {i}") for i in range(40)]
    old, new, launched_on_test_day = products[:30], products[30:33], products[33]
    day = datetime(2020, 9, 14, tzinfo=UTC)
    events = [Event(("user", s), p.pk, "purchase", day) for s in range(10) for p in old]
    events += [Event(("user", 50), p.pk, "purchase", day + timedelta(days=2)) for p in new]
    test_day = day + timedelta(days=3)
    events += [Event(("user", 100 + n), p.pk, "purchase", test_day) for n, p in enumerate(new)]
    events.append(Event(("user", 200), launched_on_test_day.pk, "purchase", test_day))
    result = evaluate_time_split(catalog_load(all_in_stock=True), events, test_days=1, tune_weights=False,
                                 promote_new_days=1, promote_cards=3)  # fmt: skip
    promotion = new_arrivals_promotion([e for e in events if e.at < test_day], test_day, days=1, max_cards=3)
    assert set(promotion.rule.matching) == {p.pk for p in new}
    assert result["promotion"]["rule"] == {"days": 1, "max_cards": 3, "new_arrivals": 3}
    new_shoppers = result["results"]["new"]
    assert new_shoppers["homepage"]["recall"]["mean"] == 0.0
    assert new_shoppers["homepage_promoted"]["recall"]["mean"] == 0.75  # three of the four new shoppers
    assert result["promotion"]["vs_homepage"]["new"]["map"]["difference"] > 0
