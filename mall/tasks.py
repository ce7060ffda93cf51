"""Celery tasks of the programme's jobs (``mall.jobs``). Each calls its job, is safe to run
twice, and logs what it did; beat's schedules for them are created by a data migration."""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


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
