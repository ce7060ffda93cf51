"""Channels a message goes out on besides the inbox: e-mail, SMS and app push.

One interface (:class:`Channel`): ``send(member, title, body, link)`` returns whether it sent
(False when the member has no address for it). ``settings.MESSAGE_CHANNELS`` maps each channel
name to its backend class, so production swaps the logging SMS and push backends for a
provider's (阿里云短信, 极光推送...) without touching a caller. E-mail uses Django's e-mail backend
(``EMAIL_BACKEND``: the console in development).
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Protocol

from django.conf import settings
from django.core.mail import send_mail
from django.utils.module_loading import import_string

logger = logging.getLogger("mall.channels")


class Channel(Protocol):
    name: str

    def send(self, member, title: str, body: str, link: str) -> bool: ...


def _absolute(link: str) -> str:
    if link.startswith("/"):
        return settings.SITE_URL.rstrip("/") + link
    return link


class EmailChannel:
    name = "email"

    def send(self, member, title, body, link):
        if not member.email:
            return False
        text = f"{body}\n\n{_absolute(link)}" if link else body
        send_mail(title, text, None, [member.email])
        return True


class LoggingSMSChannel:
    """Logs what an SMS provider would be asked to send (the interface a real one implements)."""

    name = "sms"

    def send(self, member, title, body, link):
        if not member.phone:
            return False
        logger.info("sms to member %s (%s****%s): %s", member.pk, member.phone[:3],
                    member.phone[-4:], body)
        return True


class LoggingPushChannel:
    """Logs what an app push service would be asked to send."""

    name = "push"

    def send(self, member, title, body, link):
        logger.info("push to member %s: %s | %s | %s", member.pk, title, body, link)
        return True


@cache
def channel(name: str) -> Channel:
    return import_string(settings.MESSAGE_CHANNELS[name])()
