"""Reading a feed's bytes: an http(s) URL, or a path under ``settings.CHANNEL_FEED_ROOT``.

Limits: at most ``settings.CHANNEL_FEED_MAX_BYTES`` are read (one byte more and the feed is
refused, never truncated), an http fetch gives up after ``settings.CHANNEL_FEED_TIMEOUT``
seconds per connect and per read. A path is resolved (symbolic links and ``..`` followed) before
it is checked to lie under the feed folder, so nothing outside it is ever opened.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

from catalog.channel_errors import FeedError


def is_url(source: str) -> bool:
    return urlsplit(source.strip()).scheme.lower() in ("http", "https")


def feed_path(source: str) -> Path:
    """The file ``source`` names, relative to the feed folder or absolute inside it. Raises
    ``FeedError`` (``feed_outside_root``) for anything that resolves outside the folder."""
    root = Path(settings.CHANNEL_FEED_ROOT).resolve()
    path = Path(source.strip())
    resolved = (path if path.is_absolute() else root / path).resolve()
    if not resolved.is_relative_to(root):
        raise FeedError(_("The feed path must be inside the feed folder %(root)s.") % {"root": root},
                        code="feed_outside_root")
    return resolved


def fetch(source: str) -> bytes:
    """The bytes of the feed at ``source``. Raises ``FeedError``: ``feed_outside_root``,
    ``feed_too_large``, ``feed_unreachable`` (missing file, http error, timeout)."""
    limit = settings.CHANNEL_FEED_MAX_BYTES
    if is_url(source):
        data = _fetch_url(source.strip(), limit)
    else:
        path = feed_path(source)
        try:
            with path.open("rb") as file:
                data = file.read(limit + 1)
        except OSError as exc:
            raise FeedError(_("The feed file %(path)s cannot be read: %(error)s")
                            % {"path": path, "error": exc.strerror or exc}, code="feed_unreachable") from None
    if len(data) > limit:
        raise FeedError(_("The feed is larger than %(limit)s bytes.") % {"limit": limit},
                        code="feed_too_large")
    return data


def _fetch_url(url: str, limit: int) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "points-mall-channel-import"})
    try:
        with urllib.request.urlopen(request, timeout=settings.CHANNEL_FEED_TIMEOUT) as response:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise FeedError(_("The feed is larger than %(limit)s bytes.") % {"limit": limit},
                                code="feed_too_large")
            return response.read(limit + 1)
    except urllib.error.HTTPError as exc:
        raise FeedError(_("The feed answered HTTP %(status)s.") % {"status": exc.code},
                        code="feed_unreachable") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FeedError(_("The feed could not be fetched: %(error)s") % {"error": reason},
                        code="feed_unreachable") from None
