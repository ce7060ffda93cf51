"""Lottery draws: ``draw`` (the lock order is in ``catalog.services``' docstring).

One draw, in one transaction: lock the member's row (the daily limit and the balance are read
under it, and two calls with one key meet there), pick a prize by weight among those in stock with
``secrets.SystemRandom``, take its stock with a conditional UPDATE (``stock > 0``; a prize with
empty stock is unlimited), and if it ran out in between pick again among the rest; a product or
coupon prize also takes one unit of the product's stock (and a coupon code) and becomes a
0-point ``Redemption`` fulfilled as in the mall; then the ledger: the cost is spent
(``draw:<key>``) and a points prize earned (``draw-prize:<key>``). Lock order: member row ->
prize row -> product row -> coupon codes -> points account.

A refusal writes nothing (no ledger refusal either), so a retry under the same key may succeed once
the cause is gone; a successful draw is replayed for the same key and member and lottery, and
another member or lottery with that key is an ``IdempotencyConflict``.
"""

from __future__ import annotations

import secrets
from datetime import datetime, time, timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from catalog.errors import (
    DailyLimitReached,
    InvalidArgument,
    LotteryClosed,
    NoFreeDraw,
    NoPrizeLeft,
    NotInSegment,
)
from catalog.models import (
    Draw,
    DrawTicket,
    Lottery,
    Prize,
    PrizeKind,
    ProductKind,
    Redemption,
    RedemptionStatus,
    StockMovement,
)
from catalog.services._helpers import (
    _invalidate_after_commit,
    _is_unique_violation,
    _issue_codes,
    _lock_member,
    _stored_text,
)
from common.text import clip
from points import services as ledger
from points.errors import IdempotencyConflict, InsufficientPoints
from points.errors import InvalidArgument as LedgerInvalidArgument
from points.services._cursor import prepared_cursor

DRAW_PREFIX = "draw:"
PRIZE_PREFIX = "draw-prize:"
REDEMPTION_PREFIX = "draw:"

# The longest ledger key is PRIZE_PREFIX + key (the redemption's DRAW_PREFIX + key fits too).
MAX_DRAW_KEY = ledger.MAX_KEY - len(PRIZE_PREFIX)

_random = secrets.SystemRandom()


def _check_key(key) -> str:
    try:
        return ledger.validate_key(key, max_length=MAX_DRAW_KEY)
    except LedgerInvalidArgument:
        raise InvalidArgument(_("The key must be a non-empty string of at most %(max)s characters.")
                              % {"max": MAX_DRAW_KEY}) from None


def pick(prizes, rng=_random):
    """One of ``prizes`` (objects with ``weight``) chosen with probability weight / total weight;
    None for an empty list."""
    total = sum(prize.weight for prize in prizes)
    if total <= 0:
        return None
    point = rng.randrange(total)
    for prize in prizes:
        point -= prize.weight
        if point < 0:
            return prize
    return None  # unreachable


def start_of_day(now: datetime) -> datetime:
    """Local midnight of ``now``'s day (the daily limit counts draws since then)."""
    local = timezone.localtime(now)
    return timezone.make_aware(datetime.combine(local.date(), time.min), local.tzinfo)


def draw(member, lottery, *, key, now=None) -> Draw:
    """Draw ``lottery`` once for ``member`` and return the ``Draw`` (its ``prize`` is what was won).

    An unused free draw of the member's (``DrawTicket``, e.g. a check-in streak's) is used first:
    that draw costs nothing and does not count against the daily limit.

    Raises ``LotteryClosed`` (inactive, not started or ended), ``NotInSegment`` (the lottery
    names RFM segments and ``member.segment``, the last nightly run's, is not one),
    ``NoFreeDraw`` (a lottery of free draws only, and none left), ``DailyLimitReached``,
    ``points.errors.InsufficientPoints``, ``NoPrizeLeft`` (every prize out of stock),
    ``IdempotencyConflict`` (the key used by another member or lottery), ``InvalidArgument``
    (malformed key). The same key returns the same draw.
    """
    _check_key(key)
    now = now or timezone.now()
    call = (member.pk, lottery.pk)
    try:
        with transaction.atomic():
            _lock_member(member.pk)
            return _draw_locked(member, lottery.pk, key=key, now=now, call=call)
    except IntegrityError as exc:
        if not _is_unique_violation(exc, "catalog_draw"):
            raise
        existing = Draw.objects.filter(key=key).first()
        if existing is None:
            raise
        return _replay(existing, call)


def _replay(existing: Draw, call: tuple) -> Draw:
    if (existing.member_id, existing.lottery_id) != call:
        raise IdempotencyConflict(_("This key was already used for another draw."))
    existing.replayed = True  # the API says so (Idempotent-Replayed)
    return existing


