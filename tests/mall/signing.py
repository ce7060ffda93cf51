"""Sign and post hook requests the way the shop does (written independently of mall.hooks)."""

import hashlib
import hmac
import json

SECRET = None  # None: settings.HOOKS_SECRET


def signature(body: bytes, timestamp: str, secret: str | None = None) -> str:
    from django.conf import settings

    key = (secret or settings.HOOKS_SECRET).encode()
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def post_hook(client, path, payload=None, *, body=None, timestamp=None, secret=None, sig=None,
              headers=None):
    """POST ``payload`` (or raw ``body``) to ``path``, signed for ``timestamp`` (default now)."""
    from django.utils import timezone

    if body is None:
        body = json.dumps(payload).encode()
    timestamp = str(int(timezone.now().timestamp())) if timestamp is None else str(timestamp)
    all_headers = {"X-Timestamp": timestamp,
                   "X-Signature": sig if sig is not None else signature(body, timestamp, secret)}
    all_headers.update(headers or {})
    return client.post(path, data=body, content_type="application/json", headers=all_headers)
