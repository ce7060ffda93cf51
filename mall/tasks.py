"""Celery tasks of the programme's jobs: each calls its ``mall.jobs`` function and logs the
summary. Safe to run twice (the jobs are idempotent); scheduled by django-celery-beat from the
rows the ``mall`` migrations create.

The expiry reminders and the reconciliation run in chunks of account ids, as the ledger's jobs
do (``points.tasks``): the scheduled task queues one chunk task per range for parallel workers.
"""

import logging
from datetime import datetime

from celery import shared_task
from django.utils import timezone

from points.tasks import fan_out

logger = logging.getLogger(__name__)


def _run(name: str) -> dict:
    from mall import jobs

    summary = getattr(jobs, name)()
    logger.info("%s: %s", name, summary)
    return summary


@shared_task(name="mall.expiry_reminders", bind=True)
def expiry_reminders(self):
    """Queue one ``mall.expiry_reminders_chunk`` per account-id range, all at this ``now``."""
    from points.services.chunks import account_ranges

    now = timezone.now().isoformat()
    chunks = fan_out(expiry_reminders_chunk,
                     [{"now": now, "accounts": list(r)} for r in account_ranges()], self.request)
    logger.info("expiry_reminders: %s chunks queued for %s", chunks, now)
    return {"chunks": chunks}


@shared_task(name="mall.expiry_reminders_chunk")
def expiry_reminders_chunk(now: str, accounts):
    from mall import jobs
    from points.services.chunks import as_range

    summary = jobs.expiry_reminders(now=datetime.fromisoformat(now), accounts=as_range(accounts))
    logger.info("expiry_reminders %s: %s", accounts, summary)
    return summary


@shared_task(name="mall.win_back")
def win_back():
    return _run("win_back")


@shared_task(name="mall.reconcile_ledger", bind=True)
def reconcile_ledger(self):
    """Start a run and queue one ``mall.reconcile_chunk`` per chunk; the last to finish finishes
    the run and alerts (``mall.jobs.reconcile_chunk``)."""
    from mall import jobs

    run, chunk_ids = jobs.start_reconciliation()
    try:
        chunks = fan_out(reconcile_chunk, [{"chunk_id": pk} for pk in chunk_ids], self.request)
    except Exception:
        # Nothing (or not everything) queued: a run that would show "running" for ever is
        # dropped; the next schedule, or "run now", starts a whole one.
        run.delete()
        raise
    logger.info("ledger reconciliation %s: %s chunks queued", run.pk, chunks)
    return {"run": run.pk, "chunks": chunks}


@shared_task(name="mall.reconcile_chunk")
def reconcile_chunk(chunk_id: int):
    from mall import jobs

    result = jobs.reconcile_chunk(chunk_id)
    if result["finished"]:
        log = logger.error if result["mismatches"] else logger.info
        log("ledger reconciliation %(run)s: %(accounts)s accounts, %(mismatches)s mismatches, "
            "%(alerted)s alerted", result)
    else:
        logger.info("ledger reconciliation %(run)s: chunk %(chunk)s checked", result)
    return result


@shared_task(name="mall.prune")
def prune():
    from mall import jobs

    result = jobs.prune()
    logger.info("pruned %(refusals)s refusals and %(hook_events)s hook events", result)
    return result


@shared_task(name="mall.purge_audit_trail")
def purge_audit_trail():
    return _run("purge_audit_trail")


@shared_task(name="mall.reevaluate_tiers")
def reevaluate_tiers():
    from mall import jobs

    counts = jobs.reevaluate_tiers()
    logger.info("tiers re-evaluated: %s", counts)
    return counts


@shared_task(name="mall.award_due_badges")
def award_due_badges():
    return _run("award_due_badges")


@shared_task(name="mall.materialise_reports")
def materialise_reports():
    from mall import report_jobs

    summary = report_jobs.materialise()
    logger.info("materialise_reports: %s", summary)
    return summary


@shared_task(name="mall.rfm")
def rfm():
    """Score every member and assign RFM segments (``mall.rfm.score_members``; replaces the day's
    run, so safe to run twice)."""
    from mall.rfm import score_members

    summary = score_members()
    logger.info("rfm: %s", summary)
    return summary
