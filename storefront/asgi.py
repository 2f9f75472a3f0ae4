"""ASGI entry point; production settings by default, as in wsgi.py."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storefront.settings.production")
os.environ.setdefault("DATABASE_QUERY_TIMEOUT_S", "5")  # as in wsgi.py
application = get_asgi_application()
