"""After one click: how well the store's next page predicts the rest of a basket.

Task (issue 20): every shopper-day of the test window with two or more distinct products; one is
revealed (a view, chosen with a fixed seed), the others of that day are the truth. With
``revealed=2``, days of three or more products, two revealed, the second one the newest view.
Every source, model and table comes from the training events only (before the cut-off).

Lines, each a top-12 list through the visitor's hard filters (in stock, gender inferred from the
views; purchases of a returning shopper left out), topped up with the best sellers:
* each after-a-click source alone, and the heuristic (other colours, co-purchases, best sellers);
* the after-a-click ranker on the newest view (with two revealed: on both);
* the homepage as served: the shopper (a new visitor whose only events are the views, or a returning
  shopper's history plus them) through RankerFit.candidates and serving's row assembly
  (selectors.rows.page_rows, through evaluation.ranking.homepage_list), as the first 12 products
  of the page;
* the product page's first row as served ("Goes well with": the after-a-click ranking of the
  viewed product alone, through the product's gender filter).
"""

import dataclasses
import functools
import random
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings

from catalog.gender import compatible_genders
from recommendations.domain import Shopper, ShopperEvent
from recommendations.evaluation.fitting import Fitted
from recommendations.evaluation.ranking import because_you_viewed, homepage_list, shopper_seed, shopper_sources
from recommendations.evaluation.scoring import paired_differences, products_of, score_lists
from recommendations.ranker import clicks
from recommendations.ranker.history import Event
from recommendations.ranker.training import RankerFit

LABELS = {
    **{f"source_{name}": f"{name.replace('_', ' ')} alone" for name in clicks.SOURCES},
    "heuristic": "Colours, co-purchases, best sellers (heuristic)",
    "ranker": "After-a-click ranker",
    "homepage": "Homepage as served",
    "product_page": "Product page's first row as served",
    **{
        f"{name}_products": f"{label}, by product"
        for name, label in (
            ("heuristic", "Heuristic"),
            ("ranker", "After-a-click ranker"),
            ("homepage", "Homepage as served"),
            ("product_page", "Product page's first row"),
        )
    },
}
# Scored by product as well (a list's articles and the truth mapped to product_group, a product once):
# the homepage shows one card per product with its colours as swatches (issue 41), which article-level
# MAP counts as one colour.
BY_PRODUCT = ("heuristic", "ranker", "homepage", "product_page")


@dataclasses.dataclass(frozen=True)
class ClickTask:
    shopper: object
    day: object
    shown: tuple[int, ...]  # the revealed products, oldest first (the last is the newest view)
    truth: frozenset[int]


def click_tasks(events: list[Event], start: datetime, end: datetime, *, revealed: int, seed: int) -> list[ClickTask]:
    """Shopper-days in [start, end] with at least ``revealed`` + 1 distinct products."""
    baskets: dict[tuple, dict[int, None]] = defaultdict(dict)
    for event in events:
        if event.kind == "purchase" and start <= event.at <= end:
            baskets[event.shopper, event.at.date()][event.product_id] = None
    rng = random.Random(seed)
    tasks = []
    for key in sorted(baskets, key=repr):
        items = list(baskets[key])
        if len(items) > revealed:
            shown = tuple(rng.sample(items, revealed))
            tasks.append(ClickTask(key[0], key[1], shown, frozenset(items) - set(shown)))
    return tasks


