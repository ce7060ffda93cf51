"""OpenAPI plumbing of the project (drf-spectacular): the member API's authentication schemes
and the server-to-server endpoints left out of its schema. The shared parts are ``common.schema``.
"""

from __future__ import annotations

import re

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme

from common.headers import REPLAYED_HEADER


class MemberJWTScheme(SimpleJWTScheme):
    target_class = "mall.authentication.MemberJWTAuthentication"


class MemberSessionScheme(SessionScheme):
    target_class = "mall.authentication.MemberSessionAuthentication"


# Server-to-server endpoints of the shop's order system: signed, not a member's token, so they
# are not part of the member API's schema (schemathesis would only ever see their 401).
SERVER_TO_SERVER_PREFIXES = ("/api/v1/hooks/", "/api/v1/checkout/")


def exclude_hooks_from_schema(endpoints):
    """drf-spectacular preprocessing hook: the member API's schema leaves out the shop's signed
    endpoints (``SERVER_TO_SERVER_PREFIXES``)."""
    return [endpoint for endpoint in endpoints
            if not endpoint[0].startswith(SERVER_TO_SERVER_PREFIXES)]


# --------------------------------------------------------------------------- the tidy schema

# Codes that no error class declares: DRF and simplejwt raise them with an explicit ``code=``,
# ``common.http`` / ``common.middleware`` write them, ``mall.signing`` refuses a hook's signature.
# Every other code comes from the error classes themselves (``error_codes``).
EXPLICIT_ERROR_CODES = {
    "bad_request", "permission_denied", "not_found", "server_error", "unavailable", "too_large",
    "bad_authorization_header", "user_not_found", "user_inactive", "password_changed",
    "no_active_account", "token_not_valid", "token_revoked",
    "invalid_timestamp", "stale_timestamp", "invalid_signature",
    "invalid_phone",  # a saved address's phone (catalog.Address's validator, in the details)
}

# Named enums of query parameters that no response field has (the others reuse the field's).
PARAMETER_ENUM_NAMES = {("products_list", "ordering"): "ProductOrderingEnum"}

HEADERS = {
    "RetryAfter": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "IdempotentReplayed": {
        "description": "true: this is the stored outcome of an earlier request with the same "
                       "Idempotency-Key, nothing was done again; false: done now.",
        "schema": {"type": "boolean"},
    },
}

# One short English line per operation (an identifier-like text: the same in every language, as
# the descriptions are not).
SUMMARIES = {
    "auth_token_obtain": "Sign in (get a token pair)",
    "auth_token_refresh": "Refresh the access token",
    "auth_register": "Register a member",
    "auth_logout": "Sign out (blacklist a refresh token)",
    "me_password_change": "Change my password (revokes every token)",
    "me_close": "Close my account (erase personal data)",
    "me_retrieve": "Get my profile",
    "me_update": "Change my nickname or phone",
    "me_points_retrieve": "Get my points balance",
    "me_points_entries_list": "List my points entries",
    "me_check_in": "Check in for today",
    "me_team_retrieve": "Get my team",
    "me_team_rewards_list": "List my team rewards",
    "me_tasks_list": "List my tasks",
    "me_badges_list": "List my badges",
    "me_messages_list": "List my messages",
    "me_messages_read": "Mark a message read",
    "me_messages_read_all": "Mark all messages read",
    "me_coupons_list": "List my coupons",
    "me_coupons_use": "Mark a coupon used",
    "products_list": "List products",
    "products_retrieve": "Get a product",
    "lotteries_list": "List lotteries",
    "lotteries_draw": "Draw a lottery",
    "redemptions_list": "List my redemptions",
    "redemptions_create": "Redeem a product",
    "redemptions_retrieve": "Get a redemption",
    "redemptions_cancel": "Cancel a redemption",
    "auctions_list": "List auctions",
    "auctions_retrieve": "Get an auction",
    "auctions_bid": "Bid on an auction",
}

# Operations that refuse a field their body does not have (400 unknown_field / read_only_field):
# their request bodies say ``additionalProperties: false``.
STRICT_BODIES = {"me_update"}

PAGE_PROPERTIES = {"count", "next", "previous", "results"}
PAGE_LINK = {"type": "string", "format": "uri", "nullable": True}


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def error_codes() -> list[str]:
    """Every ``code`` an error body of the API can carry, sorted: the domain errors' and DRF's
    (and simplejwt's) exception classes', and ``EXPLICIT_ERROR_CODES``."""
    import rest_framework_simplejwt.exceptions  # noqa: F401
    from rest_framework.exceptions import APIException

    import catalog.channel_errors  # noqa: F401
    import catalog.errors  # noqa: F401  (the error classes, imported so that they are subclasses)
    import common.headers  # noqa: F401
    import mall.errors  # noqa: F401
    import points.errors  # noqa: F401
    import referrals.errors  # noqa: F401
    import rules.errors  # noqa: F401
    from common.errors import DomainError

    codes = set(EXPLICIT_ERROR_CODES)
    codes.update(cls.code for cls in _subclasses(DomainError) if isinstance(cls.code, str))
    # An error class that carries one of several codes names them all (catalog FeedError).
    codes.update(code for cls in _subclasses(DomainError) for code in getattr(cls, "codes", ()))
    codes.update(cls.default_code for cls in _subclasses(APIException)
                 if isinstance(cls.default_code, str))
    return sorted(codes)


def _varname(value) -> str:
    if value is None:
        return "NULL"
    text = str(value)
    name = re.sub(r"[^0-9A-Za-z]+", "_", text.lstrip("-")).strip("_").upper() or "BLANK"
    if name[0].isdigit():
        name = "VALUE_" + name
    return name + "_DESC" if text.startswith("-") else name


def _camel(text: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^0-9A-Za-z]+", text) if part)


