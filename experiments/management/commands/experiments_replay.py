"""Replay real shoppers' days through the running store, over HTTP, in an experiment's arms: a yardstick
for the results page's statistics (issue 43), not a claim about real shoppers.

    STOREFRONT_DATA_DIR=.data/hm-replay python manage.py experiments_replay --prepare   # once: see below
    STOREFRONT_DATA_DIR=.data/hm-replay python manage.py experiments_replay [--shoppers 6000]

The data folder must be a copy of the H&M week's (`make evaluate` builds .data/hm-week; copy it to a
folder whose name ends in "replay"). ``--prepare`` deletes its events from --from on (the test days),
puts every product in stock, and retrains ALS, the rankers and trending on what is left: the models
know nothing of the days replayed.

Then gunicorn serves the folder (3 workers x 3 threads, as the demo), an experiment splits the shoppers
between the arms (default: the store as served, trending only, and a holdout with no recommendation),
and each test shopper's day is replayed with this behaviour model:
* the shopper opens the homepage (a returning shopper, one with purchases before --from, signed in as
  themselves; a new one as an anonymous visitor, the same visitor on each of their days);
* each recommended card that is one of their real purchases of that day is clicked (the product page)
  and added to the cart;
* each real purchase not reached that way is found organically (as by search) with probability
  --organic, the same in every arm: its product page is opened and it is added; a recommended card
  there that is another of the day's purchases is clicked and added under the same rule;
* the cart is checked out at the catalog's prices.
No Celery worker runs, so trending and the models do not move during the replay.

At the end gunicorn is stopped cleanly (its impressions written), the experiment is rolled up, and the
results page's figures are printed beside a recount straight from the log, with the A/A check over
the first arm's shoppers (--aa re-assignments).
"""

import csv
import http.cookiejar
import importlib
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from catalog.models import Product
from experiments.models import Arm, Experiment, Exposure
from experiments.selectors.results import aa_false_positive_rate, experiment_results
from experiments.services.autopilot import autopilot_step
from experiments.services.rollup import experiment_rollup
from recommendations.models import Interaction, InteractionKind

CARD = re.compile(r'<a class="card[^"]*" href="([^"]+)" data-product-id="(\d+)"')


