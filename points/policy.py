"""Ledger policy helpers. The validity itself is the rule set's (``RuleSet.expiry_months``)."""

from datetime import datetime, timedelta

from django.utils import timezone

HOLD_TTL = timedelta(minutes=30)

# How long a key's refusal (and a hook event, ``mall.jobs.prune``) is kept: DESIGN.md 3.1 promises
# at least 30 days, longer than any sender's retry window. Entries, and their keys, are forever.
KEY_RETENTION = timedelta(days=30)


def month_end_expiry(earned_at: datetime, months: int) -> datetime:
    """The instant points earned at ``earned_at`` stop being valid.

    Validity runs to the end of the month ``months`` months after earning, in the local time zone:
    earned 2026-11-22 -> usable through 2027-11-30 -> expires at 2027-12-01 00:00 Asia/Shanghai.
    """
    local = timezone.localtime(earned_at)
    month_index = local.year * 12 + (local.month - 1) + months + 1
    year, month = divmod(month_index, 12)
    return local.replace(year=year, month=month + 1, day=1, hour=0, minute=0, second=0, microsecond=0)


def last_valid_day(expires_at: datetime):
    """The last local calendar day on which points expiring at ``expires_at`` can be used."""
    return timezone.localtime(expires_at - timedelta(microseconds=1)).date()


def default_expires_at(now: datetime, book=None) -> datetime | None:
    """When points earned at ``now`` expire under ``book`` (default: the published rule set);
    None when its validity is 0 months (never)."""
    if book is None:
        from rules.selectors import active_rulebook

        book = active_rulebook()
    if book.expiry_months <= 0:
        return None
    return month_end_expiry(now, months=book.expiry_months)
