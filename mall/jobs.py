"""The programme's scheduled jobs (DESIGN.md §3.5): plain functions taking ``now=None``.

Each is idempotent (running it twice, or in two workers at once, does nothing twice: every
posting has a key and every message a unique (member, purpose, period)), set-based where it
touches many members, and returns a small summary of counts. ``mall.tasks`` wraps each in a
celery task; django-celery-beat runs them on the schedules created by ``mall`` migrations, which
staff change in the admin. The expiry reminders and the reconciliation also run in chunks of
account ids (``accounts=(lo, hi)``, ``start_reconciliation`` / ``reconcile_chunk``), which
``mall.tasks`` queues for parallel workers; called plainly, each does everything at once.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop

from mall.models import Member, Message
from mall.selectors import inactive_members
from mall.services import hook_events, messages, play
from mall.services.messages import Outgoing, send_many
from points import services as points_services
from points.models import Entry, ReconciliationRun
from points.policy import KEY_RETENTION
from points.services import reconciliation
from points.services.chunks import AccountRange, keyset
from points.services.reconciliation import AUDITOR_GROUP
from rules.models import RuleSet, RuleSetStatus

CHUNK = 2000  # members per transaction in the jobs that post points


def _published() -> RuleSet:
    return RuleSet.objects.get(status=RuleSetStatus.PUBLISHED)


# --------------------------------------------------------------------------- expiry reminders


def expiry_reminders(now: datetime | None = None, *, accounts: AccountRange | None = None) -> dict:
    """Remind members of points that expire at a month's end (daily, 09:00).

    For each reminder day of the published rule set (30, 7): a member with unspent points whose
    last valid day is that many days ahead gets one message with the amount and the date, and a
    link to the products they can afford. A job that missed days sends the reminder late (days
    left fewer than its reminder day) and sends only the nearest one: 5 days before expiry with
    neither sent, the 7-day reminder goes, not both. Once per member, expiry date and reminder day
    (the message's period ``{last valid day}:{reminder day}``).

    ``accounts=(lo, hi)``: only the members whose account id is in that range (one chunk of
    ``mall.tasks.expiry_reminders``; a member has one account, so one chunk). All chunks at the
    same ``now`` send what one run sends; a chunk run twice sends nothing twice.
    """
    now = now or timezone.now()
    after, upto = keyset(accounts)
    today = timezone.localdate(now)
    days = sorted({int(day) for day in _published().reminder_days.split(",") if day.strip()})
    if not days:
        return {"reminders": 0}
    # Unspent points per member and expiry instant, for expiries up to the furthest reminder day
    # (lots expire at local midnight; the last valid day is the day before).
    horizon = _local_midnight(today + timedelta(days=days[-1] + 1))
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.member_id, l.expires_at, SUM(l.remaining)
              FROM points_lot l JOIN points_account a ON a.id = l.account_id
              JOIN mall_member m ON m.id = a.member_id AND m.is_active
             WHERE l.remaining > 0 AND l.expires_at > %s AND l.expires_at <= %s
               AND l.account_id > %s AND l.account_id <= %s
             GROUP BY a.member_id, l.expires_at
             ORDER BY a.member_id, l.expires_at
            """,
            [now, horizon, after, upto],
        )
        rows = cursor.fetchall()
    outgoing = []
    for member_id, expires_at, points in rows:
        last_day = timezone.localtime(expires_at - timedelta(microseconds=1)).date()
        left = (last_day - today).days
        reminder = next((day for day in days if day >= left), None)
        if reminder is None or left < 0:
            continue
        outgoing.append(Outgoing(member_id, f"{last_day.isoformat()}:{reminder}",
                                 {"points": int(points), "date": last_day, "days": left}))
    sent = send_many("expiry_reminder", outgoing, now=now)
    return {"due": len(outgoing), "reminders": sent}


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


# --------------------------------------------------------------------------- win-back


def win_back(now: datetime | None = None) -> dict:
    """Wake up members inactive for the rule set's ``inactive_days`` (daily).

    Each gets ``wakeup_points`` (a ledger earning) and a message, at most once per
    ``wakeup_cooldown_days``: members with a win-back message in the last cooldown days are
    skipped, and the key of the earning and the message's period name the cooldown period (days
    since 2000-01-01 divided by the cooldown), so a re-run or a second worker posts and sends
    nothing again. Set-based: members in chunks of ``CHUNK``, each chunk one transaction with one
    ``earn_many`` and one ``send_many``.
    """
    now = now or timezone.now()
    rules = _published()
    cooldown = max(1, rules.wakeup_cooldown_days)
    period = f"c{cooldown}:{(timezone.localdate(now) - date(2000, 1, 1)).days // cooldown}"
    woken = Message.objects.filter(member=OuterRef("pk"), purpose="win_back",
                                   created_at__gt=now - timedelta(days=cooldown))
    ids = list(inactive_members(rules.inactive_days, now=now).exclude(Exists(woken))
               .order_by("pk").values_list("pk", flat=True))
    points = rules.wakeup_points
    context = {"points": points, "days": rules.inactive_days}
    key_prefix = f"winback:{period}"
    with translation.override(settings.LANGUAGE_CODE):  # stored reasons: the default language
        reason = gettext(WAKEUP_REASON)
    granted = sent = 0
    for offset in range(0, len(ids), CHUNK):
        chunk = ids[offset:offset + CHUNK]
        with transaction.atomic():
            if points:
                # Keys already posted (a second worker got there first) are left out: the
                # batch stays on earn_many's one-statement path.
                # (Keys are per account, and an account's id is its member's.)
                done = set(Entry.objects.filter(account_id__in=chunk,
                                                key__in=[f"{key_prefix}:{pk}" for pk in chunk])
                           .values_list("key", flat=True))
                new = [(pk, points) for pk in chunk if f"{key_prefix}:{pk}" not in done]
                points_services.earn_many(new, key_prefix=key_prefix, reason=reason,
                                          reference="win-back")
                granted += len(new)
            sent += send_many("win_back", (Outgoing(pk, period, context) for pk in chunk), now=now)
    return {"members": len(ids), "granted": granted, "messages": sent}