def _drop_titles(node):
    """Field titles are the models' verbose names, translated: a client generated from another
    language's schema would name its classes after them. Dropped (a property called ``title``
    is a dict, not a string, and stays)."""
    if isinstance(node, dict):
        if isinstance(node.get("title"), str):
            del node["title"]
        for value in node.values():
            _drop_titles(value)
    elif isinstance(node, list):
        for value in node:
            _drop_titles(value)


def _operations(result):
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                yield path, method, operation


def _rename(result, old: str, new: str):
    schemas = result["components"]["schemas"]
    schemas[new] = schemas.pop(old)
    ref = {"$ref": f"#/components/schemas/{old}"}

    def walk(node):
        if isinstance(node, dict):
            if node == ref:
                node["$ref"] = f"#/components/schemas/{new}"
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(result)


# Open to anonymous callers, with more in the answer for a signed-in member (``points_short``).
OPTIONAL_AUTH = {"products_list", "products_retrieve", "products_related_list"}


def tidy_schema(result, generator, request, public):
    """drf-spectacular postprocessing hook, after ``postprocess_schema_enums``: a schema whose
    identifiers do not depend on the request's language and that client generators take as is.

    * no ``title`` (translated verbose names); summaries in English (``SUMMARIES``);
    * query parameters' enums are the components of the same values (one enum per concept), or
      a named one of their own; every enum has ``type`` and ``x-enum-varnames`` (``-points`` is
      ``POINTS_DESC``);
    * the error body's ``code`` is ``ErrorCodeEnum``, every code there is (``error_codes``);
    * every list has the one page envelope (``count``, ``next``/``previous``: nullable URIs,
      ``results``), named ``Paginated...List``;
    * the bodies of ``STRICT_BODIES`` say ``additionalProperties: false``;
    * public operations say ``security: []``; 429s declare ``Retry-After``; the successes of a
      POST taking an ``Idempotency-Key`` declare ``Idempotent-Replayed``.
    """
    _drop_titles(result.get("components", {}))
    _drop_titles(result.get("paths", {}))
    components = result.setdefault("components", {})
    schemas = components.setdefault("schemas", {})

    # Enums of the query parameters.
    by_values = {frozenset(schema["enum"]): name for name, schema in schemas.items()
                 if "enum" in schema and None not in schema["enum"]}
    for _path, _method, operation in _operations(result):
        for parameter in operation.get("parameters", []):
            schema = parameter.get("schema", {})
            if "enum" not in schema:
                continue
            values = frozenset(schema["enum"])
            name = by_values.get(values)
            if name is None:
                name = PARAMETER_ENUM_NAMES.get((operation.get("operationId"), parameter["name"]),
                                                _camel(f"{operation.get('operationId')}_"
                                                       f"{parameter['name']}") + "Enum")
                schemas[name] = {"type": schema.get("type", "string"), "enum": list(schema["enum"])}
                by_values[values] = name
            parameter["schema"] = {"$ref": f"#/components/schemas/{name}"}
            # The values' list that drf-spectacular writes under the enum is in the description.
            if parameter.get("description", "").startswith("* `"):
                del parameter["description"]

    # The error code.
    schemas["ErrorCodeEnum"] = {"type": "string", "enum": error_codes()}
    code = schemas["ApiErrorDetail"]["properties"]["code"]
    schemas["ApiErrorDetail"]["properties"]["code"] = {
        "allOf": [{"$ref": "#/components/schemas/ErrorCodeEnum"}],
        **({"description": code["description"]} if "description" in code else {}),
    }

    for schema in schemas.values():
        if "enum" in schema:
            values = schema["enum"]
            schema.setdefault("type", "string" if all(isinstance(v, str) or v is None
                                                      for v in values) else "integer")
            schema["x-enum-varnames"] = [_varname(value) for value in values]

    # One page envelope.
    for name in list(schemas):
        schema = schemas[name]
        if set(schema.get("properties", {})) != PAGE_PROPERTIES:
            continue
        results = schema["properties"]["results"]
        schemas[name] = {
            "type": "object",
            "properties": {"count": {"type": "integer", "minimum": 0}, "next": dict(PAGE_LINK),
                           "previous": dict(PAGE_LINK), "results": results},
            "required": ["count", "next", "previous", "results"],
        }
        item = results.get("items", {}).get("$ref", "").rsplit("/", 1)[-1]
        canonical = f"Paginated{item}List"
        if item and name != canonical and canonical not in schemas:
            _rename(result, name, canonical)

    components.setdefault("headers", {}).update(HEADERS)
    for _path, method, operation in _operations(result):
        operation_id = operation.get("operationId", "")
        operation.setdefault("summary", SUMMARIES.get(operation_id,
                                                      operation_id.replace("_", " ").capitalize()))
        if operation_id in STRICT_BODIES:
            for media in operation.get("requestBody", {}).get("content", {}).values():
                name = media["schema"]["$ref"].rsplit("/", 1)[-1]
                schemas[name]["additionalProperties"] = False
        security = operation.get("security")
        if operation_id in OPTIONAL_AUTH:
            operation["security"] = [{"jwtAuth": []}, {}]
        elif not security or {} in security:
            operation["security"] = []
        idempotent = method == "post" and any(
            parameter.get("in") == "header" and parameter.get("name") == "Idempotency-Key"
            for parameter in operation.get("parameters", []))
        for status, response in operation["responses"].items():
            if status == "429":
                response.setdefault("headers", {})["Retry-After"] = {
                    "$ref": "#/components/headers/RetryAfter"}
            if idempotent and status.startswith("2"):
                response.setdefault("headers", {})[REPLAYED_HEADER] = {
                    "$ref": "#/components/headers/IdempotentReplayed"}
    return result
