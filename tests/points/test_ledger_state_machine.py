"""A Hypothesis state machine for the points ledger against a small in-memory model.

The model keeps lots (amount, remaining, pending, available_at, expires_at), holds and what they
reserve, the lots each spending or capture drew from, debt and the lifetime counters; it predicts
every total and every refusal. After each step the DESIGN.md 3.1 invariants are checked in SQL
(plus ``balance_after`` as the running sum of deltas), and the account totals, every lot's
``remaining``/``pending`` and every hold's status are compared with the model.

Time is the machine's clock: ``points.services.timezone.now`` is patched to it and the jobs get
``now=`` explicitly. Examples are derandomized so CI sees the same runs every time. The
``event(...)`` calls name the paths worth reaching; count them (patch ``event``) when tuning the
strategies.

One file of about 600 lines on purpose: the model, its rules and the machine are one unit that is
read and tuned together; split, each part would be meaningless without the other two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from points import services
from points.errors import (
    HoldNotOpen,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidAmount,
    LedgerError,
    NotReversible,
)
from points.models import Lot
from points.policy import month_end_expiry
from tests.conftest import INVARIANT_SQL

START = datetime(2026, 1, 29, 10, 30, tzinfo=ZoneInfo("Asia/Shanghai"))

# Empties the ledger between examples. Not TRUNCATE: the tables are partitioned, 16 partitions
# each, and truncating some 100 relations (new files for each and its indexes) per example took
# seconds; the machine writes a few dozen rows. The append-only trigger and the foreign keys are
# off for these deletes only (session_replication_role), back on before the example starts.
TRUNCATE_SQL = (
    "SET session_replication_role = replica; "
    "DELETE FROM points_allocation; DELETE FROM points_lot; DELETE FROM points_entry; "
    "DELETE FROM points_hold; DELETE FROM points_refusal; DELETE FROM points_account; "
    "SET session_replication_role = DEFAULT"
)

# balance_after is the member's total after the posting: the running sum of deltas, in id order.
BALANCE_AFTER_SQL = """
SELECT id, balance_after, running FROM (
    SELECT id, balance_after,
           SUM(delta) OVER (PARTITION BY account_id ORDER BY id) AS running
    FROM points_entry
) e WHERE balance_after <> running
"""

ACCOUNTS_SQL = (
    "SELECT member_id, available, pending, held, debt, lifetime_earned, lifetime_spent, "
    "lifetime_expired FROM points_account"
)

MACHINE_SETTINGS = settings(
    max_examples=60,
    stateful_step_count=35,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)


# --------------------------------------------------------------------------- the model


@dataclass
class MLot:
    id: int
    member: int
    amount: int
    remaining: int
    pending: bool
    available_at: datetime
    expires_at: datetime | None

    def spend_order(self):
        # Soonest expiry first (never-expiring last), then oldest.
        return (self.expires_at is None, self.expires_at or START, self.id)

    def return_order(self):
        # Reversed spendings go back latest-expiring (never-expiring) first, then newest.
        return (self.expires_at is not None,
                -self.expires_at.timestamp() if self.expires_at else 0, -self.id)


@dataclass
class MEntry:
    id: int
    member: int
    kind: str  # earn | spend | capture
    points: int
    obj: object  # the Entry the service returned, passed back to reverse()
    lot: int | None = None  # the lot an earning created
    taken: dict[int, int] = field(default_factory=dict)  # lot -> points a debit took
    returned: dict[int, int] = field(default_factory=dict)  # lot -> points reversals gave back
    reversed: int = 0

    @property
    def open(self):
        return self.points - self.reversed


@dataclass
class MHold:
    id: int
    member: int
    amount: int
    obj: object
    reserved: list[tuple[int, int]]  # (lot, points), in spending order
    deadline: datetime
    status: str = "held"
    captured: int = 0


@dataclass
class MMember:
    debt: int = 0
    earned: int = 0
    spent: int = 0
    expired: int = 0


@dataclass
class Call:
    op: str
    args: tuple
    kwargs: dict
    key: str
    # ("entry", id) | ("hold", id) | ("refused",) for a recorded InsufficientPoints |
    # ("error", cls, redo) for a refusal that records nothing (redo repeats it through the model)
    outcome: tuple


def _snapshot():
    """Everything a posting could change, to prove that a replay or a refusal changed nothing."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT COUNT(*) FROM points_entry), (SELECT COUNT(*) FROM points_lot), "
            "(SELECT COUNT(*) FROM points_hold), (SELECT COUNT(*) FROM points_allocation), "
            "(SELECT COUNT(*) FROM points_refusal)"
        )
        counts = cursor.fetchone()
        cursor.execute(ACCOUNTS_SQL + " ORDER BY member_id")
        # A refused first posting opens the member's account: an all-zero account is no change.
        accounts = [row for row in cursor.fetchall() if any(row[1:])]
        cursor.execute("SELECT id, remaining, pending FROM points_lot ORDER BY id")
        lots = cursor.fetchall()
        cursor.execute("SELECT id, status, captured FROM points_hold ORDER BY id")
        holds = cursor.fetchall()
    return counts, accounts, lots, holds


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs), None
    except LedgerError as exc:
        return None, exc


