"""WSGI entry point. Production settings are the default: a deployment that forgets
DJANGO_SETTINGS_MODULE fails loudly (no DATABASE_URL, REDIS_URL or SECRET_KEY) instead of
running with the demo's login and a development key."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storefront.settings.production")
application = get_wsgi_application()
