"""Schema-driven fuzzing: schemathesis generates requests from the project's own OpenAPI schema,
valid and invalid, against the real stack, anonymously and as staff (so the writes are fuzzed too).
No response may be a server error, and every status code and body must be one the schema declares."""

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import load_all_checks, not_a_server_error

from storefront.wsgi import application

load_all_checks()
from schemathesis.specs.openapi.checks import (  # noqa: E402 (registered by load_all_checks)
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# The two multipart upload endpoints are left out: the test client cannot encode the non-object
# bodies schemathesis generates for them (a client-side error, not a response); their bad inputs
# (non-image, truncated, bomb, oversized, named like a web page) have explicit tests in test_api.py.
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application).exclude(path_regex=r"/(images|photo)/$")


def _full_schema():
    """The schema as staff read it (anonymous readers are not shown the staff-only writes), generated
    here: the module is read before any test database exists to hold a staff token."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    generated = SchemaGenerator(api_version="v1").get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(generated)))
    loaded.app = application
    return loaded.exclude(path_regex=r"/(images|photo)/$")


staff_schema = _full_schema()


@pytest.fixture(autouse=True)
def _catalog(db):
    from tests.factories import EmbeddedProductFactory

    EmbeddedProductFactory.create_batch(5)


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Django's WSGI handler closes the database connection after each request, which would end
    the test's transaction; its own test client switches that off the same way."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _no_throttle(monkeypatch):
    """Hundreds of requests from one address: the rate limit is tested on its own (test_api.py)."""
    from storefront.throttling import _Counted

    monkeypatch.setattr(_Counted, "allow_request", lambda *args: True)


@pytest.fixture
def staff_token(django_user_model) -> str:
    from rest_framework.authtoken.models import Token

    staff = django_user_model.objects.create_user("fuzz-staff", is_staff=True)
    return Token.objects.create(user=staff).key


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_the_api_fail(case):
    case.call_and_validate(checks=CHECKS)


@staff_schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_staff_request_makes_the_api_fail(case, staff_token):
    case.call_and_validate(checks=CHECKS, headers={"Authorization": f"Token {staff_token}"})
