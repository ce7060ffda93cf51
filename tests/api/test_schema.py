"""The OpenAPI schema: generated without warnings, valid, documenting every endpoint and its errors."""

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db

MEMBER_OPERATIONS = {
    ("/api/v1/auth/token/", "post"),
    ("/api/v1/auth/token/refresh/", "post"),
    ("/api/v1/auth/register/", "post"),
    ("/api/v1/me/", "get"),
    ("/api/v1/me/", "patch"),
    ("/api/v1/me/points/", "get"),
    ("/api/v1/me/points/entries/", "get"),
    ("/api/v1/me/check-in/", "post"),
    ("/api/v1/me/team/", "get"),
    ("/api/v1/me/team/rewards/", "get"),
    ("/api/v1/me/recommendations/", "get"),
}
PUBLIC = {"/api/v1/auth/token/", "/api/v1/auth/token/refresh/", "/api/v1/auth/register/"}


@pytest.fixture
def schema(tmp_path):
    target = tmp_path / "schema.yaml"
    # --fail-on-warn turns every drf-spectacular warning (an unnamed serializer, a guessed type,
    # a component name clash) into an error; --validate checks it against the OpenAPI 3 schema.
    call_command("spectacular", "--fail-on-warn", "--validate", "--lang", "en", "--file", str(target))
    return yaml.safe_load(target.read_text())


def operations(schema):
    return {(path, method): operation for path, item in schema["paths"].items()
            for method, operation in item.items()}


def test_schema_generates_without_warnings_and_holds_the_member_endpoints(schema):
    assert MEMBER_OPERATIONS <= set(operations(schema))
    assert not any(path.startswith("/api/v1/hooks/") for path in schema["paths"])


def test_every_operation_documents_its_errors_in_the_error_shape(schema):
    for (path, method), operation in operations(schema).items():
        if (path, method) not in MEMBER_OPERATIONS:
            continue
        responses = operation["responses"]
        assert "429" in responses, path
        if path not in PUBLIC:
            assert "401" in responses, path
            assert {"jwtAuth": []} in operation["security"], path
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ApiError"
                }, (path, method, status)
    assert schema["components"]["schemas"]["ApiErrorDetail"]["required"] == ["code", "fields", "message"]


def test_field_names_the_apps_rely_on(schema):
    components = schema["components"]["schemas"]
    assert set(components["BalanceOutput"]["properties"]) == {
        "available", "pending", "held", "debt", "expiring"
    }
    assert set(components["BalanceOutputExpiring"]["properties"]) == {"month", "points"}
    assert set(components["EntryListOutput"]["properties"]) >= {
        "id", "delta", "kind", "reason", "balance_after", "created_at"
    }
    assert set(components["PaginatedEntryListOutputList"]["properties"]) == {
        "count", "next", "previous", "results"
    }
    assert set(components["TeamOutput"]["properties"]) == {
        "inviter", "is_leader", "direct_count", "qualified_direct_count", "team_size",
        "upgrade_threshold", "rewards",
    }
    assert set(components["TeamOutputRewards"]["properties"]) == {"pending", "settled", "reversed"}
    assert set(components["RewardListOutput"]["properties"]) == {
        "id", "order", "kind", "kind_display", "level", "outcome", "points", "points_reversed",
        "status", "available_at", "created_at", "explanation",
    }
    assert set(components["PaginatedRewardListOutputList"]["properties"]) == {
        "count", "next", "previous", "results"
    }


def test_schema_and_docs_are_served_to_anyone(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    docs = api.get("/api/docs/")

    assert schema.status_code == 200
    assert "/api/v1/me/points/" in schema.json()["paths"]
    assert docs.status_code == 200
    html = docs.content.decode()
    # Swagger UI's files are served from the sidecar package (no CDN at run time).
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
