import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

SHARED_DATA = Path(settings.BASE_DIR).parent / "shared" / "data"


def pytest_configure(config):
    """The embedded PostgreSQL and Redis the test settings point at (none where URLs are set).
    Settings only name them; starting them is the suite's job, before any test touches them."""
    from django.test import TransactionTestCase

    from storefront.embedded import start_configured

    start_configured()
    # Every test may read the replica alias (a mirror of the test database, storefront/settings/test.py),
    # where the replica router sends reads when it is on.
    TransactionTestCase.databases = frozenset(settings.DATABASES)


def shared_folder(name: str, marker: str) -> Path:
    folder = SHARED_DATA / name
    if not (folder / marker).exists():
        pytest.fail(f"The shared data is missing: expected {folder / marker} (see ../shared/data/README.md).")
    return folder


@pytest.fixture(scope="session")
def hm_folder() -> Path:
    return shared_folder("hm", "articles.csv")


@pytest.fixture(scope="session")
def myntra_folder() -> Path:
    return shared_folder("myntra", "styles.csv")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Tests roll back thousands of embedded rows; their dead entries stay in the HNSW graph until a
    vacuum, and with --reuse-db they pile up across runs until index scans give up early."""
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("VACUUM recommendations_productembedding")


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty shared cache and no values kept per ServingGeneration: a page,
    a throttle count or a model id kept by an earlier test (whose rows were rolled back, and the
    generation with them) must not answer this one."""
    from django.core.cache import cache

    from recommendations.selectors.generation import forget

    cache.clear()
    forget()


@pytest.fixture
def exact_vector_search(db):
    """For a test that expects the exact nearest products of the HNSW index. HNSW is approximate, and
    more so among dead entries: every earlier test's rolled-back rows stay in the graph until a VACUUM,
    which a test's transaction cannot run, and CI runs missed products such tests expect (once the
    farthest, once the nearest) among thousands of them. REINDEX rebuilds the indexes from the live
    rows (this test's own included, whenever they are written) and, being transactional, is rolled
    back with the rest of the test."""
    from django.db import connection

    from recommendations.models import ProductEmbedding

    with connection.cursor() as cursor:
        cursor.execute(f"REINDEX TABLE {ProductEmbedding._meta.db_table}")


@pytest.fixture(autouse=True)
def _shown_products_at_once(request):
    """The "shown products" value (migrations 0013 and 0014) and colour siblings' row versions (catalog
    0012) move at a change's commit, and a test's changes are never committed (the test's transaction is
    rolled back): inside that transaction the triggers fire at each statement instead, as each of a
    request's autocommitted statements does in the store.
    Tests that commit (transactional_db) keep them at commit."""
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or (marker and marker.kwargs.get("transaction"))
    if transactional or not (marker or "db" in request.fixturenames):
        return
    request.getfixturevalue("db")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SET CONSTRAINTS recommendations_shown_update, recommendations_shown_delete,"
            " recommendations_shown_photo, catalog_colour_siblings_insert, catalog_colour_siblings_update,"
            " catalog_colour_siblings_delete IMMEDIATE"
        )


def database_url_for_children() -> str:
    """A DATABASE_URL for the test database, so that child processes use the same one."""
    from django.db import connection

    params = connection.settings_dict
    host = params["OPTIONS"].get("host") or params["HOST"]
    if host.startswith("/"):
        return f"postgresql://{params['USER']}:{params['PASSWORD']}@/{params['NAME']}?host={host}"
    return f"postgresql://{params['USER']}:{params['PASSWORD']}@{host}:{params['PORT'] or 5432}/{params['NAME']}"


@pytest.fixture
def celery_worker_process(transactional_db, settings):
    """A real `celery worker` process on the test database and the test Redis."""
    from workers import celery_app

    celery_app.control.purge()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "storefront.settings.test",
        "DATABASE_URL": database_url_for_children(),
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    command = [str(Path(sys.executable).parent / "celery"), "-A", "workers", "worker",
               "-Q", "search,embeddings,default", "--concurrency", "1", "--loglevel", "INFO",
               "-n", f"test-{os.getpid()}@%h"]  # fmt: skip
    with open(Path(settings.MEDIA_ROOT).parent / "worker.log", "w+") as log:
        process = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not celery_app.control.ping(timeout=0.5):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                log.seek(0)
                pytest.fail(f"The Celery worker did not start:\n{log.read()[-3000:]}")
        yield process
        process.terminate()
        process.wait(timeout=30)


def wait_until(condition, timeout: float = 90, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout} s waiting for {condition.__doc__ or condition}")


@pytest.fixture
def browser(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )  # fmt: skip
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def _no_impressions_left_over():
    """Impressions waiting in this process's buffer belong to the test that made them."""
    yield
    from experiments.services.impressions import buffer

    buffer.clear()


@pytest.fixture
def two_servers(settings, transactional_db):
    """Two gunicorn servers of one worker each on the test database and Redis: their URLs."""
    from tests.servers import free_port, gunicorn, stop, wait_up

    ports = [free_port(), free_port()]
    with contextlib.ExitStack() as stack:
        logs = [stack.enter_context(open(Path(settings.MEDIA_ROOT).parent / f"gunicorn-{port}.log", "w+"))
                for port in ports]  # fmt: skip
        servers = [gunicorn(settings, port, log) for port, log in zip(ports, logs, strict=True)]
        stack.callback(stop, servers)
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url, server, log in zip(urls, servers, logs, strict=True):
            wait_up(url, server, log)
        yield urls
