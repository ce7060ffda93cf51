"""Celery tasks for the programme's jobs (``mall.jobs``): each calls its job, is safe to run
twice, and logs the counts it returns."""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="mall.reevaluate_tiers")
def reevaluate_tiers():
    from mall import jobs

    counts = jobs.reevaluate_tiers()
    logger.info("tiers re-evaluated: %s", counts)
    return counts
