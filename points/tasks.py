"""Scheduled ledger jobs. Each calls a service, is safe to run twice, and logs what it did."""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="points.activate_due")
def activate_due():
    from points import services

    points = services.activate_due()
    logger.info("activated %s pending points", points)
    return points


@shared_task(name="points.expire_due")
def expire_due():
    from points import services

    points = services.expire_due()
    logger.info("expired %s points", points)
    return points


@shared_task(name="points.release_stale_holds")
def release_stale_holds():
    from points import services

    count = services.release_stale_holds()
    logger.info("released %s stale holds", count)
    return count
