"""Render deploy/nginx/storefront.conf.template from the environment (configuration only through it).

    STOREFRONT_UPSTREAMS=10.0.0.31:8000,10.0.0.32:8000 LISTEN=80 MEDIA_ROOT=/srv/shop/media \
        STATIC_ROOT=/srv/shop/staticfiles python deploy/render_nginx.py > /etc/nginx/conf.d/storefront.conf

STOREFRONT_MAX_FAILS (2) and STOREFRONT_FAIL_TIMEOUT (5s) set the passive health check of each host.
"""

import os
import string
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "nginx" / "storefront.conf.template"


def render(env: dict[str, str]) -> str:
    hosts = [host.strip() for host in env["STOREFRONT_UPSTREAMS"].split(",") if host.strip()]
    if not hosts:
        sys.exit("Set STOREFRONT_UPSTREAMS to the gunicorn hosts, e.g. 10.0.0.31:8000,10.0.0.32:8000")
    fails, timeout = env.get("STOREFRONT_MAX_FAILS", "2"), env.get("STOREFRONT_FAIL_TIMEOUT", "5s")
    servers = "\n".join(f"    server {host} max_fails={fails} fail_timeout={timeout};" for host in hosts)
    media_root = Path(env.get("MEDIA_ROOT", "/srv/shop/media"))
    if media_root.name != "media":
        sys.exit("MEDIA_ROOT must end in /media: nginx serves /media/... from its parent folder")
    # safe_substitute: nginx's own $host, $scheme... stay as they are; ours are all given here.
    return string.Template(TEMPLATE.read_text()).safe_substitute(
        UPSTREAM_SERVERS=servers,
        LISTEN=env.get("LISTEN", "80"),
        MEDIA_PARENT=str(media_root.parent),
        STATIC_ROOT=env.get("STATIC_ROOT", "/srv/shop/staticfiles"),
    )


if __name__ == "__main__":
    sys.stdout.write(render(dict(os.environ)))
