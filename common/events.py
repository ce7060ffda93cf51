"""Member activity, announced by the app where it happens to the apps above that react to it.

A lower app cannot call a higher one (the layers), yet a check-in (``points``) moves a daily
task and a badge (``mall``). So the services that record an activity call ``announce`` inside
their transaction, and ``member_activity`` is sent only once that transaction has committed: a
listener never sees an activity that was rolled back, and a listener's failure is logged and
never undoes the activity (jobs catch up on what a failed listener missed). A replay (the same
idempotency key again) announces nothing.

Activities: ``check_in`` (``day``, ``streak``), ``behaviour`` (``action``), ``order``,
``redemption`` and ``invitee`` (sent for the inviter), each with ``at``: when it happened (a
behaviour's or an order's own time, which a late hook delivers after the fact). Listeners take
``member_id`` and the details as keyword arguments, with the activity as the signal's ``sender``.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

ACTIVITIES = ("check_in", "behaviour", "order", "redemption", "invitee")

member_activity = Signal()


def announce(activity: str, member_id: int, **details) -> None:
    """Send ``member_activity`` for ``member_id`` after the current transaction commits (at once
    outside one)."""
    if activity not in ACTIVITIES:
        raise ValueError(f"Unknown activity {activity!r}.")

    def send():
        for _receiver, error in member_activity.send_robust(sender=activity, member_id=member_id,
                                                           **details):
            if isinstance(error, Exception):
                logger.error("A listener of %s failed for member %s", activity, member_id,
                             exc_info=(type(error), error, error.__traceback__))

    transaction.on_commit(send)
