"""No ``Server`` banner: responses do not say which server (or which version of it) answers.

The application cannot drop the header itself: gunicorn treats ``Server`` as its own (it drops the
application's and writes ``Server: gunicorn``), and Django's development server writes
``Server: WSGIServer/0.2 CPython/3.x``. ``hide_server_banner()`` takes it out of both, for whichever
of the two is loaded; ``mall.wsgi`` calls it, and both servers load the application from there
(gunicorn in each worker, ``runserver`` through ``WSGI_APPLICATION``).
"""

from __future__ import annotations

import sys


def _without_server_line(default_headers):
    def headers(self):
        return [line for line in default_headers(self) if not line.lower().startswith("server:")]

    headers._without_server = True
    return headers


def hide_server_banner() -> None:
    """Idempotent. gunicorn: its HTTP/1 response's status lines lose their ``Server:`` line (its
    HTTP/2, off unless configured, is not used here). Django's server: no ``server_software``,
    so wsgiref writes no ``Server``, and the error answers of ``http.server`` name nothing."""
    if "gunicorn" in sys.modules:
        from gunicorn.http import wsgi

        if not getattr(wsgi.Response.default_headers, "_without_server", False):
            wsgi.Response.default_headers = _without_server_line(wsgi.Response.default_headers)
    if "django.core.servers.basehttp" in sys.modules:
        from django.core.servers import basehttp

        basehttp.ServerHandler.server_software = None
        basehttp.WSGIRequestHandler.server_version = "-"
        basehttp.WSGIRequestHandler.sys_version = ""
