"""``mall.jobs.reconcile_ledger``: every §3.1 invariant over every account, stored and alerted."""

import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.db import connection

from mall import jobs
from mall.models import Message
from points import services
from points.errors import InsufficientPoints
from points.models import Account, Entry, Hold, Lot, ReconciliationRun
from points.services import reconciliation
from points.services.reconciliation import AUDITOR_GROUP
from tests.factories import MemberFactory, StaffFactory
from tests.points.ledger import T0, clock
from tests.threads import failures, run_together

NOW = T0 + timedelta(days=90)


def sql(statement, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def populate():
    """Accounts that went through every kind of posting: earn (pending and not, expiring and
    not), spend, hold with a partial capture, release, timed-out hold, capture of a lot that
    expired while held, reverse of an earning (into debt) and of a spending, debt recovery,
    credit and debit adjust, activation, expiry, refusals, a batch of earnings."""
    staff = StaffFactory()
    a, b, c, d, e, f, g = (MemberFactory() for _ in range(7))
    with clock(T0):
        services.earn(a, 500, key="a1", reason="r", expires_at=T0 + timedelta(days=60))
        services.earn(a, 300, key="a2", reason="r", expires_at=services.NEVER)
        spent = services.spend(a, 120, key="a3", reason="r")
        hold = services.hold(a, 200, key="a4")
        services.capture(hold, key="a5", points=150)
        services.release(services.hold(a, 30, key="a6"), key="a7")
        services.reverse(spent, 20, key="a8", reason="r")
        services.adjust(a, 40, key="a9", reason="r", staff=staff)
        services.adjust(a, -10, key="a10", reason="r", staff=staff)
        services.earn(a, 70, key="a11", reason="r", available_at=T0 + timedelta(days=7))

        earned = services.earn(b, 100, key="b1", reason="r")
        services.spend(b, 80, key="b2", reason="r")
        services.reverse(earned, key="b3", reason="r")  # 20 from the lot, 80 become debt
        services.earn(b, 50, key="b4", reason="r")  # recovers 50 of the debt
        with pytest.raises(InsufficientPoints):
            services.spend(b, 1, key="b5", reason="r")

        services.earn(c, 100, key="c1", reason="r", expires_at=T0 + timedelta(days=10))
        c_hold = services.hold(c, 60, key="c2", ttl=timedelta(days=20))
        services.earn(d, 10, key="d1", reason="r")
        services.hold(d, 10, key="d2", ttl=timedelta(minutes=5))
        with pytest.raises(InsufficientPoints):
            services.spend(e, 5, key="e1", reason="r")  # an account with only a refusal
        services.earn_many([services.Credit(f.pk, 15, "f1", "r"), services.Credit(g.pk, 25, "g1", "r")])
        services.hold(g, 5, key="g2", ttl=timedelta(days=365))
    assert services.activate_due(now=T0 + timedelta(days=8)) == 70
    with clock(T0 + timedelta(days=11)):
        services.capture(c_hold, key="c3", points=40)  # honoured; the other 20 expire at once
    assert services.release_stale_holds(now=T0 + timedelta(days=1)) == 1
    assert services.expire_due(now=T0 + timedelta(days=61)) > 0
    return a, b, c


def auditor(**fields):
    member = StaffFactory(**fields)
    # A transactional test's flush removes the migration's group: get_or_create there.
    member.groups.add(Group.objects.get_or_create(name=AUDITOR_GROUP)[0])
    return member


def mismatch(member, check, expected, actual, **extra):
    account = Account.objects.get(member=member)
    return {"account_id": account.pk, "member_id": member.pk, "check": check, "expected": expected,
            "actual": actual, **extra}


def account_of(member):
    return Account.objects.get(member=member)


# ------------------------------------------------------------------ a clean ledger


@pytest.mark.django_db
def test_a_clean_ledger_of_every_kind_of_posting_reports_zero(ledger_invariants):
    populate()
    assert ledger_invariants() == []
    assert set(Entry.objects.values_list("kind", flat=True)) == {
        "earn", "spend", "hold", "capture", "release", "expire", "reverse", "adjust", "activate"}
    assert account_of(Entry.objects.get(key="b3").account.member).debt == 30

    result = jobs.reconcile_ledger(now=NOW)

    run = ReconciliationRun.objects.get()
    assert run.mismatches == [], run.mismatches
    assert result == {"run": run.pk, "accounts": 7, "mismatches": 0, "alerted": 0}
    assert (run.accounts_checked, run.mismatch_count, run.mismatches, run.status) == (7, 0, [], "ok")
    assert run.started_at == NOW and run.finished_at >= NOW
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_small_batches_check_every_account_once():
    populate()
    run = services.reconcile(now=NOW, batch=2)
    assert (run.accounts_checked, run.mismatch_count) == (7, 0)


# ------------------------------------------------------------------ injected mismatches


@pytest.mark.django_db
def test_a_changed_account_total_is_found_with_its_account():
    a, b, _c = populate()
    before = account_of(a)
    sql("UPDATE points_account SET available = available + 1 WHERE id = %s", [before.pk])

    run = services.reconcile(now=NOW)

    total = before.available + before.pending + before.held - before.debt
    assert run.mismatch_count == 2
    assert run.mismatches == [
        mismatch(a, "available", before.available, before.available + 1),
        mismatch(a, "total", total, total + 1),
    ]
    assert run.status == "mismatch"


@pytest.mark.django_db
def test_a_changed_lot_is_found():
    a, _b, _c = populate()
    lot = Lot.objects.filter(account__member=a, remaining__gt=0, pending=False).order_by("id").first()
    sql("UPDATE points_lot SET remaining = remaining - 1 WHERE id = %s", [lot.pk])
    available = account_of(a).available

    run = services.reconcile(now=NOW)

    assert run.mismatches == [mismatch(a, "available", available - 1, available)]


@pytest.mark.django_db
def test_a_changed_hold_is_found():
    populate()
    hold = Hold.objects.get(status="held")  # g's
    member = hold.account.member
    sql("UPDATE points_hold SET amount = amount + 5 WHERE id = %s", [hold.pk])

    run = services.reconcile(now=NOW)

    assert run.mismatches == [
        mismatch(member, "held", hold.amount + 5, hold.amount),
        mismatch(member, "hold_reserved", hold.amount + 5, hold.amount),
    ]


@pytest.mark.django_db
def test_a_changed_capture_is_found():
    a, _b, _c = populate()
    hold = Hold.objects.get(account__member=a, status="captured")
    sql("UPDATE points_hold SET captured = captured - 1 WHERE id = %s", [hold.pk])

    run = services.reconcile(now=NOW)

    assert run.mismatches == [mismatch(a, "hold_captured", 150, 149)]


@pytest.mark.django_db
def test_a_changed_entry_is_found_with_the_entry_that_breaks_the_chain():
    a, _b, _c = populate()
    entry = Entry.objects.get(key="a2")
    account = account_of(a)
    total = account.available + account.pending + account.held - account.debt
    # Entries are append-only: only with the trigger off (for this transaction) can a test do it.
    sql("SET LOCAL session_replication_role = replica")
    sql("UPDATE points_entry SET delta = delta + 7 WHERE id = %s", [entry.pk])
    sql("SET LOCAL session_replication_role = DEFAULT")

    run = services.reconcile(now=NOW)

    assert run.mismatches == [
        mismatch(a, "total", total + 7, total),
        mismatch(a, "lifetime_earned", account.lifetime_earned + 7, account.lifetime_earned),
        mismatch(a, "balance_after", entry.balance_after + 7, entry.balance_after, entry_id=entry.pk),
    ]


@pytest.mark.django_db
def test_a_lost_allocation_is_found():
    a, _b, _c = populate()
    spend = Entry.objects.get(key="a3")
    sql("DELETE FROM points_allocation WHERE entry_id = %s", [spend.pk])

    run = services.reconcile(now=NOW)

    assert [row["check"] for row in run.mismatches] == ["allocations"]
    assert run.mismatches[0]["expected"] - run.mismatches[0]["actual"] == 120


@pytest.mark.django_db
def test_a_key_both_refused_and_posted_is_found():
    a, _b, _c = populate()
    account = account_of(a)
    sql("INSERT INTO points_refusal (account_id, key, fingerprint, code, message, created_at) "
        "VALUES (%s, 'a1', '', 'insufficient_points', '', now())", [account.pk])

    run = services.reconcile(now=NOW)

    assert run.mismatches == [mismatch(a, "refused_and_posted", 0, 1)]


@pytest.mark.django_db
def test_a_dropped_constraint_and_a_disabled_trigger_are_found():
    a, _b, _c = populate()
    sql("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred checks pending: ALTER TABLE may run
    sql("ALTER TABLE points_lot DROP CONSTRAINT points_lot_remaining_within_amount")
    sql("ALTER TABLE points_entry DISABLE TRIGGER points_entry_append_only")
    lot = Lot.objects.filter(account__member=a, pending=False).order_by("id").first()
    sql("UPDATE points_lot SET remaining = amount + 1 WHERE id = %s", [lot.pk])
    available = account_of(a).available

    run = services.reconcile(now=NOW)

    schema = {"account_id": None, "member_id": None}
    assert run.mismatches == [
        {**schema, "check": "constraint", "expected": "points_lot_remaining_within_amount",
         "actual": "missing"},
        {**schema, "check": "append_only", "expected": "enabled", "actual": "disabled"},
        mismatch(a, "available", available + lot.amount + 1 - lot.remaining, available),
        mismatch(a, "lot_bounds", 0, 1),
    ]


@pytest.mark.django_db
def test_the_count_is_exact_while_the_details_are_capped(monkeypatch):
    members = [MemberFactory() for _ in range(5)]
    for member in members:
        services.earn(member, 10, key=f"k{member.pk}", reason="r")
    sql("UPDATE points_account SET lifetime_spent = lifetime_spent + 1")
    monkeypatch.setattr(reconciliation, "MISMATCHES_KEPT", 3)

    run = services.reconcile(now=NOW, batch=2)

    assert (run.accounts_checked, run.mismatch_count) == (5, 5)
    assert run.mismatches == [mismatch(m, "lifetime_spent", 0, 1) for m in members[:3]]


# ------------------------------------------------------------------ alerts


@pytest.mark.django_db
def test_a_mismatch_alerts_auditors_and_superusers_once_per_run(django_capture_on_commit_callbacks):
    a, _b, _c = populate()
    first = auditor(email="audit@example.com")
    second = auditor(email="", is_superuser=True)  # both: one message
    root = MemberFactory(is_staff=True, is_superuser=True, email="root@example.com")
    MemberFactory(is_staff=True, is_superuser=True, is_active=False, email="gone@example.com")
    auditor(is_active=False, email="left@example.com")
    StaffFactory(email="staff@example.com")  # staff, not an auditor
    sql("UPDATE points_account SET available = available + 1 WHERE member_id = %s", [a.pk])

    with django_capture_on_commit_callbacks(execute=True):
        result = jobs.reconcile_ledger(now=NOW)

    run = ReconciliationRun.objects.get()
    assert result == {"run": run.pk, "accounts": 7, "mismatches": 2, "alerted": 3}
    messages = Message.objects.filter(purpose="ledger_mismatch").order_by("member_id")
    assert [(m.member_id, m.period) for m in messages] == [
        (first.pk, f"run{run.pk}"), (second.pk, f"run{run.pk}"), (root.pk, f"run{run.pk}")]
    assert messages[0].title == "积分对账发现2处不一致"
    assert messages[0].body == f"第{run.pk}次对账检查了7个账户，发现2处不一致，请在后台查看明细。"
    assert sorted(m.to[0] for m in mail.outbox) == ["audit@example.com", "root@example.com"]

    # The same run's alerts again send nothing; the next run alerts for itself.
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs._alert_auditors(run, now=NOW) == 0
        again = jobs.reconcile_ledger(now=NOW + timedelta(days=1))
    assert again["alerted"] == 3 and again["run"] != run.pk
    assert Message.objects.filter(purpose="ledger_mismatch").count() == 6
    assert len(mail.outbox) == 4


@pytest.mark.django_db
def test_a_clean_run_alerts_no_one(django_capture_on_commit_callbacks):
    populate()
    auditor(email="audit@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.reconcile_ledger(now=NOW)["alerted"] == 0
    assert Message.objects.count() == 0 and mail.outbox == []


# ------------------------------------------------------------------ many accounts


def _clean_accounts(count):
    """``count`` members with a clean account each: one earning of 15, 10 available and 5
    pending in two lots; set-based, foreign-key triggers off for the transaction."""
    sql("SET LOCAL session_replication_role = replica")
    sql("INSERT INTO mall_member (password, is_superuser, username, first_name, last_name, email, "
        "is_staff, is_active, date_joined, nickname, tier) "
        "SELECT '!', false, 'bulk-' || g, '', '', '', false, true, now(), '', 'normal' "
        "FROM generate_series(1, %s) g", [count])
    sql("INSERT INTO points_account (id, member_id, available, pending, held, debt, "
        "lifetime_earned, lifetime_spent, lifetime_expired) "
        "SELECT id, id, 10, 5, 0, 0, 15, 0, 0 FROM mall_member WHERE username LIKE 'bulk-%%'")
    sql("INSERT INTO points_entry (account_id, key, kind, delta, balance_after, reason, reference, "
        "fingerprint, rule_version, created_at) "
        "SELECT id, 'bulk:' || id, 'earn', 15, 15, 'r', '', '', '', now() FROM points_account")
    sql("INSERT INTO points_lot (account_id, entry_id, amount, remaining, pending, available_at, "
        "expires_at, created_at) "
        "SELECT e.account_id, e.id, v.points, v.points, v.pending, now(), NULL, now() "
        "FROM points_entry e CROSS JOIN (VALUES (10, false), (5, true)) v(points, pending)")
    sql("SET LOCAL session_replication_role = DEFAULT")
    sql("ANALYZE mall_member, points_account, points_entry, points_lot")


@pytest.mark.django_db
def test_100000_clean_accounts_report_zero_and_one_broken_is_found():
    _clean_accounts(100_000)
    started = time.monotonic()
    run = services.reconcile(now=NOW)
    seconds = time.monotonic() - started
    assert (run.accounts_checked, run.mismatch_count) == (100_000, 0)
    assert seconds < 20, seconds

    broken = Account.objects.order_by("id")[54_321]
    sql("UPDATE points_lot SET remaining = 4 WHERE account_id = %s AND pending", [broken.pk])
    run = services.reconcile(now=NOW)
    assert run.mismatches == [{"account_id": broken.pk, "member_id": broken.member_id,
                               "check": "pending", "expected": 4, "actual": 5}]


# ------------------------------------------------------------------ concurrency


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_are_two_runs_each_alerting_once(django_capture_on_commit_callbacks):
    a, _b, _c = populate()
    auditor(email="audit@example.com")
    root = MemberFactory(is_staff=True, is_superuser=True, email="root@example.com")
    sql("UPDATE points_account SET held = held + 3 WHERE member_id = %s", [a.pk])

    results = run_together(2, lambda i: jobs.reconcile_ledger(now=NOW))

    assert failures(results) == []
    runs = list(ReconciliationRun.objects.order_by("id"))
    assert sorted(r["run"] for r in results) == [run.pk for run in runs]
    assert [(run.accounts_checked, run.mismatch_count, run.status) for run in runs] == [
        (7, 2, "mismatch"), (7, 2, "mismatch")]
    assert [r["alerted"] for r in results] == [2, 2]
    periods = sorted(Message.objects.filter(member=root).values_list("period", flat=True))
    assert periods == sorted(f"run{run.pk}" for run in runs)
    assert Message.objects.count() == 4
    assert sorted(m.to[0] for m in mail.outbox) == ["audit@example.com", "audit@example.com",
                                                  "root@example.com", "root@example.com"]


@pytest.mark.django_db(transaction=True)
def test_postings_during_a_run_cause_no_false_mismatch():
    """Each batch is one statement, one snapshot: a posting is seen whole or not at all."""
    members = [MemberFactory() for _ in range(8)]
    for member in members:
        services.earn(member, 1000, key=f"seed-{member.pk}", reason="r")

    def call(i):
        if i == 0:
            return [services.reconcile(batch=1).mismatch_count for _ in range(5)]
        member = members[i - 1]
        for n in range(30):
            hold = services.hold(member, 3, key=f"h-{i}-{n}")
            services.capture(hold, key=f"c-{i}-{n}", points=2)
            services.spend(member, 1, key=f"s-{i}-{n}", reason="r")
        return None

    results = run_together(5, call)

    assert failures(results) == []
    assert results[0] == [0, 0, 0, 0, 0]
    assert services.reconcile().mismatch_count == 0