_READ_FOR_DRAW = """
    SELECT l.id, l.name, l.cost_points, l.daily_limit, l.starts_at, l.ends_at, l.active,
           l.created_at,
           (SELECT d.id FROM catalog_draw d WHERE d.key = %(key)s),
           (SELECT a.available FROM points_account a WHERE a.member_id = %(member)s),
           (SELECT count(*) FROM catalog_draw d WHERE d.member_id = %(member)s
                AND d.lottery_id = %(lottery)s AND d.created_at >= %(since)s),
           l.tickets_only,
           (SELECT t.id FROM catalog_drawticket t WHERE t.member_id = %(member)s
                AND t.lottery_id = %(lottery)s AND t.draw_id IS NULL ORDER BY t.id LIMIT 1),
           (SELECT nextval(pg_get_serial_sequence('catalog_draw', 'id'))),
           p.id, p.name, p.kind, p.weight, p.stock, p.points, p.product_id,
           l.segments
    FROM catalog_lottery l
    LEFT JOIN catalog_prize p ON p.lottery_id = l.id AND (p.stock IS NULL OR p.stock <> 0)
    WHERE l.id = %(lottery)s
    ORDER BY p.id
"""


def _read_for_draw(member_id: int, lottery_id: int, key: str, since):
    """One statement, after the member lock: the lottery, the draw already made under ``key``
    (if any), the member's available points, their draws of it since ``since``, their oldest
    unused free draw of it, the id of the new draw (drawn here so the ledger entries can name it;
    a draw that is refused leaves a gap) and the prizes that have stock, in id order
    (``lottery.candidates``; a product prize's product is read only if it is won,
    ``prize.product``). Raw SQL: the ORM's compilation of the same queries was half of a draw's
    time (bench/bench_lottery.py); prepared once per connection."""
    with prepared_cursor() as cursor:
        cursor.execute(_READ_FOR_DRAW, {"key": key, "member": member_id, "since": since,
                                        "lottery": lottery_id})
        rows = cursor.fetchall()
    if not rows:
        return None
    row = rows[0]
    lottery = Lottery(id=row[0], name=row[1], cost_points=row[2], daily_limit=row[3],
                      starts_at=row[4], ends_at=row[5], active=row[6], created_at=row[7],
                      tickets_only=row[11], segments=row[21])
    lottery._state.adding = False
    lottery.existing_id, lottery.available_points, lottery.drawn_today = row[8:11]
    lottery.ticket_id, lottery.draw_id = row[12:14]
    lottery.candidates = [
        Prize(id=r[14], lottery_id=lottery_id, name=r[15], kind=r[16], weight=r[17], stock=r[18],
              points=r[19], product_id=r[20])
        for r in rows if r[14] is not None
    ]
    return lottery


