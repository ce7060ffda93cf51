"""Points as a cash deduction in the shop's checkout (DESIGN.md §3.3, issue 4 §3): the services.

The shop's order system reaches these through four signed endpoints (``mall.checkout_api``, which
also owns the signature, the ``Idempotency-Key`` header, the exactly-once replay and the HTTP
shapes). Here is what they do, in domain terms:

* ``quote``: how many points an order may be paid with under the member's redemption policy
  (``rules.selectors.rulebook_for``). ``max_points`` is capped by the member's available balance
  as well as by the policy, so it is the most a hold for this order could take right now; 0 when
  that is below the policy's minimum. Writes nothing.
* ``place_hold``: reserve the points for 30 minutes (``points.services.hold``) and record the
  reservation as a ``CheckoutHold`` with the rate it was quoted at, in one transaction.
* ``capture_hold`` (payment done): spend the hold, or fewer points than held with the rest
  released to their lots.
* ``release_hold`` (order cancelled): give all of it back.

Refusals are domain errors: ``catalog.errors`` (``BelowMinimum``, ``OverLimit``, ``HoldNotFound``,
``HoldExpired``, ``InvalidField`` for more points than held) and ``points.errors``
(``InsufficientPoints``, ``HoldNotOpen``, ``IdempotencyConflict``). Only ``InsufficientPoints`` is
written (the ledger records the refusal under the hold's key and replays it, DESIGN.md §3.1);
every other refusal is raised before anything is written.

Exactly once. Every posting has a ledger key of its own: ``hold_key(Idempotency-Key)`` for a
hold, ``capture_key(hold id)`` and ``release_key(hold id)`` for its resolution; the API uses the
same strings as the ids of its stored outcomes. ``place_hold`` is replay-safe on its own: the
same key returns the same hold and its one ``CheckoutHold`` (priced at the stored rate).

A checkout hold is one with a ``CheckoutHold`` row. Any other hold (an auction bid's) is
``HoldNotFound`` here, as is an id no hold can have.

Deadlines. A hold is promised for 30 minutes: from its ``expires_at`` on, a capture is refused
with ``HoldExpired`` whether or not the ``release_stale_holds`` job has run yet (until it runs
the hold stays reserved and nothing is written). A release after the deadline is still
accepted: before the job it releases the hold, after the job it returns the hold as it is, with
status ``expired`` (the points are back either way, which is all a cancelled order needs).

Money. ``rate`` is points per yuan; a deduction is the points' worth rounded down to the fen. A
capture is valued at the rate the hold was quoted at (``CheckoutHold.points_per_yuan``), so a
rule change during the 30 minutes does not change what the shop already charged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.errors import BelowMinimum, HoldExpired, HoldNotFound, InvalidField, OverLimit
from catalog.models import CheckoutHold
from points import services as ledger
from points.errors import HoldNotOpen, InsufficientPoints
from points.models import Account, Hold, HoldStatus
from rules.evaluator import max_deduction
from rules.selectors import rulebook_for

HOLD_TTL = timedelta(minutes=30)  # what the shop promises its customer
MAX_ID = 2**63 - 1  # bigint: a larger id is unknown, not a database error


def hold_key(idempotency_key: str) -> str:
    """The ledger key of the hold placed under the shop's ``Idempotency-Key``."""
    return f"checkout-hold:{idempotency_key}"


def capture_key(hold_id: int) -> str:
    return f"checkout-capture:{hold_id}"


def release_key(hold_id: int) -> str:
    return f"checkout-release:{hold_id}"


def worth(points: int, points_per_yuan: int) -> Decimal:
    """What ``points`` pay in yuan, rounded down to the fen (never more than they are worth)."""
    return (Decimal(points) / points_per_yuan).quantize(Decimal("0.01"), rounding=ROUND_FLOOR)


# --------------------------------------------------------------------------- quote


@dataclass(frozen=True)
class Quote:
    max_points: int
    max_deduction: Decimal
    rate: int
    min_points: int
    available: int


def quote(member, *, order_amount: Decimal) -> Quote:
    """The most points ``member`` can pay an order of ``order_amount`` with, right now.

    The member's redemption policy caps them (at most ``redemption_max_percent`` of the amount),
    so does the available balance; below the policy's minimum the answer is 0. Writes nothing.
    """
    book = rulebook_for(member)
    policy_points, _worth = max_deduction(book, order_amount)
    available = (Account.objects.filter(member_id=member.pk)
                 .values_list("available", flat=True).first()) or 0
    points = min(policy_points, available)
    if points < book.redemption_min_points:
        points = 0
    rate = book.redemption_points_per_yuan
    return Quote(max_points=points, max_deduction=worth(points, rate), rate=rate,
                 min_points=book.redemption_min_points, available=available)


# --------------------------------------------------------------------------- hold


@dataclass(frozen=True)
class PlacedHold:
    hold_id: int
    points: int
    deduction: Decimal
    rate: int
    expires_at: datetime


