"""The replica router (storefront/database/routing.py) with real connections: a replica alias that is
a TEST MIRROR of the test database (its own connection, committed rows only), made stale where a
test needs replication lag by holding a REPEATABLE READ snapshot open on it."""

import os
import random
import subprocess
import sys
from contextlib import contextmanager

import numpy as np
import pytest
from celery.signals import task_postrun, task_prerun
from django.conf import settings as django_settings
from django.db import connections, router, transaction
from django.test.utils import CaptureQueriesContext

from catalog.models import Gender, Product
from recommendations.models import Interaction, TrendingScore
from storefront.database import routing
from tests.factories import ProductFactory
from tests.test_homepage import make_catalog

REPLICA = "replica1"
ROUTER = "storefront.database.routing.ReplicaRouter"
PIN_MIDDLEWARE = "storefront.database.routing.ReplicaPinMiddleware"


@pytest.fixture
def routed(settings):
    """The router on, with the test settings' mirror as the one replica."""
    settings.DATABASE_REPLICAS = [REPLICA]
    settings.DATABASE_ROUTERS = [ROUTER]
    if PIN_MIDDLEWARE not in settings.MIDDLEWARE:
        settings.MIDDLEWARE = [settings.MIDDLEWARE[0], PIN_MIDDLEWARE, *settings.MIDDLEWARE[1:]]
    routing._end()
    yield
    routing._end()


@contextmanager
def queries():
    """(primary, replica) query logs of the block."""
    with CaptureQueriesContext(connections["default"]) as primary, CaptureQueriesContext(connections[REPLICA]) as rep:
        yield primary, rep


@contextmanager
def stale_replica():
    """The replica as a lagging one looks: a snapshot taken now, which later commits do not reach."""
    with transaction.atomic(using=REPLICA), connections[REPLICA].cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("SELECT count(*) FROM recommendations_interaction")  # the snapshot starts here
        yield


