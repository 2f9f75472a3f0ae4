"""Settings for the test suite: the same real PostgreSQL/pgvector, a Redis of its own, fast hashing.

The suite's conftest starts the embedded servers these settings point at (unless URLs are set).
"""

import os
from pathlib import Path

from storefront import embedded
from storefront.database.replicas import replica_databases
from storefront.env import env_bool, env_str

from .base import *  # noqa: F403
from .base import DATA_DIR, DATABASE_URL, DATABASES, MIDDLEWARE, celery_broker_url, redis_caches

SECRET_KEY = "test-only-key-never-used-outside-the-test-suite-0123456789"
# The suite gets its own embedded Redis, so a demo running beside it keeps its queue.
if not env_str("REDIS_URL"):
    EMBEDDED_REDIS_DIR = DATA_DIR / "test"
    REDIS_URL = embedded.redis_url(EMBEDDED_REDIS_DIR)
    CELERY_BROKER_URL = CELERY_RESULT_BACKEND = celery_broker_url(REDIS_URL)
    CACHES = redis_caches(REDIS_URL)

DEMO_LOGIN_ENABLED = True  # the demo's pages are tested too; production switches them off (tested)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Compiling a ranker's trees takes seconds of a core: the tests that mean it turn it on.
RANKER_COMPILE = False
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", DATA_DIR / "test-media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# A replica alias for the routing tests: a TEST MIRROR of the test database (Django points it at the
# same database through a connection of its own, so it sees committed rows only, as a replica does;
# tests/test_replica_routing.py). The router is off, as on one box, unless TEST_WITH_REPLICA_ROUTER=1,
# which runs the whole suite with it on. (The multi-host test, deploy/multihost.py, uses a real
# streaming replica.)
DATABASES = {"default": DATABASES["default"], **replica_databases(DATABASES["default"], [DATABASE_URL], mirror=True)}
TEST_WITH_REPLICA_ROUTER = env_bool("TEST_WITH_REPLICA_ROUTER", False)
DATABASE_REPLICAS = [alias for alias in DATABASES if alias != "default"] if TEST_WITH_REPLICA_ROUTER else []
DATABASE_ROUTERS = ["storefront.database.routing.ReplicaRouter"] if DATABASE_REPLICAS else []
if DATABASE_REPLICAS and "storefront.database.routing.ReplicaPinMiddleware" not in MIDDLEWARE:
    MIDDLEWARE.insert(1, "storefront.database.routing.ReplicaPinMiddleware")

# Most tests read account mails from Django's outbox, in the request, and sign up without confirming;
# the tests of issue 40 (tests/test_accounts.py) turn on what production does: mails sent by a real
# worker, and mandatory confirmation, under which sign-up answers the same for a known address.
MAIL_QUEUED = env_bool("MAIL_QUEUED", False)
ACCOUNT_EMAIL_VERIFICATION = env_str("ACCOUNT_EMAIL_VERIFICATION", "optional")
# Impressions are written when a test says so (experiments.services.impressions.buffer.flush()): a
# background writer would write them on its own connection, outside the test's transaction.
IMPRESSIONS_FLUSH_S = float(env_str("IMPRESSIONS_FLUSH_S", "0"))
