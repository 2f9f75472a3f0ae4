#!/usr/bin/env python
"""Django's command-line utility. Defaults to the local (demo) settings and starts the embedded
PostgreSQL and Redis those point at, unless DATABASE_URL / REDIS_URL name real servers."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storefront.settings.local")
    from storefront.embedded import start_configured

    start_configured()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
