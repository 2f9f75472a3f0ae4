"""What twenty active merchandising rules add to a computed homepage, in one process (issue 44's target:
at most 1 ms a page).

    python benchmarks/merchandising_cost.py --data .data/hm-week [--rounds 3]
    python benchmarks/merchandising_cost.py --data .data/hm-week --install | --remove

``--install`` saves the same twenty rules (named "bench: ...", on every surface) and exits, for the
load benchmark's A/B with rules active (docs/benchmarks.md); ``--remove`` deletes them.

Creates twenty rules on the homepage (5 hides by product type, 2 hides of product lists, 4 boosts and
4 buries by type or colour, 3 promotes of new arrivals and types, 2 pins), in a transaction rolled back
at the end, so the data folder is left as it was. Visitors: 40 of the data folder with views only, and
40 customers with purchases (signed in). Each round warms every per-process cache, then times the
same pages in alternate passes without the rules (``homepage_rows(merchandised=False)``) and with
them, under the same serving values, and prints the medians and the median of the shopper-by-shopper
differences in milliseconds."""

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / ".data" / "hm-week"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--install", action="store_true", help="save the twenty rules and exit")
    parser.add_argument("--remove", action="store_true", help="delete the rules --install saved and exit")
    args = parser.parse_args()
    os.environ["STOREFRONT_DATA_DIR"] = str(Path(args.data).resolve())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storefront.settings.local")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from storefront.embedded import start_configured

    start_configured()
    from django.db import transaction
    from django.db.models import Count

    from catalog.models import Product
    from merchandising.models import Rule
    from recommendations.models import Interaction, Visitor
    from recommendations.selectors.generation import serving_values
    from recommendations.selectors.homepage import homepage_rows
    from recommendations.selectors.shopper import shopper_load

    lookers = Interaction.objects.filter(user__isnull=True, visitor__isnull=False, kind__in=("view", "click"))
    visitors = list(Visitor.objects.filter(pk__in=lookers.values("visitor_id")[:2000]).order_by("pk")[:40])
    buyers = list(
        Interaction.objects.filter(kind="purchase", user__isnull=False).values_list("user_id", flat=True)
        .distinct().order_by("user_id")[:40]
    )  # fmt: skip
    shoppers = [(None, visitor) for visitor in visitors] + [(user_id, None) for user_id in buyers]
    types = [t for t, _ in Product.objects.values_list("article_type").annotate(n=Count("pk")).order_by("-n")[:16]]
    colours = [c for c, _ in Product.objects.values_list("colour").annotate(n=Count("pk")).order_by("-n")[:4]]
    sold = list(Interaction.objects.filter(kind="purchase").values_list("product_id", flat=True)[:400])

    def pages(merchandised: bool, values) -> list[float]:
        spent = []
        for user_id, visitor in shoppers:
            shopper = shopper_load(user_id=user_id, visitor=visitor)
            started = time.perf_counter()
            homepage_rows(shopper=shopper, rng=random.Random(0), values=values, merchandised=merchandised)
            spent.append((time.perf_counter() - started) * 1000)
        return spent

    def install() -> None:
        home = {"surfaces": ["home", "product", "category", "search"]}
        rules = [Rule(name=f"hide {t}", action="hide", article_types=[t], **home) for t in types[10:15]]
        rules += [Rule(name=f"boost {t}", action="boost", factor=2.0, article_types=[t], **home) for t in types[:4]]
        rules += [Rule(name=f"bury {c}", action="bury", factor=0.5, colours=[c], **home) for c in colours]
        rules += [Rule(name="new in", action="promote", new_within_days=400, max_cards=2, **home),
                  Rule(name=f"promote {types[4]}", action="promote", article_types=[types[4]], max_cards=2, **home),
                  Rule(name=f"promote {types[5]}", action="promote", article_types=[types[5]], max_cards=1,
                       row="home.trending", **home),
                  Rule(name="pin 1", action="pin", product_id=sold[0], position=1, row="home.trending", **home),
                  Rule(name="pin 2", action="pin", product_id=sold[1], position=3, **home)]  # fmt: skip
        for rule in rules:
            rule.name = f"bench: {rule.name}"
        Rule.objects.bulk_create(rules)
        for name, chosen in (("hide list 1", sold[10:60]), ("hide list 2", sold[60:120])):
            Rule.objects.create(name=f"bench: {name}", action="hide", **home).products.set(chosen)
        # bulk_create skips save() but not the triggers: the generation moved, every page recomputes.

    if args.install or args.remove:
        with transaction.atomic():
            Rule.objects.filter(name__startswith="bench: ").delete()
            if args.install:
                install()
        print(f"{Rule.objects.filter(name__startswith='bench: ').count()} benchmark rules saved")
        return
    with transaction.atomic():
        install()
        print(f"{Rule.objects.count()} rules; {len(visitors)} visitors with views, {len(buyers)} customers")
        values = serving_values()
        for number in range(args.rounds):
            pages(False, values), pages(True, values)  # warm: models, vectors, facts, the compiled rules
            off, on = [], []
            for _ in range(2):
                off += pages(False, values)
                on += pages(True, values)
            paired = [b - a for a, b in zip(off, on, strict=True)]
            print(
                f"round {number + 1}: computed homepage median without rules {statistics.median(off):.2f} ms, "
                f"with 20 rules {statistics.median(on):.2f} ms; median paired difference "
                f"{statistics.median(paired):+.2f} ms (mean {statistics.mean(paired):+.2f} ms)"
            )
        transaction.set_rollback(True)


if __name__ == "__main__":
    main()
