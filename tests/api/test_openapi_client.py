"""The schema as the app developers' tools read it: the same identifiers in every language, one
enum per concept, every error code, one page envelope, the headers, and a client that
openapi-python-client generates from it without a warning (``mall.schema.tidy_schema``)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

from mall.schema import error_codes

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
PAGE = {
    "type": "object",
    "required": ["count", "next", "previous", "results"],
}
LINK = {"type": "string", "format": "uri", "nullable": True}
ERROR_STATUSES = {"400", "401", "403", "404", "409", "429"}


@pytest.fixture(scope="module")
def schemas(tmp_path_factory, django_db_setup, django_db_blocker):
    folder = tmp_path_factory.mktemp("schema")
    dumped = {}
    with django_db_blocker.unblock():
        for lang in ("en", "zh-hans"):
            target = folder / f"{lang}.yaml"
            call_command("spectacular", "--fail-on-warn", "--validate", "--lang", lang,
                         "--file", str(target))
            dumped[lang] = target
    return dumped


def load(path):
    return yaml.safe_load(path.read_text())


def operations(schema):
    return [(path, method, operation) for path, item in schema["paths"].items()
            for method, operation in item.items()]


def without_descriptions(node):
    if isinstance(node, dict):
        return {key: without_descriptions(value) for key, value in node.items()
                if key != "description"}
    if isinstance(node, list):
        return [without_descriptions(value) for value in node]
    return node


def walk(node, where=""):
    """Every dict of ``node`` with its place."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{where}[{index}]")


def test_the_languages_schemas_differ_only_in_descriptions(schemas):
    assert without_descriptions(load(schemas["en"])) == without_descriptions(load(schemas["zh-hans"]))


def test_identifiers_are_ascii_and_enums_typed_and_named(schemas):
    schema = load(schemas["zh-hans"])
    components = schema["components"]["schemas"]
    for name in components:
        assert name.isascii() and name.isidentifier(), name
    for where, node in walk(schema):
        if isinstance(node.get("title"), str):
            assert node["title"].isascii(), where
        for key in ("properties",):
            for name in node.get(key, {}) if isinstance(node.get(key), dict) else ():
                assert name.isascii(), where
        if "enum" in node:
            # Every enum is a named component with a type and readable member names.
            assert where.count("/") == 3 and where.startswith("/components/schemas/"), where
            assert node.get("type") in {"string", "integer"}, where
            names = node["x-enum-varnames"]
            assert len(names) == len(node["enum"]) == len(set(names)), where
            assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", name) for name in names), where
    assert components["ProductOrderingEnum"]["x-enum-varnames"][
        components["ProductOrderingEnum"]["enum"].index("-points")] == "POINTS_DESC"
    for _path, _method, operation in operations(schema):
        assert operation["operationId"].isascii()
        assert operation.get("summary") and operation["summary"].isascii(), operation["operationId"]


def test_one_enum_per_concept(schemas):
    schema = load(schemas["en"])
    components = schema["components"]["schemas"]
    assert not [name for name in components if re.search(r"(Output|List)\w*Enum$", name)]

    def ref(component, field):
        prop = components[component]["properties"][field]
        return prop.get("$ref") or prop["allOf"][0]["$ref"]

    assert ref("EntryListOutput", "kind") == "#/components/schemas/EntryKindEnum"
    entries = schema["paths"]["/api/v1/me/points/entries/"]["get"]["parameters"]
    assert {"$ref": "#/components/schemas/EntryKindEnum"} in [p["schema"] for p in entries]
    for component in ("Product", "ProductDetail", "RedemptionProduct", "AuctionProduct"):
        assert ref(component, "kind") == "#/components/schemas/ProductKindEnum", component
    assert ref("Redemption", "status") == "#/components/schemas/RedemptionStatusEnum"
    assert ref("Coupon", "state") == "#/components/schemas/CouponStateEnum"
    # The values' sets are all different: one component each.
    values = [frozenset(c["enum"]) for c in components.values() if "enum" in c]
    assert len(values) == len(set(values))


