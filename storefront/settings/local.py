"""Settings for a developer's machine and the demo store (the default of manage.py only).

Every deployment entry point (wsgi, asgi, Celery) defaults to the production settings instead.
"""

import secrets
from pathlib import Path

from storefront.env import env_str

from .base import *  # noqa: F403
from .base import DATA_DIR


def _data_folder_secret(path: Path) -> str:
    """A random key kept in the data folder, so the demo never runs on a key published in the repo."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env_str("SECRET_KEY") or _data_folder_secret(DATA_DIR / "secret-key")
# "Browse as an H&M customer": signs in as an imported demo customer (storefront/demo_login.py).
DEMO_LOGIN_ENABLED = True
# Mail (sign-up confirmations, password resets) is printed on the demo's console.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