WAKEUP_REASON = gettext_noop("Wake-up points: welcome back")


# --------------------------------------------------------------------------- reconciliation


def reconcile_ledger(now: datetime | None = None) -> dict:
    """Check the ledger's invariants over every account and store the run (nightly).

    On a mismatch every active member of the auditor group and every active superuser gets an
    inbox message and an e-mail, once per run (period ``run{id}``): a second run is a run of its
    own with alerts of its own, and the alerts commit with the run's result. ``/healthz/``
    reports the latest finished run. Returns ``{"run", "accounts", "mismatches", "alerted"}``.
    """
    now = now or timezone.now()
    alerted = 0

    def alert(run: ReconciliationRun) -> None:
        nonlocal alerted
        if run.mismatch_count:
            alerted = _alert_auditors(run, now=now)

    run = points_services.reconcile(now=now, then=alert)
    return {"run": run.pk, "accounts": run.accounts_checked, "mismatches": run.mismatch_count,
            "alerted": alerted}


def start_reconciliation(now: datetime | None = None) -> tuple[ReconciliationRun, list[int]]:
    """The same check as ``reconcile_ledger``, in chunks (``mall.tasks.reconcile_ledger``): the
    run and the ids of its chunks, each to be checked by ``reconcile_chunk``."""
    run = reconciliation.start_run(now=now)
    return run, list(run.chunks.order_by("number").values_list("pk", flat=True))


def reconcile_chunk(chunk_id: int) -> dict:
    """Check one chunk of a run; the chunk that finishes the run alerts as ``reconcile_ledger``
    does (once per run: the alerts commit with the run's result, and only one chunk finishes
    it). A chunk already recorded (a second delivery) does nothing. Returns ``{"run", "chunk",
    "finished", "accounts", "mismatches", "alerted"}``, the run's figures once it is finished."""
    alerted = 0

    def alert(run: ReconciliationRun) -> None:
        nonlocal alerted
        if run.mismatch_count:
            alerted = _alert_auditors(run, now=run.started_at)

    run = reconciliation.check_chunk(chunk_id, then=alert)
    finished = run is not None and run.finished_at is not None
    return {"run": run and run.pk, "chunk": chunk_id, "finished": finished,
            "accounts": run.accounts_checked if finished else None,
            "mismatches": run.mismatch_count if finished else None, "alerted": alerted}


def auditors():
    """Who is told of a ledger mismatch: active members of the auditor group, active superusers."""
    return (Member.objects.filter(is_active=True)
            .filter(Q(is_superuser=True) | Q(groups__name=AUDITOR_GROUP)).distinct())


def _alert_auditors(run: ReconciliationRun, *, now: datetime) -> int:
    words = messages.Words.of_purpose("ledger_mismatch")
    # Always by e-mail too, whatever the template says: nobody reads an auditor's inbox at night.
    words = dataclasses.replace(words, channels=tuple(dict.fromkeys((*words.channels, "email"))))
    context = {"mismatches": run.mismatch_count, "accounts": run.accounts_checked, "run": run.pk}
    ids = auditors().order_by("pk").values_list("pk", flat=True)
    return messages.send_many(
        "ledger_mismatch", (messages.Outgoing(pk, f"run{run.pk}", context) for pk in ids.iterator()),
        now=now, words=words,
    )


def prune(now: datetime | None = None) -> dict:
    """Delete what is kept only for retries, past the key retention of 30 days (daily).

    Pruned: the ledger's recorded refusals (``points.Refusal``) and the hooks' and checkout's
    exactly-once store (``mall.HookEvent``), each older than ``now - KEY_RETENTION``. Kept for
    ever: ledger entries and their keys, and every business row that carries a key of its own
    (redemptions, paid orders and refunds, behaviour records, check-ins, messages). Returns
    ``{"refusals", "hook_events"}`` deleted.
    """
    before = (now or timezone.now()) - KEY_RETENTION
    return {"refusals": points_services.prune_refusals(before=before),
            "hook_events": hook_events.prune(before=before)}


def purge_audit_trail(now: datetime | None = None) -> dict:
    """Delete audit records older than ``AUDIT_RETENTION_DAYS`` (daily; ``common.audit.purge``:
    set-based, never younger than 183 days). Returns ``{"deleted"}``."""
    from common import audit

    return {"deleted": audit.purge(now=now)}


# --------------------------------------------------------------------------- tiers


def reevaluate_tiers(now: datetime | None = None) -> dict[str, int]:
    """Nightly: move each member to the tier their earnings in the window qualify for — at once
    upwards, one rank down after the grace (``mall.services.tiers.reevaluate``)."""
    from mall.services import tiers

    return tiers.reevaluate(now=now)


def award_due_badges(now: datetime | None = None) -> dict:
    """Nightly: the badges members meet and have not been awarded, for period conditions and
    whatever the events missed (``mall.services.play.award_due_badges``)."""
    return play.award_due_badges(now=now)
