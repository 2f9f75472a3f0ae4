"""Production settings: real servers only, secrets from the environment, `check --deploy` clean."""

import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings

PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "storefront.settings.production",
    "DATABASE_URL": "postgres://shop:secret@db.internal:5432/shop",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "SECRET_KEY": secrets.token_urlsafe(60),
    "ALLOWED_HOSTS": "shop.example.com",
}


def manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION and k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_database_url():
    env = {key: value for key, value in PRODUCTION.items() if key != "DATABASE_URL"}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "Set the environment variable DATABASE_URL" in result.stderr


def test_debug_is_off_unless_asked_for():
    assert settings.DEBUG is False


@pytest.mark.django_db
def test_with_urls_set_nothing_embedded_is_started(tmp_path):
    from tests.conftest import database_url_for_children

    env = {
        "DATABASE_URL": database_url_for_children(),
        "REDIS_URL": settings.REDIS_URL,
        "STOREFRONT_DATA_DIR": str(tmp_path),
    }
    result = manage("check", env=env)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "postgres").exists() and not (tmp_path / "redis").exists()


@pytest.mark.parametrize("module", ["storefront.wsgi", "storefront.asgi", "workers.celery"])
def test_every_deployment_entry_point_defaults_to_production_settings(module):
    """Without DJANGO_SETTINGS_MODULE, a deployment gets production settings, which refuse to start
    without real servers and a secret key, never the demo's settings with its customer login."""
    clean = {k: v for k, v in os.environ.items() if k not in (*PRODUCTION, "DJANGO_ALLOW_ASYNC_UNSAFE")}
    script = (
        f"import {module}, django; from django.conf import settings; django.setup(); "
        "from django.urls import Resolver404, resolve\n"
        "try: resolve('/demo/customers/'); print('demo routed')\n"
        "except Resolver404: print(settings.DEMO_LOGIN_ENABLED)"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=settings.BASE_DIR, env=clean,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode != 0
    assert "Set the environment variable DATABASE_URL" in result.stderr
    with_urls = {**clean, **{k: v for k, v in PRODUCTION.items() if k != "DJANGO_SETTINGS_MODULE"}}
    result = subprocess.run([sys.executable, "-c", script], cwd=settings.BASE_DIR, env=with_urls,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_production_routes_shopper_accounts_tokens_search_and_categories():
    """The demo login is off in production, but shoppers can sign up and in, apps can get a token,
    and search, categories and search by photo are there."""
    script = (
        "import django; django.setup(); from django.urls import resolve\n"
        "for path in ('/accounts/signup/', '/accounts/login/', '/accounts/password/reset/', '/account/',"
        " '/api/v1/auth/token/', '/search/', '/shop/', '/search/photo/', '/api/v1/search/'):\n"
        "    print(path, resolve(path).url_name)"
    )
    clean = {k: v for k, v in os.environ.items() if k not in (*PRODUCTION, "DJANGO_ALLOW_ASYNC_UNSAFE")}
    result = subprocess.run([sys.executable, "-c", script], cwd=settings.BASE_DIR, env={**clean, **PRODUCTION},
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    names = dict(line.split() for line in result.stdout.splitlines())
    assert names == {
        "/accounts/signup/": "account_signup", "/accounts/login/": "account_login",
        "/accounts/password/reset/": "account_reset_password", "/account/": "account",
        "/api/v1/auth/token/": "auth-token", "/search/": "search", "/shop/": "shop",
        "/search/photo/": "photo-search", "/api/v1/search/": "search",
    }  # fmt: skip
