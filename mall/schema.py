"""OpenAPI plumbing of the project (drf-spectacular): the member API's authentication schemes
and the server-to-server endpoints left out of its schema. The shared parts are ``common.schema``.
"""

from __future__ import annotations

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


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
