"""Settings for the test suite: the same real PostgreSQL/pgvector, a Redis of its own, fast hashing."""

import os
from pathlib import Path

from storefront import embedded

# The suite gets its own embedded Redis, so a demo running beside it keeps its queue.
if not os.environ.get("REDIS_URL"):
    _data = Path(os.environ.get("STOREFRONT_DATA_DIR", Path(__file__).resolve().parents[2] / ".data"))
    os.environ["REDIS_URL"] = embedded.redis_url(_data / "test")

from .base import *  # noqa: E402,F403
from .base import DATA_DIR  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", DATA_DIR / "test-media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
