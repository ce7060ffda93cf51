"""One JSON parser for the member API and the shop's endpoints (common.parsers, issue 8 §4):
absurd nesting, lone surrogates, NaN and Infinity, bytes that are not UTF-8 are a 400
``parse_error`` with the same message wherever they are sent, and no error message can make the
renderer fail."""

from decimal import Decimal

import pytest
from django.utils.translation import override
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer

from common.api import exception_handler
from common.errors import MalformedBody
from common.parsers import MAX_DEPTH, parse, parse_object
from mall.models import HookEvent, Member
from points.models import Entry
from tests.catalog.helpers import fund, make_product
from tests.mall.signing import post_hook

pytestmark = pytest.mark.django_db

DEEP = b"[" * 1000 + b"]" * 1000  # 2 KB, 1,000 levels: json gives up with a RecursionError
TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep"


def nested(depth: int) -> bytes:
    """A JSON object ``depth`` levels deep: ``{"a": {"a": ... {} ...}}``."""
    return b'{"a": ' * (depth - 1) + b"{}" + b"}" * (depth - 1)


@pytest.mark.parametrize(("body", "message"), [
    (b"\xff{}", "The body is not valid UTF-8."),
    ('{"a": "é"}'.encode("latin-1"), "The body is not valid UTF-8."),
    ('{"a": 1}'.encode("utf-16"), "The body is not valid UTF-8."),
    (b'{"a": ', "The body is not valid JSON (line 1, column 7)."),
    (b'{"a": 1,\n "b"}', "The body is not valid JSON (line 2, column 5)."),
    (b"", "The body is not valid JSON (line 1, column 1)."),
    (b'{"a": "\x01"}', "The body is not valid JSON (line 1, column 8)."),
    (b'{"a": 1' + b"0" * 5000 + b"}", "The body is not valid JSON."),
    (b'{"a": NaN}', "NaN and Infinity are not JSON numbers."),
    (b'{"a": [1, Infinity]}', "NaN and Infinity are not JSON numbers."),
    (b'{"a": -Infinity}', "NaN and Infinity are not JSON numbers."),
    (b"[1, 2]", "The body must be a JSON object."),
    (b'"text"', "The body must be a JSON object."),
    (b"null", "The body must be a JSON object."),
    (DEEP, f"The body is {TOO_DEEP}."),
    (b'{"a": ' * 1000 + b"1" + b"}" * 1000, f"The body is {TOO_DEEP}."),
    (nested(MAX_DEPTH + 1), f"The body is {TOO_DEEP}."),
    (b'{"a": [[' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"]]}", f"The body is {TOO_DEEP}."),
    (b'{"a": "a\\ud800b"}', "The body holds a lone surrogate, which is not text."),
    (b'{"a\\udfff": 1}', "The body holds a lone surrogate, which is not text."),
    (b'{"a": [{"b": ["x", "\\udc00"]}]}', "The body holds a lone surrogate, which is not text."),
    (b'{"a": "\\ude00\\ud83d"}', "The body holds a lone surrogate, which is not text."),
])
def test_parse_object_refuses(body, message):
    with pytest.raises(MalformedBody) as refused, override("en"):
        parse_object(body)
    assert (refused.value.code, refused.value.kind, refused.value.message) == (
        "parse_error", "invalid", message)


def test_parse_object_accepts():
    assert parse_object(nested(MAX_DEPTH)) is not None
    assert parse_object('{"a": "\\ud83d\\ude00 茶", "b": [1, 2.50, 1e2, -0.1], "c": null}'.encode()) == {
        "a": "\U0001f600 茶", "b": [1, Decimal("2.50"), Decimal("1E+2"), Decimal("-0.1")], "c": None}
    value = parse_object(b'{"n": 12, "d": 12.0}')
    assert (type(value["n"]), type(value["d"])) == (int, Decimal)


def test_parse_takes_any_json_value_under_the_same_rules():
    # The member API's parser: a top level that is not an object is its serializers' to refuse.
    assert [parse(b"[1, 2.5]"), parse(b'"tea"'), parse(b"null")] == [[1, Decimal("2.5")], "tea", None]
    for body in (b'"\\ud800"', b'["\\ud800"]', b"NaN", b"[" * 33 + b"]" * 33):
        with pytest.raises(MalformedBody):
            parse(body)