def evaluate_after_a_click(
    fitted: Fitted, ranker: RankerFit | None, events: list[Event], *, cutoff: datetime, until: datetime, k: int,
    seed: int, revealed: int = 1,
) -> dict | None:  # fmt: skip
    """Every line's lists for every task, scored per segment (new and returning shoppers), with
    paired intervals against the heuristic. None without a ranker (no item table) or without tasks."""
    if ranker is None:
        return None
    catalog, table = fitted.catalog, ranker.table
    tasks = [
        task
        for task in click_tasks(events, cutoff, until, revealed=revealed, seed=seed)
        if all(pid in table.index for pid in task.shown)
    ]
    if not tasks:
        return None
    best_sellers = [int(table.ids[row]) for row in table.popular]
    names = ["heuristic", "ranker", "homepage", "product_page"]
    if revealed == 1:
        names = [*(f"source_{source}" for source in clicks.SOURCES), *names]
    lists: dict[str, dict] = {name: {} for name in names}
    truth: dict[object, set[int]] = {}
    returning: set[object] = set()
    weights = dict(settings.BLEND_WEIGHTS)
    for number, task in enumerate(tasks):
        key = (number, task.shopper)
        truth[key] = set(task.truth)
        shopper = _with_views(fitted.shoppers.get(task.shopper), task, catalog, cutoff)
        if task.shopper in fitted.shoppers:
            returning.add(key)
        view = dataclasses.replace(fitted, shoppers={key: shopper})
        sources = shopper_sources(view, key, blend=False)
        passes = sources.eligible  # the hard filters, purchases left out

        def through(candidates, passes=passes) -> list[int]:
            chosen = [pid for pid in dict.fromkeys([*candidates, *best_sellers]) if passes[catalog.index[pid]]]
            return chosen[:k]

        newest = [table.index[task.shown[-1]]]
        if revealed == 1:
            for source in clicks.SOURCES:
                lists[f"source_{source}"][key] = through(clicks.source_list(table, newest, source))
        lists["heuristic"][key] = through(c.product_id for c in clicks.click_heuristic(table, newest))
        anchors = clicks.anchor_rows(shopper, table, clicks.ClickSizes().anchors)
        ranked = ranker.clicks.rank_anchors(table, anchors) if ranker.clicks else clicks.click_heuristic(table, anchors)
        lists["ranker"][key] = through(c.product_id for c in ranked)
        served = ranker.candidates(shopper, repurchases=settings.RECOMMEND_REPURCHASES)
        if not served:  # the blend serves "Recommended for you": its sources are needed
            sources = shopper_sources(view, key)
        lists["homepage"][key] = homepage_list(
            view, sources, weights, key, k=k, seed=shopper_seed(key, seed), ranked=served,
            because=functools.partial(because_you_viewed, view, sources, key, ranker),
        )  # fmt: skip
        lists["product_page"][key] = _product_page(ranker, table, catalog, task.shown[-1], k=k)
    product_of, product_type = products_of(catalog)
    for name in BY_PRODUCT:
        lists[f"{name}_products"] = {
            key: list(dict.fromkeys(product_of[p] for p in items)) for key, items in lists[name].items()
        }
    truth_of_products = {key: {product_of[p] for p in items} for key, items in truth.items()}
    names = [*names, *(f"{name}_products" for name in BY_PRODUCT)]
    category_of = {int(pid): catalog.article_type[i] for i, pid in enumerate(catalog.ids)}
    size = int(catalog.available.sum())
    segments = {
        "all": truth,
        "new": {key: items for key, items in truth.items() if key not in returning},
        "returning": {key: items for key, items in truth.items() if key in returning},
    }

    def held_for(name: str, held: dict) -> dict:
        return {key: truth_of_products[key] for key in held} if name.endswith("_products") else held

    def versus(name: str) -> str:
        return "heuristic_products" if name.endswith("_products") else "heuristic"

    products = len(set(product_of.values()))
    return {
        "revealed": revealed,
        "tasks": len(tasks),
        "new_tasks": len(segments["new"]),
        "labels": {name: LABELS[name] for name in names},
        "results": {
            segment: {
                name: score_lists(
                    lists[name],
                    held_for(name, held),
                    k=k,
                    category_of=product_type if name.endswith("_products") else category_of,
                    catalog_size=products if name.endswith("_products") else size,
                )  # fmt: skip
                for name in names
            }
            for segment, held in segments.items()
            if held
        },
        "vs_heuristic": {
            name: {
                segment: paired_differences(lists[name], lists[versus(name)], held_for(name, held), k=k, seed=seed)
                for segment, held in segments.items()
                if held
            }
            for name in names
            if name not in ("heuristic", "heuristic_products")
        },
        "model": ranker.figures.get("clicks"),
    }


def _with_views(history: Shopper | None, task: ClickTask, catalog, cutoff: datetime) -> Shopper:
    """The shopper as the store knows them after viewing the revealed products at the start of the
    basket's day, one second apart: their training history (if any) and the views, newest first."""
    start = max(datetime.combine(task.day, datetime.min.time(), tzinfo=cutoff.tzinfo), cutoff)
    views = []
    for second, pid in enumerate(task.shown):
        row = catalog.index[pid]
        views.append(
            ShopperEvent(
                pid,
                "view",
                start + timedelta(seconds=second),
                catalog.gender[row],
                catalog.name[row],
                catalog.group[row],
                catalog.article_type[row],
            )  # fmt: skip
        )
    views.reverse()
    if history is None:
        return Shopper(user_id=None, visitor=None, recent=views, newest_event=views[0].at)
    return dataclasses.replace(history, recent=views + history.recent, newest_event=views[0].at)


def _product_page(ranker: RankerFit, table, catalog, product_id: int, *, k: int) -> list[int]:
    """The product page's first row: what goes with the product, through its gender filter."""
    ranked = ranker.goes_with([table.index[product_id]])  # as selectors.ranked.goes_with_ids
    genders = compatible_genders(catalog.gender[catalog.index[product_id]])
    chosen = []
    for candidate in ranked:
        row = catalog.index.get(candidate.product_id)
        if row is not None and catalog.available[row] and catalog.gender[row] in genders:
            chosen.append(candidate.product_id)
    return chosen[:k]


def click_table(section: dict, segment: str) -> str:
    """One segment's lines as a text table: MAP@12 and recall@12 with their standard errors, and
    the paired difference against the heuristic."""
    results = section["results"].get(segment)
    if not results:
        return ""
    lines = [f"{'':52s} {'MAP@12':>16s} {'recall@12':>16s} {'cover':>6s}  MAP vs heuristic (95%)"]
    for name, label in section["labels"].items():
        r = results[name]
        versus = section["vs_heuristic"].get(name, {}).get(segment, {}).get("map")
        against = f"{versus['difference']:+.4f} [{versus['low']:+.4f}, {versus['high']:+.4f}]" if versus else ""
        lines.append(
            f"{label:52s} {r['map']['mean']:.4f} ± {r['map']['stderr']:.4f} "
            f"{r['recall']['mean']:.4f} ± {r['recall']['stderr']:.4f} {r['coverage']['mean']:6.3f}  {against}"
        )
    return "\n".join(lines)
