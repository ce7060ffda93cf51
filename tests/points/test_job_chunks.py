"""The ledger jobs in chunks of account ids (``points.services.chunks``, ``points.tasks``): the
chunks cover every account once, all of them do what one unchunked run does, a chunk delivered
twice changes nothing, and chunks in parallel threads on PostgreSQL add up."""

import re
from datetime import timedelta
from types import SimpleNamespace
from unittest import mock

import pytest
from django.db import connection, transaction

from points import services, tasks
from points.models import Account, Entry, Hold, Lot
from points.services import jobs
from points.services.chunks import account_ranges, as_range, keyset
from tests.factories import MemberFactory
from tests.points.ledger import T0, clock
from tests.threads import failures, run_together

EXPIRES = T0 + timedelta(days=30)
AVAILABLE = T0 + timedelta(days=7)
NOW = T0 + timedelta(days=31)  # past both: every job has work
RUN_TAG = re.compile(r"^((?:expire|activate):.+)/[0-9a-f]{8}:")


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Many members: argon2 per member would be most of these tests' time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def populate(count: int) -> list:
    """``count`` members, each with an expiring lot, a pending lot, a lot that never expires,
    some spending and (every third) a hold that times out; the amounts differ per member."""
    members = [MemberFactory() for _ in range(count)]
    with clock(T0):
        for n, member in enumerate(members):
            services.earn(member, 10 + n, key=f"x{n}", reason="r", expires_at=EXPIRES)
            services.earn(member, 5 + n, key=f"p{n}", reason="r", available_at=AVAILABLE,
                          expires_at=services.NEVER)
            services.earn(member, 100, key=f"k{n}", reason="r", expires_at=services.NEVER)
            if n % 7:
                services.spend(member, n % 7, key=f"s{n}", reason="r")
            if n % 3 == 0:
                services.hold(member, 3, key=f"h{n}", ttl=timedelta(days=1))
    return members


def ledger_state() -> tuple:
    """Every row the jobs write, job entries' run tags dropped (each run has its own)."""
    accounts = list(Account.objects.order_by("id").values_list(
        "id", "available", "pending", "held", "debt", "lifetime_earned", "lifetime_spent",
        "lifetime_expired"))
    lots = list(Lot.objects.order_by("id").values_list("id", "remaining", "pending"))
    holds = list(Hold.objects.order_by("id").values_list("id", "status", "captured"))
    entries = [(RUN_TAG.sub(r"\1:", key), *rest) for key, *rest in Entry.objects.order_by(
        "account_id", "id").values_list("key", "account_id", "kind", "delta", "balance_after",
                                         "reason")]
    return accounts, lots, holds, entries


def run_all(now, accounts=None, run=None) -> tuple[int, int, int]:
    return (services.activate_due(now=now, accounts=accounts, run=run),
            services.expire_due(now=now, accounts=accounts, run=run),
            services.release_stale_holds(now=now, accounts=accounts))


def in_rollback(call):
    """``call()`` and the ledger it leaves, then everything undone (a savepoint rolled back)."""
    with transaction.atomic():
        result = call()
        state = ledger_state()
        transaction.set_rollback(True)
    return result, state


def account_ids() -> list[int]:
    return list(Account.objects.order_by("id").values_list("id", flat=True))


# ------------------------------------------------------------------ the ranges


@pytest.mark.django_db
def test_no_accounts_is_one_chunk_of_everything():
    assert account_ranges(16) == [(None, None)]
    assert keyset(None) == keyset((None, None)) == (-(2**63), 2**63 - 1)


