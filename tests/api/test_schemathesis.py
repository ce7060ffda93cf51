"""Property-based run of the whole member API against its own OpenAPI schema (schemathesis).

Every operation in the schema (generated as ``/api/schema/`` serves it, so endpoints added later
are covered without touching this file) gets a bounded number of generated requests, valid and
invalid, sent in-process to Django's WSGI handler as a signed-in member (bearer token). Each
response must not be a 5xx and must conform to the schema: a documented status code, content
type, headers and body.
"""

import json

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.utils import translation
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

MAX_EXAMPLES = 25

# Operations that may refuse schema-valid input for reasons a schema cannot state; for them the
# check "valid data is accepted" is off (every other check still runs).
SERVER_SIDE_VALIDATION = {
    # Password strength (Django's validators) and unique username and phone.
    "POST /api/v1/auth/register/",
    # The member's current password, checked against theirs (a field error when it is not).
    "POST /api/v1/me/password/",
    "POST /api/v1/me/close/",
}


def load_schema():
    # Generated at collection, as the schema view would (no database needed): schemathesis
    # makes one test per operation from it. Its lazy fixture loader does not run under pytest 9.
    with translation.override("en"):
        spec = SchemaGenerator().get_schema(request=None, public=True)
        spec = json.loads(OpenApiJsonRenderer().render(spec, renderer_context={}))
    loaded = schemathesis.openapi.from_dict(spec)
    loaded.app = WSGIHandler()
    # No NUL characters in generated text: every text field refuses them on purpose (PostgreSQL
    # cannot store them; tests/api/test_me.py checks the 400), which a schema cannot express.
    loaded.config.generation.update(allow_x00=False, max_examples=MAX_EXAMPLES)
    return loaded


schema = load_schema()


@pytest.fixture
def in_process_app(db, throttle_rates):
    # Generated requests come far faster than any member's; the throttles have their own tests.
    throttle_rates(user=None, anon=None, login_username=None, login_ip=None, register=None)
    # Django's handler closes the database connection when a request ends, which would end the
    # test's transaction; Django's own test client switches that off the same way.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def auth_headers(member, token_for):
    return {"Authorization": f"Bearer {token_for(member)}", "Accept-Language": "en"}


@schema.parametrize()
# Derandomized, like the ledger's state machine: CI sees the same examples every run (a random
# one that fails is a bug to reproduce here, not a red build on an unrelated change).
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_member_api_conforms_to_its_schema(case, in_process_app, auth_headers):
    excluded = []
    if f"{case.method.upper()} {case.path}" in SERVER_SIDE_VALIDATION:
        excluded.append(positive_data_acceptance)
    case.call_and_validate(headers=auth_headers, excluded_checks=excluded)
