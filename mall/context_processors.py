"""Template context of the member pages (``TEMPLATES[...]["context_processors"]``)."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from mall.services import messages


def inbox(request) -> dict:
    """``unread_messages``: the signed-in member's unread messages, for the navigation badge.

    Lazy and kept on the request: one ``COUNT`` on the partial unread index
    (``mall_message_unread``) the first time a template shows it, none on pages that never do
    (the admin's) and none for anonymous visitors.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"unread_messages": 0}
    return {"unread_messages": SimpleLazyObject(lambda: unread_messages(request))}


def unread_messages(request) -> int:
    """The member's unread count, counted once per request."""
    if not hasattr(request, "_unread_messages"):
        request._unread_messages = messages.unread_count(request.user)
    return request._unread_messages
