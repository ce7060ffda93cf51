"""The programme's scheduled jobs (DESIGN.md §3.5): plain functions taking ``now=None``.

Each is idempotent (running it twice, or in two workers at once, does nothing twice: every
posting has a key and every message a unique (member, purpose, period)), set-based where it
touches many members, and returns a small summary of counts. ``mall.tasks`` wraps each in a
celery task; django-celery-beat runs them on the schedules created by ``mall`` migrations, which
staff change in the admin.
"""

from __future__ import annotations

from datetime import datetime


def reevaluate_tiers(now: datetime | None = None) -> dict[str, int]:
    """Nightly: move each member to the tier their earnings in the window qualify for — at once
    upwards, one rank down after the grace (``mall.services.tiers.reevaluate``)."""
    from mall.services import tiers

    return tiers.reevaluate(now=now)
