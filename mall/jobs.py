"""The programme's scheduled jobs (DESIGN.md §3.5): plain functions taking ``now=None``.

Each is idempotent (running it twice, or in two workers at once, does nothing twice: every
posting has a key and every message a unique (member, purpose, period)), set-based where it
touches many members, and returns a small summary of counts. ``mall.tasks`` wraps each in a
celery task; django-celery-beat runs them on the schedules created by ``mall`` migrations, which
staff change in the admin.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from mall.models import Member
from mall.services import hook_events, messages
from points import services as ledger
from points.models import ReconciliationRun
from points.policy import KEY_RETENTION
from points.services.reconciliation import AUDITOR_GROUP


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

    run = ledger.reconcile(now=now, then=alert)
    return {"run": run.pk, "accounts": run.accounts_checked, "mismatches": run.mismatch_count,
            "alerted": alerted}


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
    return {"refusals": ledger.prune_refusals(before=before),
            "hook_events": hook_events.prune(before=before)}
