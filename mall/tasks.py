"""Celery tasks of the programme's jobs: each calls its ``mall.jobs`` function and logs the
summary. Safe to run twice (the jobs are idempotent); scheduled by django-celery-beat from the
rows the ``mall`` migrations create."""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


def _run(name: str) -> dict:
    from mall import jobs

    summary = getattr(jobs, name)()
    logger.info("%s: %s", name, summary)
    return summary


@shared_task(name="mall.expiry_reminders")
def expiry_reminders():
    return _run("expiry_reminders")


@shared_task(name="mall.win_back")
def win_back():
    return _run("win_back")


@shared_task(name="mall.reconcile_ledger")
def reconcile_ledger():
    from mall import jobs

    result = jobs.reconcile_ledger()
    log = logger.error if result["mismatches"] else logger.info
    log("ledger reconciliation %(run)s: %(accounts)s accounts, %(mismatches)s mismatches, "
        "%(alerted)s alerted", result)
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
