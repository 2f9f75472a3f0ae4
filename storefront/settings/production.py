"""Production: real servers only (no embedded ones), secrets from the environment, HTTPS."""

import os

from storefront.env import env_bool, env_int, env_list, env_required

# Fail loudly rather than start embedded servers or run with the development key.
for _name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY"):
    env_required(_name)
if len(os.environ["SECRET_KEY"]) < 50:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("SECRET_KEY must be at least 50 random characters.")

from .base import *  # noqa: E402,F403

DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [])
SERVE_MEDIA = env_bool("SERVE_MEDIA", False)
DEMO_LOGIN_ENABLED = False

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP: 200 or 503, never 301
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
