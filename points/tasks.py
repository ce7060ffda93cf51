"""Scheduled ledger jobs. Each calls a service, is safe to run twice, and logs what it did.

The scheduled task of each job (the name beat runs, ``points.expire_due`` ...) is a dispatcher:
it fixes the run's ``now`` (and its run id), splits the accounts into ``JOB_CHUNKS`` id ranges
(``points.services.chunks``) and queues one chunk task per range, which workers run in parallel.
A chunk is the service called with that range, so it can be retried alone; a chunk delivered
twice changes nothing. The chunks go to the queue the dispatcher came from.
"""

import logging
from datetime import datetime

from celery import group, shared_task
from django.utils import timezone

logger = logging.getLogger(__name__)


def fan_out(task, calls: list[dict], request=None) -> int:
    """Queue ``task`` once per keyword-argument dict of ``calls`` as one group, on the queue the
    dispatching task was delivered from (``request``: the dispatcher's ``self.request``);
    returns how many. Eager (``task_always_eager``), the chunks run here, one after another."""
    options = {}
    routing_key = ((getattr(request, "delivery_info", None) or {}).get("routing_key")
                   if request is not None else None)
    if routing_key:
        options["queue"] = routing_key
    group(task.si(**kwargs) for kwargs in calls).apply_async(**options)
    return len(calls)


def _ranges() -> list:
    from points.services.chunks import account_ranges

    return [list(r) for r in account_ranges()]


def _dispatch(self, chunk_task, now: datetime, **extra) -> dict:
    calls = [{"now": now.isoformat(), "accounts": r, **extra} for r in _ranges()]
    chunks = fan_out(chunk_task, calls, self.request)
    logger.info("%s: %s chunks queued for %s", self.name, chunks, now.isoformat())
    return {"chunks": chunks, **extra}


def _when(now: str) -> datetime:
    return datetime.fromisoformat(now)


@shared_task(name="points.activate_due", bind=True)
def activate_due(self):
    from points.services.jobs import new_run_id

    now = timezone.now()
    return _dispatch(self, activate_due_chunk, now, run=new_run_id(now))


@shared_task(name="points.activate_due_chunk")
def activate_due_chunk(now: str, accounts, run: str):
    from points import services
    from points.services.chunks import as_range

    points = services.activate_due(now=_when(now), accounts=as_range(accounts), run=run)
    logger.info("activated %s pending points (accounts %s, run %s)", points, accounts, run)
    return points


@shared_task(name="points.expire_due", bind=True)
def expire_due(self):
    from points.services.jobs import new_run_id

    now = timezone.now()
    return _dispatch(self, expire_due_chunk, now, run=new_run_id(now))


@shared_task(name="points.expire_due_chunk")
def expire_due_chunk(now: str, accounts, run: str):
    from points import services
    from points.services.chunks import as_range

    points = services.expire_due(now=_when(now), accounts=as_range(accounts), run=run)
    logger.info("expired %s points (accounts %s, run %s)", points, accounts, run)
    return points


@shared_task(name="points.release_stale_holds", bind=True)
def release_stale_holds(self):
    return _dispatch(self, release_stale_holds_chunk, timezone.now())


@shared_task(name="points.release_stale_holds_chunk")
def release_stale_holds_chunk(now: str, accounts):
    from points import services
    from points.services.chunks import as_range

    count = services.release_stale_holds(now=_when(now), accounts=as_range(accounts))
    logger.info("released %s stale holds (accounts %s)", count, accounts)
    return count