_INSERT_DRAW = (
    "INSERT INTO catalog_draw (id, key, member_id, lottery_id, prize_id, points_spent, entry_id, "
    "prize_entry_id, redemption_id, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def _draw_locked(member, lottery_id: int, *, key: str, now, call: tuple) -> Draw:
    lottery = _read_for_draw(member.pk, lottery_id, key, start_of_day(now))
    existing_id = lottery.existing_id if lottery else (
        Draw.objects.filter(key=key).values_list("id", flat=True).first())
    if existing_id is not None:
        return _replay(Draw.objects.select_related("prize").get(pk=existing_id), call)
    if lottery is None or not lottery.is_open(now):
        raise LotteryClosed()
    if not lottery.admits(member):
        raise NotInSegment()
    # A free draw the member earned is used first: it costs nothing and is not one of the day's
    # draws. A lottery of free draws only has nothing else to offer.
    ticket_id = lottery.ticket_id
    if ticket_id is None and lottery.tickets_only:
        raise NoFreeDraw()
    if (ticket_id is None and lottery.daily_limit is not None
            and (lottery.drawn_today or 0) >= lottery.daily_limit):
        raise DailyLimitReached(
            _("You can draw this lottery %(limit)s times a day.") % {"limit": lottery.daily_limit})
    cost = 0 if ticket_id is not None else lottery.cost_points
    # Advisory, under the member lock: refuse before locking any prize row and without writing
    # the ledger's refusal record. The ledger's own check in spend() is the one that counts.
    available = lottery.available_points or 0
    if cost and available < cost:
        raise InsufficientPoints(_("%(points)s points needed, %(available)s available.")
                                 % {"points": cost, "available": available})

    draw_id, candidates = lottery.draw_id, lottery.candidates
    while True:
        prize = pick(candidates)
        if prize is None:
            raise NoPrizeLeft()
        redemption = _take_prize(member, prize, draw_id=draw_id, key=key, now=now)
        if redemption is not False:
            break
        candidates.remove(prize)  # ran out in between: draw again among the rest

    entry = ledger.spend(
        member, cost, key=DRAW_PREFIX + key,
        reason=clip(_stored_text(gettext_noop("Lottery draw: %(lottery)s"), lottery=lottery.name), 255),
        reference=f"draw:{draw_id}",
    ) if cost else None
    prize_entry = ledger.earn(
        member, prize.points, key=PRIZE_PREFIX + key,
        reason=clip(_stored_text(gettext_noop("Lottery prize: %(prize)s"), prize=prize.name), 255),
        reference=f"draw:{draw_id}",
    ) if prize.kind == PrizeKind.POINTS else None
    # Raw, like the reads: the ORM's insert compiled the same statement on every draw.
    with prepared_cursor() as cursor:
        cursor.execute(_INSERT_DRAW, [
            draw_id, key, member.pk, lottery.pk, prize.pk, cost, entry.pk if entry else None,
            prize_entry.pk if prize_entry else None, redemption.pk if redemption else None, now,
        ])
    made = Draw(id=draw_id, key=key, member=member, lottery=lottery, prize=prize, points_spent=cost,
                entry=entry, prize_entry=prize_entry, redemption=redemption or None, created_at=now)
    made._state.adding = False
    if ticket_id is not None:  # read under the member lock: no other draw of theirs can take it
        DrawTicket.objects.filter(pk=ticket_id, draw__isnull=True).update(draw=made)
    return made


def grant_streak_draws(member_id: int, *, streak: int, day, now=None) -> list[DrawTicket]:
    """Give ``member_id`` one free draw of every open lottery whose ``streak_days`` their
    check-in streak (``streak`` days up to ``day``) has reached, once per streak; returns the
    tickets granted now (none again for the same streak, also under concurrency: the ticket's key
    names the streak's first day and is unique)."""
    now = now or timezone.now()
    first_day = day - timedelta(days=streak - 1)
    granted = []
    lotteries = Lottery.objects.filter(streak_days__isnull=False, streak_days__lte=streak, active=True)
    for lottery in lotteries:
        if not lottery.is_open(now):
            continue
        reason = _stored_text(gettext_noop("%(days)s-day check-in streak"), days=lottery.streak_days)
        ticket, created = DrawTicket.objects.get_or_create(
            key=f"streak:{lottery.pk}:{member_id}:{first_day.isoformat()}",
            defaults={"member_id": member_id, "lottery": lottery, "reason": reason[:255],
                      "granted_at": now},
        )
        if created:
            granted.append(ticket)
    return granted


def _take_prize(member, prize: Prize, *, draw_id: int, key: str, now):
    """Take one unit of ``prize`` (and of its product); False when it ran out, else the
    redemption of a product prize or None. For a product prize a savepoint undoes the prize's
    unit when its product has none left (other prizes need none: one UPDATE is all they write)."""
    if prize.kind not in (PrizeKind.PRODUCT, PrizeKind.COUPON):
        return None if _take_unit(prize) else False
    try:
        with transaction.atomic():
            if not _take_unit(prize):
                return False
            return _redeem_prize(member, prize, draw_id=draw_id, key=key, now=now)
    except _ProductGone:
        return False


def _take_unit(prize: Prize) -> bool:
    """The conditional UPDATE of a prize with stock; a prize with unlimited stock needs none."""
    if prize.stock is None:
        return True
    with prepared_cursor() as cursor:
        cursor.execute("UPDATE catalog_prize SET stock = stock - 1 WHERE id = %s AND stock > 0 "
                       "RETURNING stock", [prize.pk])
        return cursor.fetchone() is not None


class _ProductGone(Exception):
    pass


def _redeem_prize(member, prize: Prize, *, draw_id: int, key: str, now) -> Redemption:
    """A 0-point redemption of one unit of the prize's product, taken from its stock (and its code
    pool for a coupon) as ``redeem`` does; raises ``_ProductGone`` when there is none left."""
    product = prize.product
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE catalog_product SET stock = stock - 1, sold = sold + 1 "
            "WHERE id = %s AND stock >= 1 "
            "RETURNING stock, nextval(pg_get_serial_sequence('catalog_redemption', 'id'))",
            [product.pk])
        row = cursor.fetchone()
        if row is None:
            raise _ProductGone()
        stock_after, redemption_id = row
        code_ids = []
        if product.kind == ProductKind.COUPON:
            cursor.execute(
                "SELECT id FROM catalog_couponcode WHERE product_id = %s AND redemption_id IS NULL "
                "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED", [product.pk])
            code_ids = [r[0] for r in cursor.fetchall()]
            if not code_ids:
                raise _ProductGone()
    immediate = product.kind in (ProductKind.COUPON, ProductKind.PRIVILEGE)
    redemption = Redemption.objects.create(
        id=redemption_id, key=REDEMPTION_PREFIX + key, member=member, product=product, quantity=1,
        points=0, status=RedemptionStatus.FULFILLED if immediate else RedemptionStatus.CREATED,
        created_at=now, fulfilled_at=now if immediate else None,
    )
    if code_ids:
        _issue_codes(code_ids, redemption, product, now)
    StockMovement.objects.create(
        product=product, delta=-1, stock_after=stock_after, redemption=redemption,
        reason=_stored_text(gettext_noop("Lottery draw #%(id)s"), id=draw_id), created_at=now,
    )
    _invalidate_after_commit()
    return redemption