def _check_outcome(expected_error, result, error):
    if expected_error is None:
        assert error is None, f"unexpected {error!r}"
    else:
        assert type(error) is expected_error, f"expected {expected_error.__name__}, got {error!r}"
        assert result is None


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self, members):
        super().__init__()
        with connection.cursor() as cursor:
            cursor.execute(TRUNCATE_SQL)
        self.members = members
        self.now = START
        self._clock = mock.patch("points.services.timezone.now", new=lambda: self.now)
        self._clock.start()
        self.lots: dict[int, MLot] = {}
        self.entries: dict[int, MEntry] = {}
        self.holds: dict[int, MHold] = {}
        self.state = [MMember() for _ in members]
        self.calls: list[Call] = []
        self.not_reversible = []
        self.serial = 0

    def teardown(self):
        self._clock.stop()

    # ------------------------------------------------------------------ model helpers

    def _key(self, op):
        self.serial += 1
        return f"{op}-{self.serial}"

    def _lots_of(self, m):
        return [lot for lot in self.lots.values() if lot.member == m]

    def _available(self, m):
        return sum(lot.remaining for lot in self._lots_of(m) if not lot.pending)

    def _pending(self, m):
        return sum(lot.remaining for lot in self._lots_of(m) if lot.pending)

    def _held(self, m):
        return sum(h.amount for h in self.holds.values() if h.member == m and h.status == "held")

    def _spendable(self, m):
        return sorted((lot for lot in self._lots_of(m) if not lot.pending and lot.remaining),
                      key=MLot.spend_order)

    @staticmethod
    def _take(lots, points):
        """Take up to ``points`` from ``lots`` in the given order; returns [(lot, taken)]."""
        taken = []
        for lot in lots:
            part = min(lot.remaining, points)
            if part:
                lot.remaining -= part
                points -= part
                taken.append((lot.id, part))
        return taken

    def _expired(self, lot):
        return lot.expires_at is not None and lot.expires_at <= self.now

    def _give_back(self, parts):
        """Return points to their lots; those whose lot has expired expire at once."""
        expired = 0
        for lot_id, points in parts:
            lot = self.lots[lot_id]
            if self._expired(lot):
                expired += points
            else:
                lot.remaining += points
        if expired:
            event("points given back to an expired lot expire at once")
        return expired

    def _record(self, op, args, kwargs, key, outcome):
        self.calls.append(Call(op, args, kwargs, key, outcome))

    def _refused(self, op, args, kwargs, key, error, before, redo):
        """A refusal changes no entry, lot, hold or allocation (a recorded one adds a refusal)."""
        after = _snapshot()
        if error is InsufficientPoints:
            assert after[0][:4] == before[0][:4] and after[1:] == before[1:]
            assert after[0][4] == before[0][4] + 1
            self._record(op, args, kwargs, key, ("refused",))
        else:
            assert after == before
            self._record(op, args, kwargs, key, ("error", error, redo))

    # ------------------------------------------------------------------ postings

    def _do_earn(self, m, points, available_at, expires_at, key):
        member = self.members[m]
        kwargs = {"reason": "test earning", "available_at": available_at, "expires_at": expires_at}
        entry, error = _call(services.earn, member, points, key=key, **kwargs)
        _check_outcome(None, entry, error)
        assert entry.kind == "earn" and entry.delta == points
        state = self.state[m]
        recovered = min(state.debt, points)
        if recovered:
            event("earning recovers debt")
        state.debt -= recovered
        state.earned += points
        lot_id = Lot.objects.get(entry_id=entry.pk).pk
        lot_available_at = available_at or self.now
        self.lots[lot_id] = MLot(
            id=lot_id, member=m, amount=points, remaining=points - recovered,
            pending=lot_available_at > self.now, available_at=lot_available_at,
            expires_at=(month_end_expiry(self.now, months=12) if expires_at is None
                        else None if expires_at == services.NEVER else expires_at),
        )
        self.entries[entry.pk] = MEntry(entry.pk, m, "earn", points, entry, lot=lot_id)
        self._record("earn", (member, points), kwargs, key, ("entry", entry.pk))

    def _do_spend(self, m, points, key):
        member = self.members[m]
        kwargs = {"reason": "test spending"}
        expected = InsufficientPoints if self._available(m) < points else None
        before = _snapshot() if expected else None
        entry, error = _call(services.spend, member, points, key=key, **kwargs)
        _check_outcome(expected, entry, error)
        if expected:
            self._refused("spend", (member, points), kwargs, key, expected, before, None)
            return
        assert entry.kind == "spend" and entry.delta == -points
        taken = self._take(self._spendable(m), points)
        self.state[m].spent += points
        self.entries[entry.pk] = MEntry(entry.pk, m, "spend", points, entry, taken=dict(taken))
        self._record("spend", (member, points), kwargs, key, ("entry", entry.pk))

    def _do_hold(self, m, points, ttl, key):
        member = self.members[m]
        kwargs = {"ttl": ttl}
        expected = InsufficientPoints if self._available(m) < points else None
        before = _snapshot() if expected else None
        hold, error = _call(services.hold, member, points, key=key, **kwargs)
        _check_outcome(expected, hold, error)
        if expected:
            self._refused("hold", (member, points), kwargs, key, expected, before, None)
            return
        assert hold.amount == points and hold.status == "held"
        reserved = self._take(self._spendable(m), points)
        self.holds[hold.pk] = MHold(hold.pk, m, points, hold, reserved, self.now + ttl)
        self._record("hold", (member, points), kwargs, key, ("hold", hold.pk))

    def _do_capture(self, hold_id, points, key):
        held = self.holds[hold_id]
        kwargs = {"points": points}
        captured = held.amount if points is None else points
        if held.status != "held":
            expected = HoldNotOpen
        elif captured > held.amount:
            expected = InvalidAmount
        else:
            expected = None
        before = _snapshot() if expected else None
        entry, error = _call(services.capture, held.obj, key=key, **kwargs)
        _check_outcome(expected, entry, error)
        if expected:
            self._refused("capture", (held.obj,), kwargs, key, expected, before,
                          lambda: self._do_capture(hold_id, points, key))
            return
        assert entry.kind == "capture" and entry.delta == -captured
        # Captured from the reserved lots in spending order; the rest goes back to its lots.
        take, give_back, left = {}, [], captured
        for lot_id, amount in sorted(held.reserved, key=lambda r: self.lots[r[0]].spend_order()):
            part = min(amount, left)
            left -= part
            if part:
                take[lot_id] = part
            if amount - part:
                give_back.append((lot_id, amount - part))
        if any(self._expired(self.lots[lot_id]) for lot_id in take):
            event("capture honours a lot that expired while held")
        if give_back:
            event("partial capture")
        state = self.state[held.member]
        state.expired += self._give_back(give_back)
        state.spent += captured
        held.status, held.captured = "captured", captured
        self.entries[entry.pk] = MEntry(entry.pk, held.member, "capture", captured, entry, taken=take)
        self._record("capture", (held.obj,), kwargs, key, ("entry", entry.pk))

    def _resolve(self, held, status):
        self.state[held.member].expired += self._give_back(held.reserved)
        held.status = status

    def _do_release(self, hold_id, key):
        held = self.holds[hold_id]
        expected = HoldNotOpen if held.status != "held" else None
        before = _snapshot() if expected else None
        entry, error = _call(services.release, held.obj, key=key)
        _check_outcome(expected, entry, error)
        if expected:
            self._refused("release", (held.obj,), {}, key, expected, before,
                          lambda: self._do_release(hold_id, key))
            return
        assert entry.kind == "release" and entry.delta == 0
        self.not_reversible.append(entry)
        self._resolve(held, "released")
        self._record("release", (held.obj,), {}, key, ("entry", entry.pk))

    def _do_reverse(self, entry_id, points, key):
        original = self.entries[entry_id]
        kwargs = {"points": points, "reason": "test reversal"}
        wanted = original.open if points is None else points
        expected = InvalidAmount if wanted <= 0 or wanted > original.open else None
        before = _snapshot() if expected else None
        entry, error = _call(services.reverse, original.obj, key=key, **kwargs)
        _check_outcome(expected, entry, error)
        if expected:
            self._refused("reverse", (original.obj,), kwargs, key, expected, before,
                          lambda: self._do_reverse(entry_id, points, key))
            return
        assert entry.kind == "reverse"
        state = self.state[original.member]
        original.reversed += wanted
        if original.kind == "earn":
            assert entry.delta == -wanted
            # The earning's own lot first, then available before pending, in spending order;
            # what no lot has becomes debt.
            others = sorted(
                (lot for lot in self._lots_of(original.member) if lot.id != original.lot),
                key=lambda lot: (lot.pending, lot.spend_order()),
            )
            own = self.lots[original.lot]
            own_remaining = own.remaining
            taken = sum(part for _lot, part in self._take([own, *others], wanted))
            if taken > own_remaining:
                event("reversed earning taken from other lots")
            if wanted > taken:
                event("reversed earning becomes debt")
            state.debt += wanted - taken
            state.earned -= wanted
        else:
            assert entry.delta == wanted
            # Back to the lots the debit came from, latest-expiring first.
            give_back, left = [], wanted
            for lot in sorted((self.lots[lot_id] for lot_id in original.taken), key=MLot.return_order):
                part = min(original.taken[lot.id] - original.returned.get(lot.id, 0), left)
                if part:
                    give_back.append((lot.id, part))
                    original.returned[lot.id] = original.returned.get(lot.id, 0) + part
                    left -= part
            assert left == 0
            state.expired += self._give_back(give_back)
            state.spent -= wanted
        self._record("reverse", (original.obj,), kwargs, key, ("entry", entry.pk))

    # ------------------------------------------------------------------ rules

    members_ = st.integers(0, 1)

    earnings = st.tuples(
        st.integers(1, 150),
        # hours until available: mostly at once; 0 is "available_at=now", which is not pending
        st.one_of(st.none(), st.none(), st.integers(0, 24 * 5)),
        # expiry: the default policy, never, or explicit within the next 20 days (mostly)
        st.one_of(st.none(), st.just(services.NEVER), st.integers(1, 24 * 20), st.integers(1, 24 * 20)),
    )

    def _earn(self, m, points, available_in, expiry):
        available_at = None if available_in is None else self.now + timedelta(hours=available_in)
        expires_at = self.now + timedelta(hours=expiry) if isinstance(expiry, int) else expiry
        self._do_earn(m, points, available_at, expires_at, self._key("earn"))

    @initialize(first=st.lists(earnings, max_size=3), second=st.lists(earnings, max_size=3))
    def opening_balances(self, first, second):
        # Rules are switched on and off per example; starting with points keeps the examples
        # that switch off ``earn`` from refusing every debit.
        for m, earnings in enumerate((first, second)):
            for earning in earnings:
                self._earn(m, *earning)

    @rule(m=members_, earning=earnings)
    def earn(self, m, earning):
        self._earn(m, *earning)

    def _debit(self, data):
        """A member with points (mostly) and an amount mostly within what is available (so debits
        happen), sometimes more (so they are refused)."""
        with_points = [m for m in range(len(self.members)) if self._available(m)]
        m = data.draw(st.sampled_from(with_points) if with_points else self.members_, label="member")
        available = self._available(m)
        points = data.draw(st.one_of(st.integers(1, max(1, available)), st.integers(1, max(1, available)),
                                     st.integers(1, available + 60)), label="points")
        return m, points

    @rule(data=st.data())
    def spend(self, data):
        m, points = self._debit(data)
        self._do_spend(m, points, self._key("spend"))

    @rule(data=st.data(), ttl_hours=st.integers(1, 24 * 5))
    def hold(self, data, ttl_hours):
        m, points = self._debit(data)
        self._do_hold(m, points, timedelta(hours=ttl_hours), self._key("hold"))

    def _pick_hold(self, data):
        # Mostly an open hold; sometimes any (a resolved one is refused with HoldNotOpen).
        open_ids = sorted(h.id for h in self.holds.values() if h.status == "held")
        choices = st.one_of(st.sampled_from(open_ids), st.sampled_from(open_ids),
                            st.sampled_from(sorted(self.holds)))
        return data.draw(choices, label="hold")

    def _open_holds(self):
        return any(h.status == "held" for h in self.holds.values())

    @precondition(_open_holds)
    @rule(data=st.data())
    def capture(self, data):
        hold_id = self._pick_hold(data)
        amount = self.holds[hold_id].amount
        points = data.draw(st.one_of(st.none(), st.integers(1, amount), st.integers(1, amount),
                                     st.integers(amount + 1, amount + 5)), label="points")
        self._do_capture(hold_id, points, self._key("capture"))

    @precondition(_open_holds)
    @rule(data=st.data())
    def release(self, data):
        self._do_release(self._pick_hold(data), self._key("release"))

    @precondition(lambda self: any(e.open for e in self.entries.values()))
    @rule(data=st.data())
    def reverse(self, data):
        if self.not_reversible and data.draw(st.integers(0, 9), label="release entry?") == 0:
            # A release entry is no earning or spending: NotReversible, and nothing changes.
            entry = data.draw(st.sampled_from(self.not_reversible), label="entry")
            before = _snapshot()
            result, error = _call(services.reverse, entry, key=self._key("reverse"), reason="test")
            _check_outcome(NotReversible, result, error)
            assert _snapshot() == before
            return
        # Mostly an entry with points left to reverse; sometimes any (over-reversal is refused).
        open_ids = sorted(e.id for e in self.entries.values() if e.open)
        choices = [st.sampled_from(open_ids), st.sampled_from(open_ids),
                   st.sampled_from(sorted(self.entries))]
        # Earnings whose own lot cannot cover them: the reversal takes from other lots too.
        spent_earnings = [e.id for e in self.entries.values()
                          if e.kind == "earn" and self.lots[e.lot].remaining < e.open]
        if spent_earnings:
            choices.append(st.sampled_from(spent_earnings))
        original = self.entries[data.draw(st.one_of(choices), label="entry")]
        points = data.draw(st.one_of(st.none(), st.integers(1, max(1, original.open)),
                                     st.integers(1, original.points + 3)), label="points")
        self._do_reverse(original.id, points, self._key("reverse"))

    @rule(hours=st.one_of(st.integers(0, 48), st.integers(1, 10).map(lambda days: 24 * days),
                          st.integers(11, 45).map(lambda days: 24 * days), st.just(24 * 370)))
    def time_passes(self, hours):
        self.now += timedelta(hours=hours)

    @rule(job=st.sampled_from(["activate_due", "expire_due", "release_stale_holds"]))
    def run_job(self, job):
        """A scheduled job at the machine's clock; its return value is checked too."""
        expected = 0
        if job == "activate_due":
            for lot in self.lots.values():
                if lot.pending and lot.available_at <= self.now:
                    lot.pending = False
                    expected += lot.remaining
        elif job == "expire_due":
            for lot in self.lots.values():
                if lot.remaining and self._expired(lot):
                    self.state[lot.member].expired += lot.remaining
                    expected += lot.remaining
                    lot.remaining = 0
        else:
            for held in self.holds.values():
                if held.status == "held" and held.deadline <= self.now:
                    self._resolve(held, "expired")
                    expected += 1
        if expected:
            event(f"{job} does something")
        assert getattr(services, job)(now=self.now) == expected

    @precondition(lambda self: self.calls)
    @rule(data=st.data(), conflicting=st.booleans())
    def duplicate(self, data, conflicting):
        """Repeat a call with its key and arguments: its first outcome, and nothing changes.

        With ``conflicting``, repeat it with other arguments: an IdempotencyConflict, and nothing
        changes.
        """
        # Earnings are most of the calls: pick the operation first so that others get repeated too.
        op = data.draw(st.sampled_from(sorted({c.op for c in self.calls})), label="operation")
        call = data.draw(st.sampled_from([c for c in self.calls if c.op == op]), label="call")
        if conflicting and call.outcome[0] != "error" and call.op != "release":
            event(f"conflicting {call.op} ({call.outcome[0]})")
            args, kwargs = call.args, dict(call.kwargs)
            if call.op in ("earn", "spend", "hold"):
                args = (args[0], args[1] + 1)
            else:  # capture, reverse
                kwargs["points"] = 1 if kwargs["points"] is None else kwargs["points"] + 1
            before = _snapshot()
            result, error = _call(getattr(services, call.op), *args, key=call.key, **kwargs)
            assert type(error) is IdempotencyConflict, f"expected a conflict, got {result or error!r}"
            assert _snapshot() == before
            return
        event(f"duplicate {call.op} ({call.outcome[0]})")
        if call.outcome[0] == "error":
            # Nothing was recorded under the key, so this is a fresh call, refused again.
            call.outcome[2]()
            return
        before = _snapshot()
        result, error = _call(getattr(services, call.op), *call.args, key=call.key, **call.kwargs)
        if call.outcome[0] == "refused":
            assert type(error) is InsufficientPoints, f"replay of a refusal gave {error!r}"
        else:
            assert error is None, f"replay gave {error!r}"
            assert result.pk == call.outcome[1]
        assert _snapshot() == before

    # ------------------------------------------------------------------ invariants

    @invariant()
    def ledger_matches_the_model(self):
        with connection.cursor() as cursor:
            cursor.execute(INVARIANT_SQL)
            assert cursor.fetchall() == []
            cursor.execute(BALANCE_AFTER_SQL)
            assert cursor.fetchall() == []
            cursor.execute(ACCOUNTS_SQL)
            accounts = {row[0]: row[1:] for row in cursor.fetchall()}
            cursor.execute("SELECT id, remaining, pending FROM points_lot")
            lots = {row[0]: row[1:] for row in cursor.fetchall()}
            cursor.execute("SELECT id, status, captured FROM points_hold")
            holds = {row[0]: row[1:] for row in cursor.fetchall()}
        for m, member in enumerate(self.members):
            state = self.state[m]
            totals = accounts.get(member.pk, (0,) * 7)
            assert min(totals) >= 0, totals
            assert totals == (
                self._available(m), self._pending(m), self._held(m), state.debt,
                state.earned, state.spent, state.expired,
            ), f"member {m}: (available, pending, held, debt, earned, spent, expired)"
        assert lots == {lot.id: (lot.remaining, lot.pending) for lot in self.lots.values()}
        assert holds == {h.id: (h.status, h.captured) for h in self.holds.values()}


@pytest.mark.django_db(transaction=True)
def test_ledger_state_machine():
    from tests.factories import MemberFactory

    members = [MemberFactory(), MemberFactory()]
    with connection.cursor() as cursor:
        # Every posting commits; waiting for each WAL flush would be much of the run time. This
        # session setting only gives up crash durability, which a test database does not need.
        cursor.execute("SET synchronous_commit TO off")
    run_state_machine_as_test(lambda: LedgerMachine(members), settings=MACHINE_SETTINGS)