def test_the_error_code_is_an_enum_of_every_code(schemas):
    schema = load(schemas["en"])
    components = schema["components"]["schemas"]
    codes = components["ErrorCodeEnum"]["enum"]
    assert codes == error_codes()
    assert {"idempotency_key_required", "unknown_field", "read_only_field", "invalid",
            "not_authenticated", "throttled", "insufficient_points", "too_large"} <= set(codes)
    assert components["ApiErrorDetail"]["properties"]["code"]["allOf"] == [
        {"$ref": "#/components/schemas/ErrorCodeEnum"}]
    # A code written as a literal anywhere in the code base is in the enum.
    literal = re.compile(r"""(?:\bcode=|json_error\(\d+,\s*|^\s*code = |default_code = )["']([a-z_]+)["']""",
                         re.MULTILINE)
    written = set()
    for app in ("common", "rules", "points", "catalog", "referrals", "mall"):
        for source in (ROOT / app).rglob("*.py"):
            if "migrations" in source.parts or "management" in source.parts:
                continue
            written.update(literal.findall(source.read_text()))
    # form fields' error codes (admin and page forms, never an API answer); the abstract base's
    written -= {"invalid_choice", "one_cover", "error"}
    assert written <= set(codes), written - set(codes)
    for path, method, operation in operations(schema):
        for status, response in operation["responses"].items():
            if status in ERROR_STATUSES:
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ApiError"}, (path, method, status)


def test_every_list_has_the_one_page_envelope(schemas):
    schema = load(schemas["en"])
    components = schema["components"]["schemas"]
    lists = 0
    for path, method, operation in operations(schema):
        for status, response in operation["responses"].items():
            body = response.get("content", {}).get("application/json", {}).get("schema", {})
            assert body.get("type") != "array", (path, method, status)
            if "$ref" not in body:
                continue
            name = body["$ref"].rsplit("/", 1)[-1]
            component = components[name]
            if operation["operationId"].endswith("_list") and "results" in component.get(
                    "properties", {}):
                lists += 1
                item = component["properties"]["results"]["items"]["$ref"].rsplit("/", 1)[-1]
                assert name == f"Paginated{item}List", name
                assert {key: component[key] for key in PAGE} == PAGE, name
                properties = component["properties"]
                assert set(properties) == {"count", "next", "previous", "results"}, name
                assert properties["next"] == properties["previous"] == LINK, name
                assert properties["count"]["type"] == "integer", name
    assert lists >= 8


def test_security_servers_and_headers(schemas):
    schema = load(schemas["en"])
    assert schema["servers"] and schema["servers"][0]["url"]
    headers = schema["components"]["headers"]
    assert headers["RetryAfter"]["schema"]["type"] == "integer"
    for path, method, operation in operations(schema):
        if path.startswith(("/api/v1/auth/", "/api/v1/payments/")):
            assert operation["security"] == [], path  # public: signed bodies or no account yet
        elif path.startswith("/api/v1/products/"):
            assert operation["security"] == [{"jwtAuth": []}, {}], path  # browsing anonymously
        else:
            assert {"jwtAuth": []} in operation["security"], path
        for status, response in operation["responses"].items():
            if status == "429":
                assert response["headers"]["Retry-After"] == {
                    "$ref": "#/components/headers/RetryAfter"}, (path, method)
        idempotent = any(p["in"] == "header" and p["name"] == "Idempotency-Key"
                         for p in operation.get("parameters", []))
        if idempotent:
            for status, response in operation["responses"].items():
                if status.startswith("2"):
                    assert response["headers"]["Idempotent-Replayed"] == {
                        "$ref": "#/components/headers/IdempotentReplayed"}, (path, method)
    assert schema["components"]["schemas"]["PatchedMeInputRequest"]["additionalProperties"] is False
    assert sum(1 for _p, _m, op in operations(schema) if any(
        p["name"] == "Idempotency-Key" for p in op.get("parameters", []))) >= 3


def test_a_client_generates_without_warnings(schemas, tmp_path):
    # From the zh-hans schema: the en one differs only in descriptions (tested above).
    generator = shutil.which("openapi-python-client",
                             path=str(Path(sys.executable).parent)) or shutil.which(
        "openapi-python-client")
    if generator is None:
        pytest.skip("openapi-python-client is not installed (requirements-dev.txt pins it)")
    config = tmp_path / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run: only the generation is tested
    for lang, path in [("zh-hans", schemas["zh-hans"])]:
        output = tmp_path / lang
        run = subprocess.run([generator, "generate", "--path", str(path), "--meta", "none",
                              "--config", str(config), "--output-path", str(output)],
                             capture_output=True, text=True, timeout=60)
        printed = run.stdout + run.stderr
        assert run.returncode == 0, printed
        assert "warning" not in printed.lower(), printed
        models = {file.stem for file in (output / "models").glob("*.py")}
        assert all(name.isascii() for name in models), models
        assert {"entry_kind_enum", "error_code_enum", "paginated_product_list",
                "product_ordering_enum"} <= models
        product = (output / "models" / "product.py").read_text()
        assert "category: Category | None" in product
        member = (output / "models" / "me_output.py").read_text()
        assert "phone: None | str" in member or "phone: str | None" in member
