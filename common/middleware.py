"""Middleware of the error model and of the security headers (``MIDDLEWARE`` in ``mall.settings``).

``BodySizeLimitMiddleware`` refuses an API request whose ``Content-Length`` is over
``DATA_UPLOAD_MAX_MEMORY_SIZE`` (2.5 MB) before anything reads the body: a 413 ``too_large`` in
the error shape. Django would refuse it with its HTML 400 page, and only when something reads
``request.body`` (DRF reads the stream itself, unbounded). The pages keep Django's own rule, which
does not count uploaded files (the admin's imports).

``DatabaseUnavailableMiddleware`` turns a database outage raised in a view (DRF's views let it
through: it is no API exception) into the 503 of ``common.http.unavailable``. Nothing is lost or
doubled by answering it: the transaction that failed was rolled back.

``ContentSecurityPolicyMiddleware`` is django-csp's, with narrower exceptions by URL prefix
(``CSP_PREFIX_UPDATES``): sources added to ``CONTENT_SECURITY_POLICY``'s directives on the HTML
pages under that prefix, the staff console's (unfold ships Alpine.js, which compiles its
attributes with ``Function``, and inline styles). Member pages and JSON answers keep the strict
policy: scripts and styles from 'self' only.

``SecurityHeadersMiddleware`` adds ``Permissions-Policy`` (``PERMISSIONS_POLICY``) to every
response and ``Cache-Control: private, no-store`` to the ones with member data: every response
under ``API_PREFIX`` and every page served to a signed-in user. The public catalogue pages of an
anonymous visitor and the uploads under ``MEDIA_URL`` stay cacheable; static files never reach it
(WhiteNoise answers them first).
"""

from __future__ import annotations

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.utils.cache import patch_cache_control
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


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    def get_policy_parts(self, request, response, report_only: bool = False):
        parts = super().get_policy_parts(request, response, report_only=report_only)
        if report_only or parts.config is not None or "html" not in response.get("Content-Type", ""):
            return parts  # a view's own @csp(...) policy wins; JSON stays strict
        for prefix, sources in getattr(settings, "CSP_PREFIX_UPDATES", {}).items():
            if request.path_info.startswith(prefix):
                update = {key: list(value) for key, value in (parts.update or {}).items()}
                for directive, extra in sources.items():
                    update[directive] = [*update.get(directive, ()), *extra]
                parts.update = update
                break
        return parts


def permissions_policy(features: dict) -> str:
    """``{"camera": [], "fullscreen": ["self"]}`` as the header's ``camera=(), fullscreen=(self)``."""
    return ", ".join(f"{feature}=({' '.join(origins)})" for feature, origins in features.items())


def carries_member_data(request) -> bool:
    """A response of the API or a page for a signed-in user. While the database is down the user
    cannot be read: such an answer (the outage's 503) is kept out of caches too."""
    if is_api(request):
        return True
    if settings.MEDIA_URL.startswith("/") and request.path_info.startswith(settings.MEDIA_URL):
        return False  # uploads (product pictures, badge icons) are public and cacheable
    user = getattr(request, "user", None)
    if user is None:
        return False
    try:
        return bool(user.is_authenticated)
    except DATABASE_ERRORS:
        return True


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.permissions_policy = permissions_policy(getattr(settings, "PERMISSIONS_POLICY", {}))

    def __call__(self, request):
        response = self.get_response(request)
        if self.permissions_policy:
            response.headers.setdefault("Permissions-Policy", self.permissions_policy)
        if carries_member_data(request):
            patch_cache_control(response, private=True, no_store=True)
        return response