@pytest.mark.django_db
@pytest.mark.parametrize("chunks", [1, 2, 3, 7, 16, 500])
def test_the_ranges_cover_every_account_id_exactly_once(chunks):
    populate(12)
    ids = account_ids()
    ranges = account_ranges(chunks)
    assert len(ranges) == min(chunks, ids[-1] - ids[0] + 1)
    # Consecutive, open at both ends: ids below, between and above the accounts, and any account
    # created after the split, fall in exactly one range.
    assert ranges[0][0] is None and ranges[-1][1] is None
    assert all(left[1] == right[0] for left, right in zip(ranges, ranges[1:], strict=False))
    assert all(lo < hi for lo, hi in ranges if lo is not None and hi is not None)
    for account_id in [*ids, 0, ids[-1] + 1000, -5]:
        inside = [r for r in ranges
                  if (r[0] is None or r[0] <= account_id) and (r[1] is None or account_id < r[1])]
        assert len(inside) == 1, (account_id, ranges)
        after, upto = keyset(inside[0])
        assert after < account_id <= upto


@pytest.mark.django_db
def test_a_range_takes_its_low_bound_and_leaves_its_high_bound():
    populate(4)
    a, b, c, d = account_ids()
    expired = {}
    for accounts in [(b, c), (b, b + 1), (c, c), (None, b), (d, None)]:
        with transaction.atomic():
            services.expire_due(now=NOW, accounts=accounts)
            expired[accounts] = sorted(Entry.objects.filter(kind="expire")
                                       .values_list("account_id", flat=True))
            transaction.set_rollback(True)
    assert expired == {(b, c): [b], (b, b + 1): [b], (c, c): [], (None, b): [a], (d, None): [d]}


def test_a_range_arrives_from_json_as_a_tuple():
    assert as_range([3, None]) == (3, None) and as_range([None, "9"]) == (None, 9)
    assert as_range(None) is None


# ------------------------------------------------------------------ chunks = one run


@pytest.mark.django_db
def test_all_chunks_do_exactly_what_one_unchunked_run_does(ledger_invariants, monkeypatch):
    populate(30)
    monkeypatch.setattr(jobs, "JOB_BATCH_ACCOUNTS", 4)  # batches within a chunk, too
    before = ledger_state()
    whole, whole_state = in_rollback(lambda: run_all(NOW))
    assert ledger_state() == before  # rolled back: the chunks start from the same ledger
    # The data gives every job work to do. Spending and holds take the expiring lot first;
    # held points expire with the hold's release.
    assert whole == (sum(5 + n for n in range(30)),
                     sum(10 + n - n % 7 - (3 if n % 3 == 0 else 0) for n in range(30)), 10)
    for chunks in (1, 5, 16, 64):
        def chunked(chunks=chunks):
            run = jobs.new_run_id(NOW)
            per_chunk = [run_all(NOW, accounts, run) for accounts in account_ranges(chunks)]
            return tuple(sum(column) for column in zip(*per_chunk, strict=True))

        summed, state = in_rollback(chunked)
        assert summed == whole, chunks
        assert state == whole_state, chunks
    run_all(NOW)
    assert ledger_invariants() == []


# ------------------------------------------------------------------ a chunk twice


@pytest.mark.django_db
def test_a_chunk_delivered_twice_changes_nothing_the_second_time(ledger_invariants):
    members = populate(10)
    ids = account_ids()
    chunk = (ids[2], ids[7])
    run = jobs.new_run_id(NOW)
    first = run_all(NOW, chunk, run)
    assert all(first)
    after_first = ledger_state()
    # Only the chunk's accounts were touched.
    touched = set(Entry.objects.filter(kind__in=["expire", "activate"])
                  .values_list("account_id", flat=True))
    assert touched == set(ids[2:7])

    assert run_all(NOW, chunk, run) == (0, 0, 0)
    assert ledger_state() == after_first

    # A late credit already past its expiry lands in the chunk: the same run's chunk again
    # leaves it (its key would repeat the run's); the next run expires it.
    with clock(NOW + timedelta(hours=1)):
        services.earn(members[3], 4, key="late", reason="r", expires_at=EXPIRES)
    assert services.expire_due(now=NOW, accounts=chunk, run=run) == 0
    assert Lot.objects.get(entry__key="late").remaining == 4
    assert services.expire_due(now=NOW, accounts=chunk, run=jobs.new_run_id(NOW)) == 4
    assert ledger_invariants() == []


