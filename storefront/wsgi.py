"""WSGI entry point. Production settings are the default: a deployment that forgets
DJANGO_SETTINGS_MODULE fails loudly (no DATABASE_URL, REDIS_URL or SECRET_KEY) instead of
running with the demo's login and a development key."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storefront.settings.production")
# A web process bounds every statement (settings: DATABASE_QUERY_TIMEOUT_S): a stalled PostgreSQL
# answers 503 within seconds instead of holding every thread. Workers and commands run long queries.
os.environ.setdefault("DATABASE_QUERY_TIMEOUT_S", "5")
application = get_wsgi_application()