def test_off_by_default_one_box_has_no_router_no_replica_and_no_middleware():
    """Without DATABASE_REPLICA_URLS the settings are those of one box (the demo's local settings)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_REPLICA_URLS", "TEST_WITH_REPLICA_ROUTER")}
    env["DJANGO_SETTINGS_MODULE"] = "storefront.settings.local"
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(sorted(s.DATABASES), s.DATABASE_ROUTERS, any('routing' in m for m in s.MIDDLEWARE))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "['default'] [] False", out.stderr[-2000:]


def test_replica_urls_become_aliases_with_the_primarys_options():
    from storefront.database.replicas import replica_databases

    primary = {"ENGINE": "storefront.database", "NAME": "shop", "HOST": "", "PORT": "", "CONN_MAX_AGE": 60,
               "OPTIONS": {"host": "/run/pg", "options": "-c hnsw.ef_search=100", "wait_timeout": 6}}  # fmt: skip
    aliases = replica_databases(primary, ["postgres://u:p@10.0.0.2:5433/shop", "postgres://u:p@r2/shop"])
    assert list(aliases) == ["replica1", "replica2"]
    one = aliases["replica1"]
    assert (one["HOST"], one["PORT"], one["ENGINE"]) == ("10.0.0.2", 5433, "storefront.database")
    assert one["OPTIONS"] == {"options": "-c hnsw.ef_search=100", "wait_timeout": 6}  # not the primary's socket
    assert primary["OPTIONS"]["host"] == "/run/pg"  # the primary's settings are left as they were


@pytest.mark.django_db(transaction=True)
def test_reads_go_to_the_replica_writes_to_the_primary_and_pin_the_thread(routed):
    ProductFactory()  # commits: the replica sees it
    routing._end()
    with queries() as (primary, replica):
        assert Product.objects.count() == 1
    assert (len(primary), len(replica)) == (0, 1)
    with queries() as (primary, replica):
        ProductFactory()
        assert Product.objects.count() == 2  # read after a write: the primary
    assert len(replica) == 0 and len(primary) == 2
    routing._end()
    with queries() as (primary, replica), transaction.atomic():
        assert Product.objects.count() == 2  # inside a transaction on the primary: the primary
    assert len(replica) == 0


def test_migrations_run_on_the_primary_only(routed):
    assert router.allow_migrate("default", "catalog", model_name="product")
    assert not router.allow_migrate(REPLICA, "catalog", model_name="product")


@pytest.mark.django_db(transaction=True)
def test_celery_tasks_read_from_the_primary(routed):
    routing.pin_tasks()
    task_prerun.send(sender=None, task_id="t", task=None)
    assert router.db_for_read(Product) == "default"
    task_postrun.send(sender=None, task_id="t", task=None)
    assert router.db_for_read(Product) == REPLICA


@pytest.fixture
def catalog(transactional_db):
    rng = np.random.default_rng(5)
    products = make_catalog([(Gender.WOMEN, 5, True, f"type{i % 6}", i % 3) for i in range(30)], rng)
    TrendingScore.objects.bulk_create(TrendingScore(product=p, score=float(i)) for i, p in enumerate(products))
    return products


def test_pages_read_the_catalog_from_the_replica_and_the_history_from_the_primary(routed, catalog, client):
    client.get("/")
    with queries() as (primary, replica):
        assert client.get("/shop/").status_code == 200
        assert client.get("/").status_code == 200
    assert any("catalog_product" in q["sql"] for q in replica.captured_queries)
    assert not any("recommendations_interaction" in q["sql"] for q in replica.captured_queries)
    assert not any("recommendations_visitor" in q["sql"] for q in replica.captured_queries)


@pytest.mark.parametrize("history_from_primary", [True, False])
def test_under_lag_a_view_still_changes_the_next_page(routed, catalog, client, settings, history_from_primary):
    """The replica holds the catalog but not the view the shopper just made. Read from the primary,
    the history has it and the next homepage is personalised; read from the lagging replica (the
    control, DATABASE_PRIMARY_READS emptied), it is not: the snapshot really lags."""
    if not history_from_primary:
        settings.DATABASE_PRIMARY_READS = ["auth", "sessions"]
    assert client.get("/").status_code == 200
    with stale_replica():
        with queries() as (_, replica):
            assert client.get(f"/products/{catalog[0].pk}/").status_code == 200
            page = client.get("/").content.decode()
        assert Interaction.objects.using("default").filter(product=catalog[0]).count() == 1
        assert replica.captured_queries  # the pages did read the lagging replica
    personalised = "Because you viewed" in page
    assert personalised is history_from_primary


def test_a_post_pins_the_browser_to_the_primary_for_a_while(routed, catalog, client, settings):
    settings.DATABASE_REPLICA_PIN_S = 15
    client.get("/")
    response = client.post("/preferences/gender/", {"gender": Gender.WOMEN})
    assert response.status_code == 302 and response.cookies[routing.PIN_COOKIE]["max-age"] == 15
    with queries() as (primary, replica):
        assert client.get("/browse/").status_code == 200
    assert primary.captured_queries and not replica.captured_queries
    client.cookies.pop(routing.PIN_COOKIE)
    with queries() as (primary, replica):
        assert client.get("/browse/").status_code == 200
    assert replica.captured_queries


def test_the_router_follows_the_settings_of_this_run():
    """TEST_WITH_REPLICA_ROUTER=1 runs the whole suite with the router on (see storefront/settings/test.py)."""
    on = bool(django_settings.DATABASE_REPLICAS)
    assert on == (os.environ.get("TEST_WITH_REPLICA_ROUTER") == "1")
    assert (ROUTER in django_settings.DATABASE_ROUTERS) is on
    random.seed(0)


def test_under_lag_what_is_kept_under_the_serving_values_is_read_on_the_primary(routed, catalog, client):
    """The serving values are read on the primary, so what a process keeps under them (which of the
    similar products pass the hard filters; the same for product pages and homepages) is read there
    too: read on a lagging replica, a product sold out on the primary would stay listed until the
    next change. (The product page itself writes a view first, which pins its reads to the primary.)"""
    url = f"/api/v1/products/{catalog[0].pk}/similar/"

    def listed() -> list[int]:
        return [item["id"] for item in client.get(url).json()]

    first = listed()
    sold_out = first[0]
    with stale_replica():
        Product.objects.using("default").filter(pk=sold_out).update(stock_quantity=0)
        assert Product.objects.using(REPLICA).get(pk=sold_out).stock_quantity > 0  # the replica lags
        after = listed()
    assert sold_out not in after and after
    assert sold_out not in listed()  # and not kept from the lag either
