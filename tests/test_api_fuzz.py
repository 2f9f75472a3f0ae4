"""Schema-driven fuzzing: schemathesis generates requests from the project's own OpenAPI schema,
valid and invalid, against the real stack; no response may be a server error (5xx)."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from storefront.wsgi import application

# The two multipart upload endpoints are left out: the test client cannot encode the non-object
# bodies schemathesis generates for them (a client-side error, not a response); their bad inputs
# (non-image, truncated, bomb, oversized) have explicit tests in test_api.py.
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application).exclude(path_regex=r"/(images|photo)/$")


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


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_the_api_fail(case):
    case.call_and_validate(checks=[not_a_server_error])
