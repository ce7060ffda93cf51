"""Middleware of the error model (``MIDDLEWARE`` in ``mall.settings``), responses from ``common.http``.

``BodySizeLimitMiddleware`` refuses an API request whose ``Content-Length`` is over
``DATA_UPLOAD_MAX_MEMORY_SIZE`` (2.5 MB) before anything reads the body: a 413 ``too_large`` in
the error shape. Django would refuse it with its HTML 400 page, and only when something reads
``request.body`` (DRF reads the stream itself, unbounded). The pages keep Django's own rule, which
does not count uploaded files (the admin's imports).

``DatabaseUnavailableMiddleware`` turns a database outage raised in a view (DRF's views let it
through: it is no API exception) into the 503 of ``common.http.unavailable``. Nothing is lost or
doubled by answering it: the transaction that failed was rolled back.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _

from common.http import DATABASE_ERRORS, is_api, json_error, unavailable


def content_length(request) -> int:
    """The declared body length; 0 when missing or malformed, as Django reads it."""
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except (TypeError, ValueError):
        return 0


class BodySizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and is_api(request) and content_length(request) > limit:
            return json_error(413, "too_large",
                              _("The body may be at most %(max)d bytes.") % {"max": limit})
        return self.get_response(request)


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, DATABASE_ERRORS):
            return unavailable(request, exception)
        return None