@pytest.mark.django_db(transaction=True)
def test_chunks_in_parallel_threads_each_delivered_twice_add_up(ledger_invariants):
    """Real threads on their own connections: 4 chunks, each delivered twice at once."""
    populate(24)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(SUM(remaining), 0) FROM points_lot "
                       "WHERE expires_at <= %s AND remaining > 0", [NOW])
        due = cursor.fetchone()[0]
    ranges = account_ranges(4)
    assert len(ranges) == 4
    run = jobs.new_run_id(NOW)
    calls = [r for r in ranges for _ in range(2)]

    results = run_together(len(calls), lambda i: run_all(NOW, calls[i], run))

    assert failures(results) == []
    assert sum(r[1] for r in results) == due > 0
    assert sum(r[0] for r in results) == sum(5 + n for n in range(24))
    assert sum(r[2] for r in results) == 8  # every third member's hold
    # Each account expired and activated once, under the one run id.
    for kind in ("expire", "activate"):
        keys = list(Entry.objects.filter(kind=kind, key__startswith=f"{kind}:")
                    .values_list("key", "account_id"))
        assert len(keys) == len({account for _, account in keys}) == 24
        assert [key for key, account in keys if key != f"{kind}:{run}:{account}"] == []
    assert Lot.objects.filter(expires_at__lte=NOW, remaining__gt=0).count() == 0
    assert ledger_invariants() == []


# ------------------------------------------------------------------ the dispatchers


@pytest.mark.django_db
def test_the_dispatcher_queues_one_chunk_per_range_with_one_now_and_run(settings):
    populate(20)
    settings.JOB_CHUNKS = 6
    with mock.patch("points.tasks.group") as group:
        summary = tasks.expire_due()
    signatures = list(group.call_args.args[0])
    assert summary["chunks"] == len(signatures) == 6
    assert {s.task for s in signatures} == {"points.expire_due_chunk"}
    assert [tuple(s.kwargs["accounts"]) for s in signatures] == account_ranges(6)
    assert {(s.kwargs["now"], s.kwargs["run"]) for s in signatures} == {
        (signatures[0].kwargs["now"], summary["run"])}
    group.return_value.apply_async.assert_called_once_with()
    assert not Entry.objects.filter(kind="expire").exists()  # queued, not run


def test_chunks_go_to_the_queue_the_dispatcher_came_from():
    with mock.patch("points.tasks.group") as group:
        assert tasks.fan_out(tasks.expire_due_chunk, [{"now": "x", "accounts": None, "run": "r"}],
                             SimpleNamespace(delivery_info={"routing_key": "jobs-b"})) == 1
    group.return_value.apply_async.assert_called_once_with(queue="jobs-b")


@pytest.mark.django_db
def test_dispatched_chunks_run_eagerly_expire_every_account_once(settings, eager_tasks,
                                                                 ledger_invariants):
    populate(20)
    settings.JOB_CHUNKS = 5
    with clock(NOW):
        assert tasks.activate_due()["chunks"] == 5
        summary = tasks.expire_due()
        assert tasks.release_stale_holds() == {"chunks": 5}
    assert summary["chunks"] == 5
    # (Releasing a hold whose lot expired while held writes an expire entry of its own key.)
    keys = list(Entry.objects.filter(kind="expire", key__startswith="expire:")
                .values_list("key", flat=True))
    assert len(keys) == 20 and {key.rsplit(":", 1)[0] for key in keys} == {f"expire:{summary['run']}"}
    assert Entry.objects.filter(kind="activate").count() == 20
    assert Hold.objects.filter(status="expired").count() == 7
    assert ledger_invariants() == []
