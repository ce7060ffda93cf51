"""OpenAPI plumbing (drf-spectacular) shared by every app's ``api.py``: component names, the
error body's schema and ``error_responses`` for ``extend_schema``, and the empty-filter hook."""

from __future__ import annotations

from django.utils.translation import gettext_lazy
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class AutoSchema(SpectacularAutoSchema):
    """Names the components of nested serializers after their view: ``RegisterView.InputSerializer``
    becomes ``RegisterInput`` (``RegisterInputRequest`` for a request), not one of many ``Input``."""

    def get_serializer_name(self, serializer, direction):
        *outer, name = type(serializer).__qualname__.split(".")
        prefix = "".join(part.removesuffix("Serializer").removesuffix("View") for part in outer)
        return prefix + name


def allow_empty_filter_values(result, generator, request, public):
    """drf-spectacular postprocessing hook: an empty optional query parameter (``?kind=``) is
    the same as leaving it out for django-filter and DRF's search and ordering, so the schema
    says so (``allowEmptyValue``). Pagination parameters are excluded: they refuse an empty
    value (404 for ``page``, 400 for ``page_size``)."""
    for item in result.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                if (parameter.get("in") == "query" and not parameter.get("required")
                        and parameter.get("name") not in PAGINATION_PARAMETERS):
                    parameter["allowEmptyValue"] = True
    return result


PAGINATION_PARAMETERS = {"page", "page_size"}


class ApiErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text=gettext_lazy("Stable machine-readable code, e.g. "
                                                        "`invalid`, `not_authenticated`, `throttled`."))
    message = serializers.CharField(help_text=gettext_lazy("Human-readable, in the request's language."))
    fields = serializers.DictField(
        help_text=gettext_lazy("For `invalid`: the messages per input field (nested for nested "
                               "input); empty otherwise."),
    )


class ApiErrorSerializer(serializers.Serializer):
    """The body of every error response (documentation only)."""

    error = ApiErrorDetailSerializer()


ERROR_DESCRIPTIONS = {
    400: gettext_lazy("Malformed input (`invalid`, with the messages in `fields`)."),
    401: gettext_lazy("No valid credentials: `not_authenticated`, `token_not_valid`, "
                      "`authentication_failed`, `no_active_account`."),
    403: gettext_lazy("Signed in but not allowed (`permission_denied`)."),
    404: gettext_lazy("Not found, or not the caller's (`not_found`)."),
    409: gettext_lazy("Refused by a business rule (e.g. `insufficient_points`, "
                      "`idempotency_conflict`)."),
    415: gettext_lazy("The body is not JSON (`unsupported_media_type`)."),
    429: gettext_lazy("Too many requests (`throttled`); `Retry-After` says when to try again."),
}


def error_responses(*statuses: int) -> dict:
    """``extend_schema(responses=...)`` entries for the given error statuses."""
    return {code: OpenApiResponse(ApiErrorSerializer, description=ERROR_DESCRIPTIONS[code])
            for code in statuses}