def place_hold(member, *, order_id: str, points: int, order_amount: Decimal, key: str) -> PlacedHold:
    """Reserve ``points`` of ``member`` for 30 minutes against ``order_id``, under ledger ``key``.

    Refused, with nothing written, when ``points`` is below the policy's minimum (``BelowMinimum``)
    or more than an order of ``order_amount`` may be paid with (``OverLimit``). Then
    ``points.services.hold`` and its ``CheckoutHold`` (the rate quoted now) in one transaction.
    Raises ``InsufficientPoints`` (recorded under ``key``, and raised again for the same key),
    ``IdempotencyConflict``. The same ``key`` again returns the same hold at its stored rate.
    """
    book = rulebook_for(member)
    if points < book.redemption_min_points:
        raise BelowMinimum(_("At least %(min)s points must be used, not %(points)s.")
                           % {"min": book.redemption_min_points, "points": points})
    limit, _limit_worth = max_deduction(book, order_amount)
    if points > limit:
        raise OverLimit(_("An order of %(amount)s may be paid with at most %(limit)s points, "
                          "not %(points)s.") % {"amount": order_amount, "limit": limit, "points": points})
    refusal = None
    with transaction.atomic():
        try:
            hold = ledger.hold(member, points, key=key, reference=order_id, ttl=HOLD_TTL)
        except InsufficientPoints as exc:
            # The ledger recorded this refusal under the key: it must commit, so it is caught
            # inside the block (an exception leaving it would roll the record back) and raised
            # after it.
            refusal = exc
        else:
            # get_or_create: a replayed ledger hold already has its row, with the first rate.
            record, _created = CheckoutHold.objects.get_or_create(hold=hold, defaults={
                "member": member, "order_id": order_id, "order_amount": order_amount,
                "points_per_yuan": book.redemption_points_per_yuan, "created_at": hold.created_at,
            })
    if refusal is not None:
        raise refusal
    rate = record.points_per_yuan
    return PlacedHold(hold_id=hold.pk, points=hold.amount, deduction=worth(hold.amount, rate),
                      rate=rate, expires_at=hold.expires_at)


# --------------------------------------------------------------------------- capture, release


@dataclass(frozen=True)
class ResolvedHold:
    hold_id: int
    status: str
    points: int  # captured
    deduction: Decimal
    released: int


def known_id(hold_id: int) -> None:
    """Refuse (``HoldNotFound``) an id no hold can have before it reaches the database."""
    if not 0 < hold_id <= MAX_ID:
        raise HoldNotFound()


def checkout_hold(hold_id: int) -> CheckoutHold:
    """The checkout's record of hold ``hold_id``, its hold joined; ``HoldNotFound`` for any other
    hold (unknown, or reserved by something else such as an auction bid)."""
    known_id(hold_id)
    record = CheckoutHold.objects.select_related("hold").filter(hold_id=hold_id).first()
    if record is None:
        raise HoldNotFound()
    return record


def _refuse_if_expired(hold: Hold) -> None:
    if hold.status == HoldStatus.EXPIRED or (
        hold.status == HoldStatus.HELD and timezone.now() >= hold.expires_at
    ):
        raise HoldExpired(_("The reservation of hold %(id)s ran out at %(deadline)s.")
                          % {"id": hold.pk, "deadline": timezone.localtime(hold.expires_at).isoformat()})


def capture_hold(hold_id: int, *, points: int | None = None) -> ResolvedHold:
    """Spend the hold (payment done): all of it, or ``points`` with the rest released to its lots,
    valued at the rate the hold was placed at.

    Raises ``HoldNotFound``; ``HoldExpired`` from its deadline on (job run or not);
    ``InvalidField`` (``points``) for more points than held; ``HoldNotOpen`` once released or
    captured under another key. Nothing is written on a refusal.
    """
    record = checkout_hold(hold_id)
    hold = record.hold
    _refuse_if_expired(hold)
    if points is not None and points > hold.amount:
        raise InvalidField(_("The hold has %(held)s points; %(points)s cannot be captured.")
                           % {"held": hold.amount, "points": points}, field="points")
    try:
        ledger.capture(hold, key=capture_key(hold.pk), points=points)
    except HoldNotOpen:
        hold.refresh_from_db()
        _refuse_if_expired(hold)  # the job released it just now
        raise
    hold.refresh_from_db()
    return ResolvedHold(hold_id=hold.pk, status=hold.status, points=hold.captured,
                        deduction=worth(hold.captured, record.points_per_yuan),
                        released=hold.amount - hold.captured)


def release_hold(hold_id: int) -> ResolvedHold:
    """Give the whole hold back to its lots (order cancelled).

    A hold the timeout job already released is returned as it is (status ``expired``). Raises
    ``HoldNotFound``, ``HoldNotOpen`` once captured.
    """
    hold = checkout_hold(hold_id).hold
    if hold.status != HoldStatus.EXPIRED:
        try:
            ledger.release(hold, key=release_key(hold.pk))
        except HoldNotOpen:
            hold.refresh_from_db()
            if hold.status != HoldStatus.EXPIRED:
                raise
        hold.refresh_from_db()
    return ResolvedHold(hold_id=hold.pk, status=hold.status, points=0, deduction=Decimal("0.00"),
                        released=hold.amount)