# --------------------------------------------------------------------------- endpoints


@pytest.fixture
def redemption(member):
    fund(member, 1000)
    from catalog import services

    return services.redeem(member, make_product(points_price=100), 1, key="r-1")


def rows():
    return (Member.objects.count(), Entry.objects.count(), HookEvent.objects.count())


def error(response):
    assert response["Content-Type"] == "application/json"
    return response.json()


@pytest.mark.parametrize(("method", "path", "signed_in"), [
    ("post", "/api/v1/auth/token/", False),
    ("post", "/api/v1/auth/token/refresh/", False),
    ("post", "/api/v1/auth/register/", False),
    ("patch", "/api/v1/me/", True),
    ("post", "/api/v1/redemptions/", True),
    ("post", "/api/v1/redemptions/{id}/cancel/", True),
])
def test_absurd_nesting_is_a_400_on_the_member_api(api, member_api, redemption, method, path,
                                                   signed_in):
    client = member_api if signed_in else api
    before = rows()
    response = getattr(client, method)(path.format(id=redemption.pk), data=DEEP,
                                       content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 400
    assert error(response) == {"error": {"code": "parse_error", "message": f"The body is {TOO_DEEP}.",
                                          "fields": {}}}
    assert rows() == before


@pytest.mark.parametrize("path", ["/api/v1/hooks/members/", "/api/v1/hooks/orders/",
                                  "/api/v1/hooks/behaviours/", "/api/v1/checkout/quote/"])
def test_the_shop_endpoints_refuse_the_same_way(client, path):
    for body, message in [(DEEP, f"The body is {TOO_DEEP}."),
                          (b'{"a": NaN}', "NaN and Infinity are not JSON numbers."),
                          (b'{"a": "\\ud800"}', "The body holds a lone surrogate, which is not text.")]:
        response = post_hook(client, path, body=body, headers={"Accept-Language": "en"})
        assert response.status_code == 400
        assert error(response) == {"error": {"code": "parse_error", "message": message, "fields": {}}}


def test_a_lone_surrogate_in_the_member_hooks_tier_is_a_400_and_writes_nothing(client):
    before = rows()
    body = b'{"event_id": "m-1", "member": {"external_id": "u-1", "tier": "a\\ud800b"}}'
    response = post_hook(client, "/api/v1/hooks/members/", body=body,
                         headers={"Accept-Language": "en"})
    assert response.status_code == 400
    assert error(response)["error"]["code"] == "parse_error"
    assert rows() == before


def test_the_api_decodes_utf8_whatever_the_charset_says(member_api, member):
    response = member_api.patch("/api/v1/me/", data='{"nickname": "Zoë"}'.encode("latin-1"),
                                content_type="application/json; charset=latin-1")
    assert response.status_code == 400
    assert error(response)["error"]["message"] == "The body is not valid UTF-8."
    response = member_api.patch("/api/v1/me/", data='{"nickname": "Zoë"}'.encode(),
                                content_type="application/json; charset=latin-1")
    assert (response.status_code, response.json()["nickname"]) == (200, "Zoë")


def test_no_error_message_can_make_the_renderer_fail():
    # A message echoing a lone surrogate (as ChoiceField's '"a\ud800b" is not a valid choice.'
    # did) is rendered with U+FFFD in its place, in the message and in the fields alike.
    for exc in (exceptions.ValidationError({"member": {"tier": ['"a\ud800b" is not a valid choice.']}}),
                exceptions.NotFound("No member a\udfffb."),
                MalformedBody("x\ud800", field="k\udc00")):
        response = exception_handler(exc, {})
        rendered = JSONRenderer().render(response.data).decode()
        assert "\ud800" not in rendered and "\udfff" not in rendered and "\udc00" not in rendered
        assert "\ufffd" in rendered
    response = exception_handler(
        exceptions.ValidationError({"member": {"tier": ['"a\ud800b" is not a valid choice.']}}), {})
    assert response.data["error"]["fields"] == {"member": {"tier": ['"a\ufffdb" is not a valid choice.']}}


def test_the_refusal_is_in_the_members_language(member_api):
    response = member_api.patch("/api/v1/me/", data=DEEP, content_type="application/json",
                                HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.json()["error"]["message"] == f"请求体的嵌套超过 {MAX_DEPTH} 层。"
