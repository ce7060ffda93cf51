"""Earning flows: paid orders, refunds, behaviours and daily check-ins.

Each flow asks ``rules`` for a decision (the rule book that applies to the member, gray release
included), stores what happened (order, refund, behaviour record, check-in) and posts the points
through ``points.services`` in the same transaction, so a failure leaves nothing behind.

Language. Reasons and explanations are stored once, in the site's default language
(``settings.LANGUAGE_CODE``), whatever language the caller's request is in.

Locks. A flow that counts what a member already earned (behaviours, check-ins) locks the member
row first, then the ledger locks the account: always member -> account. The member row is locked
``FOR NO KEY UPDATE``, which does not block inserts that merely reference the member (orders).
A refund locks its order row, then the account. Nothing locks an account before a member or an
order, so these never wait on each other in a cycle.

Transactions. These functions open ``transaction.atomic()`` (not durable): the signed hooks call
them inside the transaction that also stores the hook event, and the whole delivery commits or
rolls back as one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_noop, override

from common import events
from common.text import Text, clip, stored_text
from points import services
from points.errors import IdempotencyConflict, InvalidArgument, OrderNotFound
from points.models import BehaviourRecord, CheckIn, Entry, Lot, Order, OrderLine, Refund
from points.policy import default_expires_at
from points.services.lock_objects import lock_member
from rules import evaluator
from rules.selectors import member_context, rulebook_for

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser

CENT = Decimal("0.01")
MAX_MONEY = Decimal("9999999999.99")  # what Order.amount (12 digits, 2 places) can hold
MAX_ORDER_ID = 64  # Order.external_id
# A refund's or a behaviour's key: the ledger's key adds at most 10 characters ("behaviour:").
MAX_KEY = 170


# --------------------------------------------------------------------------- helpers


def _money(name: str, value, *, positive: bool = False) -> Decimal:
    """A CNY amount with at most 2 decimal places; floats are refused (they are not exact)."""
    if isinstance(value, bool) or isinstance(value, float):
        raise InvalidArgument(f"{name} must be a Decimal or a string, not {value!r}.")
    try:
        amount = Decimal(str(value)) if isinstance(value, str | int) else value
        if not isinstance(amount, Decimal) or not amount.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        raise InvalidArgument(f"{name} must be an amount of money, not {value!r}.") from None
    if amount != amount.quantize(CENT) or amount < 0 or amount > MAX_MONEY or (positive and amount == 0):
        raise InvalidArgument(
            f"{name} must be {'a positive' if positive else 'a non-negative'} amount with at "
            f"most 2 decimal places, not {value!r}."
        )
    return amount.quantize(CENT)


def _aware(name: str, value) -> datetime:
    if not (isinstance(value, datetime) and timezone.is_aware(value)):
        raise InvalidArgument(f"{name} must be a timezone-aware datetime.")
    return value


def _order_lines(lines) -> tuple[evaluator.OrderLine, ...]:
    """Lines as the evaluator's immutable rows; each line's ``amount`` is the line total."""
    if isinstance(lines, str | bytes | Mapping) or not isinstance(lines, Iterable):
        raise InvalidArgument("lines must be a list of lines.")
    result = []
    for index, line in enumerate(lines):
        if isinstance(line, evaluator.OrderLine):
            line = {"sku": line.sku, "amount": line.amount, "categories": line.categories,
                    "quantity": line.quantity}
        if not isinstance(line, Mapping):
            raise InvalidArgument(f"lines[{index}] must be a mapping.")
        sku = line.get("sku")
        categories = tuple(line.get("categories") or ())
        quantity = line.get("quantity", 1)
        if not isinstance(sku, str) or not sku or len(sku) > 64:
            raise InvalidArgument(f"lines[{index}].sku must be a string of 1 to 64 characters.")
        if not all(isinstance(c, str) and 0 < len(c) <= 32 for c in categories):
            raise InvalidArgument(f"lines[{index}].categories must be strings of 1 to 32 characters.")
        if type(quantity) is not int or quantity < 1:
            raise InvalidArgument(f"lines[{index}].quantity must be a positive integer.")
        result.append(evaluator.OrderLine(
            sku=sku, amount=_money(f"lines[{index}].amount", line.get("amount")),
            categories=categories, quantity=quantity,
        ))
    return tuple(result)


def _expiry(book: evaluator.RuleBook, now: datetime):
    """When points earned now expire under the book that decided them (0 months: never)."""
    return default_expires_at(now, book) or services.NEVER


def _in_default_language(func, *args, **kwargs):
    with override(settings.LANGUAGE_CODE):
        return func(*args, **kwargs)


# --------------------------------------------------------------------------- paid orders


@dataclass(frozen=True)
class OrderEarning:
    """What a paid order earned. ``status`` is ``pending`` (cooling off until ``available_at``),
    ``available`` (the order was reported after its cooling-off ended) or ``none`` (0 points)."""

    order: Order
    entry: Entry | None
    points: int
    status: str
    available_at: datetime | None
    explanation: dict
    replayed: bool = False  # the order was already received: nothing was written this time
    # The rule book that decided a new order (None on a replay): what a caller that posts more
    # for the same order (referral rewards) uses for its refund window and rate.
    rulebook: evaluator.RuleBook | None = None


def record_paid_order(member: AbstractUser, *, order_id: str, amount: Decimal | str | int,
                      lines: Iterable[Mapping[str, Any] | evaluator.OrderLine], paid_at: datetime,
                      now: datetime | None = None) -> OrderEarning:
    """Store a paid order with its lines and credit the points it earns under the member's rules.

    The points stay pending until ``paid_at`` + the rule book's cooling-off days (the refund
    window) and expire at the end of the month ``expiry_months`` after ``now``. The order keeps
    the member's tier at payment and links the entry it produced; an order worth 0 points is
    stored without an entry. A line's ``amount`` is the line total after discounts; the lines may
    add up to less than ``amount`` (shipping, fees), never to more.

    Idempotent per ``order_id``: the same order again with the same member, amount, paid time and
    lines returns the first result (even after the rules changed) and posts nothing; with other
    content it raises ``IdempotencyConflict``. Also raises ``InvalidArgument`` for a malformed
    amount, line or time.
    """
    order_id = _check_order_id(order_id)
    amount = _money("amount", amount)
    order_lines = _order_lines(lines)
    if sum(line.amount for line in order_lines) > amount:
        # Lines may fall short of the order (shipping, fees), never exceed what was paid.
        raise InvalidArgument("The lines add up to more than the order amount.")
    _aware("paid_at", paid_at)
    now = now or timezone.now()
    content = _order_content(member.pk, amount, paid_at, order_lines)

    # No savepoint of its own: a caller's transaction (the order hook's, with the referral rewards)
    # rolls back as a whole, and a conflict is raised only once the block is left.
    with transaction.atomic(savepoint=False):
        outcome = _store_paid_order(member, order_id, amount, order_lines, paid_at, now, content)
    if isinstance(outcome, IdempotencyConflict):
        raise outcome
    return outcome


def _store_paid_order(member, order_id, amount, order_lines, paid_at, now,
                      content) -> OrderEarning | IdempotencyConflict:
    existing = Order.objects.select_for_update().filter(external_id=order_id).first()
    if existing is not None:
        return _replay_or_conflict(existing, content)
    try:
        with transaction.atomic():
            order = Order.objects.create(
                external_id=order_id, member=member, tier=member.tier, amount=amount,
                paid_at=paid_at, created_at=now,
            )
    except IntegrityError:
        # A concurrent delivery of the same order committed first (we waited on the unique
        # index): answer as it did.
        existing = Order.objects.select_for_update().filter(external_id=order_id).first()
        if existing is None:
            raise
        return _replay_or_conflict(existing, content)
    OrderLine.objects.bulk_create(
        OrderLine(order=order, sku=line.sku, categories=list(line.categories),
                  amount=line.amount, quantity=line.quantity)
        for line in order_lines
    )
    events.announce("order", member.pk, at=paid_at)
    book = rulebook_for(member)
    decision, reason = _in_default_language(
        lambda: (
            evaluator.evaluate_order(book, member_context(member),
                                     evaluator.Order(amount=amount, lines=order_lines)),
            Text.of(gettext_noop("Points for order %(order_id)s"), order_id=order_id),
        )
    )
    explanation = decision.as_json()
    if decision.points <= 0:
        return OrderEarning(order, None, 0, "none", None, explanation, rulebook=book)
    available_at = paid_at + timedelta(days=book.pending_days)
    entry = services.earn(
        member, decision.points, key=f"order:{order_id}", reason=clip(reason, 255),
        reference=order_id, available_at=available_at, expires_at=_expiry(book, now),
        rule_version=str(book.version), explanation=explanation,
    )
    order.entry = entry
    order.save(update_fields=["entry"])
    return OrderEarning(order, entry, entry.delta, _status(available_at, now), available_at,
                        explanation, rulebook=book)


def _check_order_id(order_id) -> str:
    return services.validate_key(order_id, name="order_id", max_length=MAX_ORDER_ID)


def _status(available_at: datetime, received_at: datetime) -> str:
    return "pending" if available_at > received_at else "available"


def _order_content(member_id, amount, paid_at, lines) -> tuple:
    return (member_id, amount, paid_at,
            tuple((line.sku, tuple(line.categories), line.amount, line.quantity) for line in lines))


def _replay_or_conflict(order: Order, content: tuple) -> OrderEarning | IdempotencyConflict:
    try:
        return _replay_order(order, content)
    except IdempotencyConflict as exc:
        return exc


def _replay_order(order: Order, content: tuple) -> OrderEarning:
    stored_lines = tuple(
        evaluator.OrderLine(sku=line.sku, amount=line.amount, categories=tuple(line.categories),
                            quantity=line.quantity)
        for line in order.lines.order_by("id")
    )
    if _order_content(order.member_id, order.amount, order.paid_at, stored_lines) != content:
        raise IdempotencyConflict(f"Order {order.external_id} was already received with other content.")
    entry = order.entry
    if entry is None:
        # 0 points: nothing was posted, so there is no stored explanation to return.
        return OrderEarning(order, None, 0, "none", None, {"version": None, "points": 0, "lines": []},
                            replayed=True)
    available_at = Lot.objects.filter(entry=entry).values_list("available_at", flat=True).first()
    return OrderEarning(order, entry, entry.delta, _status(available_at, order.created_at),
                        available_at, entry.explanation, replayed=True)


# --------------------------------------------------------------------------- refunds


@dataclass(frozen=True)
class RefundResult:
    """``points_reversed`` by this refund; ``reversed_total`` by all refunds of the order."""

    order: Order
    refund: Refund
    points_reversed: int
    reversed_total: int
    refunded_amount: Decimal


def record_refund(*, order_id: str, refund_amount: Decimal | str | int, key: str) -> RefundResult:
    """Record a refund of a paid order and reverse its points in proportion.

    Refunds add up: after them the order's points reversed in total are
    ``floor(earned × refunded / amount)`` (all of them once the order is fully refunded), so a
    series of partial refunds never reverses more than the order earned. Points the member has
    already spent are not refused: the ledger turns what it cannot take back into ``debt``.

    A refund beyond the order amount is *clamped*: the order counts as fully refunded and all its
    points are reversed. The shop reports a refund that already happened (the money is gone; it
    may include shipping or fees the order amount left out), so refusing it would only leave
    points standing for money that was returned.

    Idempotent per ``key``: the same key with the same order and amount returns the first result;
    with another order or amount it raises ``IdempotencyConflict``. Raises ``OrderNotFound``
    and ``InvalidArgument``.
    """
    order_id = _check_order_id(order_id)
    refund_amount = _money("refund_amount", refund_amount, positive=True)
    services.validate_key(key, max_length=MAX_KEY)

    with transaction.atomic():
        order = (Order.objects.select_for_update(of=("self",)).select_related("entry")
                 .filter(external_id=order_id).first())
        if order is None:
            raise OrderNotFound(f"No paid order {order_id} has been received.")
        existing = Refund.objects.filter(key=key).first()
        if existing is not None:
            if existing.order_id != order.pk or existing.amount != refund_amount:
                raise IdempotencyConflict(f"Refund {key!r} was already received with other content.")
            return RefundResult(order, existing, existing.points_reversed, _reversed_so_far(order),
                                order.refunded_amount)

        refunded = min(order.refunded_amount + refund_amount, order.amount)
        applied = refunded - order.refunded_amount
        entry, points = None, 0
        if order.entry is not None:
            earned = order.entry.delta
            target = earned if refunded >= order.amount else _share(earned, refunded, order.amount)
            points = target - _reversed_so_far(order)
            if points > 0:
                reason = stored_text(gettext_noop("Refund of order %(order_id)s"), order_id=order_id)
                entry = services.reverse(order.entry, points, key=f"refund:{key}",
                                         reason=clip(reason, 255))
            else:
                points = 0
        order.refunded_amount = refunded
        order.save(update_fields=["refunded_amount"])
        refund = Refund.objects.create(order=order, key=key, amount=refund_amount,
                                       applied_amount=applied, points_reversed=points, entry=entry)
        return RefundResult(order, refund, points, _reversed_so_far(order), refunded)


def _share(earned: int, refunded: Decimal, amount: Decimal) -> int:
    # Exact integer arithmetic in cents: floor(earned × refunded / amount).
    return earned * int(refunded * 100) // int(amount * 100)


def _reversed_so_far(order: Order) -> int:
    if order.entry_id is None:
        return 0
    total = Entry.objects.filter(reverses_id=order.entry_id).aggregate(total=Sum("delta"))["total"]
    return -(total or 0)


# --------------------------------------------------------------------------- behaviours


def record_behaviour(member: AbstractUser, *, action: str, occurred_at: datetime, photo: bool = False,
                     key: str) -> tuple[int, str]:
    """Credit the points of one behaviour (review, share, register...) and return
    ``(points, reason)``.

    Limits count this member's earlier records: the action's earning events on the local day
    (Asia/Shanghai) of ``occurred_at`` and ever, and all behaviour points of that day for the
    daily cap. An event over a limit earns 0, or the part up to the cap, and the reason says so;
    it is recorded either way. Points are available at once and expire by the rule book. The
    member row is locked first, so concurrent events cannot both pass a limit.

    Idempotent per ``key``: the same key with the same member, action, time and photo returns the
    first ``(points, reason)``; with other content it raises ``IdempotencyConflict``. Raises
    ``rules.evaluator.UnknownAction`` (nothing written) and ``InvalidArgument``.
    """
    if not isinstance(action, str) or not action or len(action) > 32:
        raise InvalidArgument("action must be a string of 1 to 32 characters.")
    _aware("occurred_at", occurred_at)
    services.validate_key(key, max_length=MAX_KEY)
    photo = bool(photo)
    day = timezone.localdate(occurred_at)

    with transaction.atomic():
        lock_member(member.pk)
        existing = BehaviourRecord.objects.filter(key=key).first()
        if existing is not None:
            if (existing.member_id, existing.action, existing.occurred_at, existing.photo) != (
                member.pk, action, occurred_at, photo
            ):
                raise IdempotencyConflict(f"Behaviour {key!r} was already received with other content.")
            return existing.points, existing.reason
        today = BehaviourRecord.objects.filter(member_id=member.pk, day=day).aggregate(
            count=Count("id", filter=Q(action=action, points__gt=0)),
            points=Sum("points"),
        )
        counters = evaluator.BehaviourCounters(
            today_count=today["count"],
            lifetime_count=BehaviourRecord.objects.filter(
                member_id=member.pk, action=action, points__gt=0
            ).count(),
            today_points=today["points"] or 0,
        )
        book = rulebook_for(member)
        decision = _in_default_language(
            evaluator.evaluate_behaviour, book, member_context(member), action, counters, photo=photo
        )
        reason = clip(decision.reason, 255)
        entry = None
        if decision.points > 0:
            now = timezone.now()
            entry = services.earn(
                member, decision.points, key=f"behaviour:{key}", reason=reason, reference=action,
                expires_at=_expiry(book, now), rule_version=str(book.version),
                explanation=decision.as_json(),
            )
        BehaviourRecord.objects.create(
            member_id=member.pk, key=key, action=action, day=day, occurred_at=occurred_at,
            photo=photo, points=decision.points, reason=reason, entry=entry,
        )
        events.announce("behaviour", member.pk, at=occurred_at, action=action)
    return decision.points, reason


def earn_behaviour_bonus(member: AbstractUser, points: int, *, key: str, action: str, reason: str,
                         now: datetime | None = None) -> BehaviourRecord:
    """Credit a bonus for behaviours (a daily task's reward for sharing, say) within the rule
    book's daily behaviour cap, and return its record: ``points`` is what was credited (0 when
    the cap was reached, and then ``entry`` is empty).

    The bonus is recorded as a ``BehaviourRecord`` of ``action`` on the local day of ``now``: it
    counts against the day's cap like any behaviour's points, and later behaviours of the day
    count it. The member row is locked first, as for ``record_behaviour``. Idempotent per ``key``
    (the same key returns the first result, whatever the arguments).
    """
    if not isinstance(points, int) or isinstance(points, bool) or points <= 0:
        raise InvalidArgument("points must be a positive integer.")
    if not isinstance(action, str) or not action or len(action) > 32:
        raise InvalidArgument("action must be a string of 1 to 32 characters.")
    services.validate_key(key, max_length=MAX_KEY)
    now = now or timezone.now()
    _aware("now", now)
    day = timezone.localdate(now)
    with transaction.atomic():
        lock_member(member.pk)
        existing = BehaviourRecord.objects.filter(key=key).first()
        if existing is not None:
            return existing
        book = rulebook_for(member)
        granted = points
        if book.daily_behaviour_cap is not None:
            today = BehaviourRecord.objects.filter(member_id=member.pk, day=day).aggregate(
                points=Sum("points"))["points"] or 0
            granted = min(points, max(book.daily_behaviour_cap - today, 0))
        reason = clip(reason, 255)
        entry = services.earn(
            member, granted, key=f"behaviour:{key}", reason=reason, reference=action,
            expires_at=_expiry(book, now), rule_version=str(book.version),
        ) if granted else None
        return BehaviourRecord.objects.create(
            member_id=member.pk, key=key, action=action, day=day, occurred_at=now, points=granted,
            reason=reason, entry=entry, created_at=now,
        )


# --------------------------------------------------------------------------- check-in


@dataclass(frozen=True)
class CheckInResult:
    points: int
    streak: int
    day: date
    already_checked_in: bool


def check_in(member: AbstractUser, *, now: datetime | None = None) -> CheckInResult:
    """Check the member in for the local calendar day (Asia/Shanghai) of ``now``.

    Day N of a streak (consecutive days) earns the rule book's check-in points for day N, the
    last step repeating; a missed day restarts the streak at day 1. A second check-in the same
    day posts nothing and returns that day's check-in with ``already_checked_in`` set. The member
    row is locked first and (member, day) is unique, so concurrent calls check in once. Points
    are available at once and expire by the rule book.
    """
    now = now or timezone.now()
    _aware("now", now)
    day = timezone.localdate(now)
    with transaction.atomic():
        lock_member(member.pk)
        existing = CheckIn.objects.filter(member_id=member.pk, day=day).first()
        if existing is not None:
            return CheckInResult(existing.points, existing.streak, day, True)
        previous = CheckIn.objects.filter(member_id=member.pk, day=day - timedelta(days=1)).first()
        streak = previous.streak + 1 if previous is not None else 1
        book = rulebook_for(member)
        decision = _in_default_language(evaluator.evaluate_check_in, book, streak)
        entry = None
        if decision.points > 0:
            entry = services.earn(
                member, decision.points, key=f"check-in:{member.pk}:{day.isoformat()}",
                reason=clip(decision.reason, 255), reference="check-in", expires_at=_expiry(book, now),
                rule_version=str(book.version), explanation=decision.as_json(),
            )
        CheckIn.objects.create(member_id=member.pk, day=day, streak=streak, points=decision.points,
                               entry=entry, created_at=now)
        events.announce("check_in", member.pk, at=now, day=day, streak=streak)
    return CheckInResult(decision.points, streak, day, False)
