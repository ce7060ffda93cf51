"""Error responses made outside DRF's views: Django's error handlers and the middleware.

Every response under ``API_PREFIX`` is JSON in the API's error shape (``common.api.error_body``),
including the ones no DRF view makes: an unmatched route (404), a body over the upload limit (413,
``common.middleware``), Django's own 400/403 (``SuspiciousOperation``, ``PermissionDenied`` raised
outside DRF) and an unhandled exception (500). The member pages keep Django's pages, except for
the database outage below.

A database outage (``OperationalError``/``InterfaceError``: PostgreSQL restarting, unreachable,
out of connections; also a deadlock or a statement timeout, which are as transient) is a 503 with
``Retry-After``: the API's ``unavailable`` JSON body, the pages' ``503.html``. That page renders
without the database (no session, user or messages), as it has to.

``mall.urls`` names the handlers (``handler400`` ... ``handler500``); ``server_error`` also turns a
database error raised outside a view (a middleware's) into the 503.
"""

from __future__ import annotations

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views import defaults

from common.api import error_body

API_PREFIX = "/api/"
DATABASE_ERRORS = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5

logger = logging.getLogger(__name__)


def is_api(request) -> bool:
    return request.path_info.startswith(API_PREFIX)


def json_error(status: int, code: str, message: str, **headers) -> JsonResponse:
    """A response with the API's error body (sanitised by ``error_body``: it cannot fail to
    encode), as DRF's JSON renderer writes it: UTF-8, not ``\\u`` escapes."""
    return JsonResponse(error_body(code, message), status=status, headers=headers,
                        json_dumps_params={"ensure_ascii": False, "separators": (",", ":")})


def unavailable(request, exc: BaseException) -> HttpResponse:
    """The 503 of a database outage, for the API or a page."""
    logger.error("Database unavailable (%s %s): %s", request.method, request.path,
                 exc.__class__.__name__, exc_info=exc)
    retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if is_api(request):
        return json_error(503, "unavailable",
                          _("The service is briefly unavailable. Try again in a few seconds."),
                          **retry)
    page = render_to_string("503.html", {"retry_url": request.get_full_path()})
    return HttpResponse(page, status=503, headers=retry)


# --------------------------------------------------------------------------- Django's handlers


def bad_request(request, exception):
    if is_api(request):
        return json_error(400, "bad_request", _("The request is malformed."))
    return defaults.bad_request(request, exception)


def permission_denied(request, exception):
    if is_api(request):
        return json_error(403, "permission_denied",
                          _("You do not have permission to perform this action."))
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception):
    if is_api(request):
        return json_error(404, "not_found", _("There is no such API endpoint."))
    return defaults.page_not_found(request, exception)


def server_error(request):
    exc = sys.exc_info()[1]  # Django calls this while handling the exception
    if isinstance(exc, DATABASE_ERRORS):
        return unavailable(request, exc)
    if is_api(request):
        return json_error(500, "server_error",
                          _("Something went wrong on our side. It has been logged."))
    return defaults.server_error(request)