class Command(BaseCommand):
    help = "Replay the H&M test days' shoppers through the running store in an experiment's arms (a yardstick)."

    def add_arguments(self, parser):
        parser.add_argument("--log", default=str(Path(settings.BASE_DIR).parent / "shared/data/hm-week"))
        parser.add_argument("--from", dest="start", default="2020-09-19", help="the first day replayed")
        parser.add_argument("--until", default="2020-09-21", help="the day after the last replayed")
        parser.add_argument("--prepare", action="store_true", help="delete the replayed days' events, retrain")
        parser.add_argument("--shoppers", type=int, default=6000, help="shoppers sampled (0: all)")
        parser.add_argument("--organic", type=float, default=0.5)
        parser.add_argument("--arms", default="served,trending,holdout")
        parser.add_argument("--port", type=int, default=8766)
        parser.add_argument("--concurrency", type=int, default=6)
        parser.add_argument("--aa", type=int, default=200, help="A/A re-assignments of the first arm's shoppers")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--control", default="trending", help="the control arm's key")
        parser.add_argument(
            "--autopilot",
            action="store_true",
            help="an autopilot experiment, rolled up and re-allocated every --step-every visits",
        )
        parser.add_argument("--step-every", type=int, default=500)

    def handle(self, *args, **options):
        if not str(settings.DATA_DIR).rstrip("/").endswith("replay"):
            raise CommandError(
                "Run it on a copy of the H&M week whose folder name ends in 'replay' (it deletes events)."
            )
        start = date.fromisoformat(options["start"])
        until = date.fromisoformat(options["until"])
        if options["prepare"]:
            self._prepare(start)
            return
        days = _days_of(Path(options["log"]) / "transactions_train.csv", start, until)
        rng = random.Random(options["seed"])
        customers = sorted({customer for customer, _ in days})
        if options["shoppers"] and len(customers) > options["shoppers"]:
            customers = sorted(rng.sample(customers, options["shoppers"]))
        chosen = set(customers)
        visits = sorted((day, customer, articles) for (customer, day), articles in days.items() if customer in chosen)
        products = dict(Product.objects.values_list("external_id", "pk"))
        users = dict(get_user_model().objects.filter(username__in=chosen).values_list("username", "pk"))
        cutoff = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
        returning = set(
            Interaction.objects.filter(user_id__in=users.values(), created_at__lt=cutoff).values_list(
                "user_id", flat=True
            )
        )
        experiment = self._experiment(options["arms"].split(","), options["control"], options["autopilot"])
        began = timezone.now()
        server = _serve(options["port"])
        try:
            url = f"http://127.0.0.1:{options['port']}"
            _wait_until_up(url)
            shoppers = {customer: Shopper(url, users.get(customer) if users.get(customer) in returning else None)
                        for customer in customers}  # fmt: skip
            found = random.Random(options["seed"] + 1)
            lock = threading.Lock()
            tally = defaultdict(int)

            def replay(visit) -> None:
                day, customer, articles = visit
                wanted = [products[a] for a in articles if a in products]
                with lock:
                    organic = {pid: found.random() < options["organic"] for pid in wanted}
                counts = shoppers[customer].day(wanted, organic)
                with lock:
                    for key, value in counts.items():
                        tally[key] += value

            # Visits run in slices; after each, an autopilot experiment is rolled up and re-allocated as
            # Celery beat would, and the new shares given time to reach every gunicorn process.
            every = options["step_every"] if options["autopilot"] else len(visits)
            self.allocations = []
            with ThreadPoolExecutor(options["concurrency"]) as pool, tqdm(total=len(visits), unit="visit") as bar:
                for begin in range(0, len(visits), every):
                    for _ in pool.map(replay, visits[begin : begin + every]):
                        bar.update()
                    if options["autopilot"]:
                        time.sleep(settings.IMPRESSIONS_FLUSH_S + 1)  # the workers' impressions written
                        experiment_rollup(experiment)
                        experiment.refresh_from_db()
                        step = autopilot_step(experiment)
                        self.allocations.append((min(begin + every, len(visits)), step))
                        time.sleep(settings.EXPERIMENTS_CACHE_S + 1)
        finally:
            server.terminate()  # a clean shutdown: each worker writes its waiting impressions
            server.wait(timeout=120)
        self.stdout.write(f"Replayed {len(visits):,} visits of {len(customers):,} shoppers "
                          f"({len(returning):,} returning, signed in): " + json.dumps(dict(tally)))  # fmt: skip
        experiment_rollup(experiment)
        self._report(experiment, began, options)

    def _prepare(self, start: date) -> None:
        cutoff = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
        deleted, _ = Interaction.objects.filter(created_at__gte=cutoff).delete()
        Product.objects.update(stock_quantity=1_000_000, is_active=True)
        self.stdout.write(f"Deleted {deleted:,} events from {start} on; every product in stock. Retraining:")
        call_command("train_recommender")
        call_command("train_ranker")
        from recommendations.services.trending import trending_refresh

        trending_refresh()
        self.stdout.write("Prepared: the models and trending know nothing of the replayed days.")

    def _experiment(self, arms: list[str], control: str, autopilot: bool) -> Experiment:
        if control not in arms:
            raise CommandError(f"The control {control!r} is not one of the arms {arms}.")
        Experiment.objects.filter(name__startswith="Replay").update(is_enabled=False)
        experiment = Experiment.objects.create(
            name=f"Replay {timezone.now():%Y-%m-%d %H:%M}{' (autopilot)' if autopilot else ''}", surfaces=["home"],
            starts_at=timezone.now(), autopilot=autopilot,
        )  # fmt: skip
        shares = [100 // len(arms)] * len(arms)
        shares[0] += 100 - sum(shares)
        for strategy, share in zip(arms, shares, strict=True):
            Arm.objects.create(
                experiment=experiment, key=strategy, strategy=strategy, share=share, is_control=strategy == control
            )
        return experiment

    def _report(self, experiment: Experiment, began, options) -> None:
        results = experiment_results(experiment)
        # The recount: straight from the log, each exposed shopper's purchases since the replay began.
        exposures = list(Exposure.objects.filter(experiment=experiment).values_list("arm", "shopper", "user_id"))
        spent: dict[str, float] = defaultdict(float)
        for user_id, visitor_id, price in Interaction.objects.filter(
            created_at__gte=began, kind=InteractionKind.PURCHASE
        ).values_list("user_id", "visitor_id", "price"):
            spent[f"u{user_id}" if user_id else f"v{visitor_id}"] += float(price or 0)
        recount = defaultdict(lambda: [0, 0, 0.0])  # shoppers, buyers, revenue
        for arm, shopper, user_id in exposures:
            key = f"u{user_id}" if user_id else shopper
            recount[arm][0] += 1
            recount[arm][1] += key in spent
            recount[arm][2] += spent.get(key, 0.0)
        lines = ["| Arm | Strategy | Shoppers | Lists shown | Click-through | Conversion [95%] | Minus control "
                 "[95%] | Revenue per shopper [95%] | Minus control [95%] | P(best) revenue | "
                 "Recount: buyers, revenue |",
                 "| --- | --- | ---: | ---: | ---: | --- | --- | --- | --- | ---: | ---: |"]  # fmt: skip
        for arm in results.arms:
            c, r = arm.conversion, arm.revenue_per_shopper
            dc, dr = arm.conversion_vs_control, arm.revenue_vs_control
            lines.append(
                f"| {arm.key}{' (control)' if arm.is_control else ''} | {arm.strategy} | {arm.shoppers:,} | "
                f"{arm.impressions:,} | {arm.click_through.value:.4f} | {c.value:.4f} [{c.low:.4f}, {c.high:.4f}] | "
                + (f"{dc.value:+.4f} [{dc.low:+.4f}, {dc.high:+.4f}]" if dc else "–")
                + " | "
                f"{r.value:.4f} [{r.low:.4f}, {r.high:.4f}] | "
                + (f"{dr.value:+.4f} [{dr.low:+.4f}, {dr.high:+.4f}]" if dr else "–")
                + " | "
                f"{arm.best_revenue:.3f} | {recount[arm.key][1]:,} of {recount[arm.key][0]:,}, "
                f"{recount[arm.key][2]:.2f} |"
            )
        lines.append("")
        if results.srm_p is not None:
            lines.append(f"Sample-ratio check: p = {results.srm_p:.4f}" + (" MISMATCH" if results.mismatch else ""))
        first = results.arms[0].key
        rows = np.array(Exposure.objects.filter(experiment=experiment, arm=first).values_list("purchases", "revenue"),
                        dtype=float)  # fmt: skip
        if len(rows) > 100:
            conversion_rate = aa_false_positive_rate((rows[:, 0] > 0).astype(float), reassignments=options["aa"])
            revenue_rate = aa_false_positive_rate(rows[:, 1], reassignments=options["aa"], seed=1)
            lines.append(
                f"A/A over {options['aa']} re-assignments of the {len(rows):,} shoppers of '{first}': significant "
                f"at 95% in {conversion_rate:.1%} (conversion), {revenue_rate:.1%} (revenue)"
            )
        if options["autopilot"]:
            lines += self._autopilot_report(experiment)
        out = Path(settings.BASE_DIR) / "benchmarks" / "results" / f"replay-{time.strftime('%Y%m%d-%H%M%S')}.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(lines) + "\n")
        self.stdout.write("\n".join(lines))
        self.stdout.write(f"Table: {out.relative_to(settings.BASE_DIR)}")

    def _autopilot_report(self, experiment: Experiment) -> list[str]:
        """The shares after each step, and where the first half of the shoppers went."""
        control = experiment.arms.get(is_control=True).key
        keys = list(experiment.arms.values_list("key", flat=True))
        lines = ["", "| Visits | " + " | ".join(f"{k} shoppers" for k in keys) + " | "
                 + " | ".join(f"{k} share" for k in keys) + " | P(best) |",
                 "| ---: | " + " | ".join("---:" for _ in keys * 2) + " | --- |"]  # fmt: skip
        for visits, step in self.allocations:
            lines.append(f"| {visits:,} | " + " | ".join(f"{step.shoppers.get(k, 0):,}" for k in keys) + " | "
                         + " | ".join(f"{step.shares.get(k, 0):.1f}%" for k in keys) + " | "
                         + ", ".join(f"{k} {p:.3f}" for k, p in step.best.items()) + " |")  # fmt: skip
        order = list(
            Exposure.objects.filter(experiment=experiment).order_by("first_seen").values_list("arm", flat=True)
        )
        first_half = order[: len(order) // 2]
        results = experiment_results(experiment)
        best = max((a for a in results.arms if a.key != control), key=lambda a: a.conversion.value).key
        others = [arm for arm in first_half if arm != control]
        lines.append("")
        in_control = sum(a == control for a in first_half) / max(1, len(first_half))
        on_best = sum(a == best for a in others) / max(1, len(others))
        lines.append(
            f"First half of the shoppers ({len(first_half):,}): {in_control:.1%} in the control ({control}); "
            f"of the others {on_best:.1%} in the best arm ({best}). Concluded: {experiment.concluded or 'no'}"
        )
        return lines


def _days_of(path: Path, start: date, until: date) -> dict[tuple[str, date], list[str]]:
    """(customer, day) -> the articles they bought that day, in the log's order."""
    days: dict[tuple[str, date], list[str]] = defaultdict(list)
    with path.open() as handle:
        for row in csv.DictReader(handle):
            day = date.fromisoformat(row["t_dat"])
            if start <= day < until:
                days[(row["customer_id"], day)].append(row["article_id"])
    return days


class Shopper:
    """One shopper's browser: cookies, a session when signed in."""

    def __init__(self, url: str, user_id: int | None) -> None:
        self.url = url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.lock = threading.Lock()  # one shopper's days run one after the other
        if user_id is not None:
            self._sign_in(user_id)

    def _sign_in(self, user_id: int) -> None:
        user = get_user_model().objects.get(pk=user_id)
        store = importlib.import_module(settings.SESSION_ENGINE).SessionStore()
        store[SESSION_KEY], store[BACKEND_SESSION_KEY] = str(user.pk), "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.save()
        self.jar.set_cookie(_cookie(settings.SESSION_COOKIE_NAME, store.session_key))

    def get(self, path: str) -> str:
        with self.opener.open(self.url + path, timeout=60) as response:
            return response.read().decode()

    def post(self, path: str) -> None:
        token = next((c.value for c in self.jar if c.name == settings.CSRF_COOKIE_NAME), "")
        request = urllib.request.Request(self.url + path, data=b"", method="POST",
                                         headers={"X-CSRFToken": token, "Referer": self.url + "/"})  # fmt: skip
        with self.opener.open(request, timeout=60) as response:
            response.read()

    def day(self, wanted: list[int], organic: dict[int, bool]) -> dict[str, int]:
        counts = defaultdict(int)
        with self.lock:
            left = list(dict.fromkeys(wanted))
            cards = dict((int(pid), href) for href, pid in CARD.findall(self.get("/")))
            counts["homepages"] += 1
            added = False
            for pid in [pid for pid in left if pid in cards]:
                self._take(cards[pid], pid)
                left.remove(pid)
                counts["from_homepage"] += 1
                added = True
            for pid in list(left):
                if pid not in left or not organic.get(pid):
                    continue
                page = self.get(f"/products/{pid}/")
                self.post(f"/cart/add/{pid}/")
                left.remove(pid)
                counts["organic"] += 1
                added = True
                for href, other in CARD.findall(page):
                    if int(other) in left:
                        self._take(href.replace("&amp;", "&"), int(other))
                        left.remove(int(other))
                        counts["from_product_page"] += 1
            if added:
                self.post("/cart/checkout/")
                counts["checkouts"] += 1
            counts["missed"] += len(left)
        return counts

    def _take(self, href: str, pid: int) -> None:
        self.get(href.replace("&amp;", "&"))
        self.post(f"/cart/add/{pid}/")


def _cookie(name: str, value: str) -> http.cookiejar.Cookie:
    return http.cookiejar.Cookie(0, name, value, None, False, "127.0.0.1", False, False, "/", True, False, None,
                                 True, None, None, {})  # fmt: skip


def _serve(port: int) -> subprocess.Popen:
    """gunicorn on this data folder's servers, as the demo runs it, with the API's throttles raised."""
    env = {**os.environ, "DATABASE_URL": settings.DATABASE_URL, "REDIS_URL": settings.REDIS_URL,
           "SECRET_KEY": settings.SECRET_KEY, "DJANGO_SETTINGS_MODULE": "storefront.settings.local",
           "API_THROTTLE_ANON": "1000000/min", "API_THROTTLE_USER": "1000000/min",
           "RATE_LIMIT_LOGIN": "1000000/m/ip", "HOME_PAGE_CACHE_S": "300"}  # fmt: skip
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    return subprocess.Popen([gunicorn, "storefront.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "3",
                             "--threads", "3", "--log-level", "warning"], env=env, cwd=settings.BASE_DIR)  # fmt: skip


def _wait_until_up(url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/healthz", timeout=5).status == 200:
                return
        except OSError:
            time.sleep(0.5)
    raise CommandError(f"The store at {url} did not come up.")
