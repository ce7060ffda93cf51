"""The reconciliation in chunks of account ids (``start_run`` / ``check_chunk``,
``mall.tasks.reconcile_ledger``): the chunks' run is exactly one ``reconcile``'s, finished once by
the last chunk, a chunk delivered twice is counted once, and chunks in parallel threads add up."""

import random
from unittest import mock

import pytest
from django.core import mail

from mall import jobs, tasks
from mall.models import Message
from points.models import ReconciliationChunk, ReconciliationRun
from points.services import reconciliation
from points.services.chunks import account_ranges
from tests.jobs.test_reconcile import NOW, auditor, populate, sql
from tests.threads import failures, run_together


def result(run: ReconciliationRun) -> tuple:
    return run.accounts_checked, run.mismatch_count, run.mismatches


def break_ledger(a, b, c):
    """Mismatches in accounts spread over the id range, and a broken schema check (the test's
    transaction is rolled back: the trigger comes back)."""
    sql("UPDATE points_account SET held = held + 3 WHERE member_id = %s", [a.pk])
    sql("UPDATE points_account SET lifetime_earned = lifetime_earned + 1 WHERE member_id = %s",
        [b.pk])
    sql("UPDATE points_lot SET remaining = remaining - 1 WHERE remaining > 0 AND account_id = "
        "(SELECT id FROM points_account WHERE member_id = %s)", [a.pk])
    sql("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred checks pending: ALTER TABLE may run
    sql("ALTER TABLE points_entry DISABLE TRIGGER points_entry_append_only")


@pytest.mark.django_db
def test_the_chunks_of_a_run_give_exactly_one_reconcile(monkeypatch):
    a, b, c = populate()
    break_ledger(a, b, c)
    whole = reconciliation.reconcile(now=NOW, batch=2)
    assert whole.mismatch_count > 3 and whole.accounts_checked == 7

    for chunks in (1, 3, 16):
        run = reconciliation.start_run(now=NOW, chunks=chunks)
        ids = list(run.chunks.values_list("pk", flat=True))
        assert len(ids) == len(account_ranges(chunks)) == min(chunks, 7)  # ids 7 apart at most
        random.Random(chunks).shuffle(ids)  # the workers finish in any order
        for n, pk in enumerate(ids):
            assert run.finished_at is None
            returned = reconciliation.check_chunk(pk, batch=2)
            run.refresh_from_db()
            assert (run.finished_at is not None) == (n == len(ids) - 1)
            assert returned.pk == run.pk
        assert result(run) == result(whole), chunks
        assert run.status == "mismatch" and run.started_at == NOW <= run.finished_at

    # Kept mismatches cut at the limit: the first ones in account order, across chunks.
    monkeypatch.setattr(reconciliation, "MISMATCHES_KEPT", 2)
    whole = reconciliation.reconcile(now=NOW)
    run = reconciliation.start_run(now=NOW, chunks=16)
    for pk in reversed(run.chunks.values_list("pk", flat=True)):
        reconciliation.check_chunk(pk)
    run.refresh_from_db()
    assert len(whole.mismatches) == 2 and result(run) == result(whole)


@pytest.mark.django_db
def test_a_chunk_delivered_twice_is_counted_once_and_the_run_finished_once():
    a, b, c = populate()
    break_ledger(a, b, c)
    run = reconciliation.start_run(now=NOW, chunks=3)
    first, second, third = run.chunks.order_by("number").values_list("pk", flat=True)
    reconciliation.check_chunk(first)
    recorded = ReconciliationChunk.objects.get(pk=first)
    assert reconciliation.check_chunk(first) is None  # again: nothing checked, nothing written
    assert ReconciliationChunk.objects.get(pk=first).finished_at == recorded.finished_at
    reconciliation.check_chunk(second)
    then = mock.Mock()
    finished = reconciliation.check_chunk(third, then=then)
    then.assert_called_once_with(finished)
    snapshot = result(finished), finished.finished_at
    for pk in (first, second, third):  # late redeliveries of any chunk
        assert reconciliation.check_chunk(pk, then=then) is None
    finished.refresh_from_db()
    assert (result(finished), finished.finished_at) == snapshot
    assert then.call_count == 1
    assert finished.accounts_checked == 7


@pytest.mark.django_db
def test_a_run_with_no_accounts_is_one_chunk_that_finishes_it():
    run = reconciliation.start_run(now=NOW, chunks=16)
    (chunk,) = run.chunks.all()
    assert (chunk.lo, chunk.hi) == (None, None)
    run = reconciliation.check_chunk(chunk.pk)
    assert (run.accounts_checked, run.mismatch_count, run.status) == (0, 0, "ok")


@pytest.mark.django_db(transaction=True)
def test_chunks_in_parallel_threads_each_delivered_twice_finish_the_run_once_and_alert_once(
        settings):
    """Real threads: 4 chunks each delivered twice at once (``mall.jobs.reconcile_chunk``, the
    chunk task's body): one run, its exact totals, finished by one chunk, alerts sent once."""
    settings.JOB_CHUNKS = 4
    a, b, c = populate()
    auditor(email="audit@example.com")
    sql("UPDATE points_account SET held = held + 3 WHERE member_id = %s", [a.pk])
    sql("UPDATE points_account SET lifetime_spent = lifetime_spent + 2 WHERE member_id = %s", [c.pk])
    run, chunk_ids = jobs.start_reconciliation(now=NOW)
    assert len(chunk_ids) == 4
    calls = [pk for pk in chunk_ids for _ in range(2)]

    results = run_together(len(calls), lambda i: jobs.reconcile_chunk(calls[i]))

    assert failures(results) == []
    run.refresh_from_db()
    assert (run.accounts_checked, run.mismatch_count, run.status) == (7, 3, "mismatch")
    finishers = [r for r in results if r["finished"]]
    assert len(finishers) == 1 and finishers[0]["alerted"] == 1
    assert finishers[0]["accounts"] == 7 and finishers[0]["mismatches"] == 3
    assert sum(r["run"] is None for r in results) == 4  # each chunk's second delivery
    assert sum(ReconciliationChunk.objects.values_list("accounts_checked", flat=True)) == 7
    assert Message.objects.filter(purpose="ledger_mismatch", period=f"run{run.pk}").count() == 1
    assert [m.to for m in mail.outbox] == [["audit@example.com"]]
    whole = reconciliation.reconcile(now=NOW)
    assert result(run) == result(whole)


@pytest.mark.django_db
def test_the_scheduled_task_queues_the_chunks_and_the_last_finishes_the_run(settings, eager_tasks):
    settings.JOB_CHUNKS = 3
    a, _b, _c = populate()
    sql("UPDATE points_account SET held = held + 3 WHERE member_id = %s", [a.pk])
    summary = tasks.reconcile_ledger()
    assert summary["chunks"] == 3
    run = ReconciliationRun.objects.get(pk=summary["run"])
    assert (run.accounts_checked, run.mismatch_count, run.status) == (7, 2, "mismatch")
    assert run.chunks.filter(finished_at__isnull=True).count() == 0


@pytest.mark.django_db
def test_the_scheduled_task_only_queues(settings):
    settings.JOB_CHUNKS = 5
    populate()
    with mock.patch("points.tasks.group") as group:
        summary = tasks.reconcile_ledger()
    signatures = list(group.call_args.args[0])
    run = ReconciliationRun.objects.get(pk=summary["run"])
    assert summary["chunks"] == len(signatures) == 5
    assert [s.kwargs["chunk_id"] for s in signatures] == list(
        run.chunks.order_by("number").values_list("pk", flat=True))
    assert {s.task for s in signatures} == {"mall.reconcile_chunk"}
    assert run.status == "running"


@pytest.mark.django_db
def test_a_run_whose_chunks_could_not_be_queued_is_dropped():
    populate()
    with mock.patch("points.tasks.group") as group:
        group.return_value.apply_async.side_effect = OSError("broker down")
        with pytest.raises(OSError):
            tasks.reconcile_ledger()
    assert not ReconciliationRun.objects.exists()
    assert not ReconciliationChunk.objects.exists()
