"""The pure rule evaluator: an event and a member context in, a ``Decision`` out.

Nothing here reads the clock or the database, so the same code serves live earning, the admin's
"try an order" form and the simulation of a draft over past orders. A ``RuleBook`` is an immutable
snapshot of one rule-set version (built by ``rules.selectors``).

Arithmetic is ``Decimal``; a line earns ``floor(amount × rate × tier multiplier × (1 + bonus%))``,
the order's spend-tier bonus (the highest threshold its amount reaches) is added once, and the
total is capped by the per-order maximum. Explanations are rendered in the active language.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

from django.utils.translation import gettext_noop

from common.text import Text, message_of
from rules.errors import UnknownAction

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class BehaviourSpec:
    action: str
    points: int
    photo_bonus_percent: Decimal = Decimal(0)
    daily_limit: int | None = None
    lifetime_limit: int | None = None
    label: str = ""


@dataclass(frozen=True)
class RuleBook:
    version: int
    base_points_per_yuan: Decimal = Decimal(1)
    tier_multipliers: dict[str, Decimal] = field(default_factory=dict)
    category_bonuses: dict[str, Decimal] = field(default_factory=dict)  # percent
    category_labels: dict[str, str] = field(default_factory=dict)
    spend_tiers: tuple[tuple[Decimal, int], ...] = ()  # (threshold, bonus), ascending
    behaviours: dict[str, BehaviourSpec] = field(default_factory=dict)
    check_in_steps: tuple[tuple[int, int], ...] = ()  # (day, points), ascending
    daily_behaviour_cap: int | None = None
    max_points_per_order: int | None = None
    pending_days: int = 7
    expiry_months: int = 12
    reminder_days: tuple[int, ...] = (30, 7)
    redemption_points_per_yuan: int = 100
    redemption_max_percent: int = 50
    redemption_min_points: int = 0
    # The welcome offer: points off a member's first redemption within this many days of joining.
    new_member_days: int = 7
    new_member_redemption_discount: int = 50


@dataclass(frozen=True)
class MemberContext:
    tier: str = "normal"
    member_id: int | None = None
    segment: str = ""  # the RFM segment code ("" = not scored)


@dataclass(frozen=True)
class OrderLine:
    sku: str
    amount: Decimal
    categories: tuple[str, ...] = ()
    quantity: int = 1


@dataclass(frozen=True)
class Order:
    amount: Decimal
    lines: tuple[OrderLine, ...]


@dataclass(frozen=True)
class BehaviourCounters:
    """What the member has already earned, as the caller counted it (the evaluator cannot)."""

    today_count: int = 0  # this action, today
    lifetime_count: int = 0  # this action, ever
    today_points: int = 0  # all behaviour points today, for the daily cap


@dataclass(frozen=True)
class Decision:
    points: int
    version: int
    explanation: tuple[str, ...] = ()  # ``Text`` lines: rendered now, renderable again later

    @property
    def reason(self) -> Text:
        return Text.join("; ", self.explanation)

    def as_json(self) -> dict:
        """Stored on the ledger entry: ``lines`` as rendered, ``messages`` to render them again in
        the reader's language (``common.text.render``)."""
        return {"version": self.version, "points": self.points, "lines": list(self.explanation),
                "messages": [message_of(line) for line in self.explanation]}


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def _fmt(value: Decimal) -> str:
    """Rates and percentages without trailing zeros: 1.5 not 1.50 (money uses :.2f instead)."""
    return f"{value.normalize():f}"


def evaluate_order(book: RuleBook, member: MemberContext, order: Order, *,
                   explain: bool = True) -> Decision:
    """The points an order earns. ``explain=False`` skips the explanation (simulation over many
    orders): same points, an empty ``explanation``."""
    if not explain:
        return _order_points(book, member, order)
    multiplier = book.tier_multipliers.get(member.tier, Decimal(1))
    lines: list[str] = []
    total = 0
    for line in order.lines:
        bonus_category, bonus = None, Decimal(0)
        for category in line.categories:
            percent = book.category_bonuses.get(category)
            if percent is not None and percent > bonus:
                bonus_category, bonus = category, percent
        points = _floor(line.amount * book.base_points_per_yuan * multiplier * (1 + bonus / HUNDRED))
        total += points
        text = Text.of(gettext_noop("%(sku)s: %(amount)s yuan × %(rate)s/yuan × %(tier)s ×%(multiplier)s"),
                       sku=line.sku, amount=f"{line.amount:.2f}", rate=_fmt(book.base_points_per_yuan),
                       tier=member.tier, multiplier=_fmt(multiplier))
        if bonus_category:
            label = book.category_labels.get(bonus_category) or bonus_category
            text += Text.of(gettext_noop(" × (1 + %(category)s %(percent)s%%)"), category=label,
                            percent=_fmt(bonus))
        lines.append(text + f" = {points}")
    reached = [(threshold, bonus) for threshold, bonus in book.spend_tiers if order.amount >= threshold]
    if reached:
        threshold, bonus = reached[-1]
        total += bonus
        lines.append(Text.of(gettext_noop("spend tier: order %(amount)s ≥ %(threshold)s, +%(bonus)s"),
                             amount=f"{order.amount:.2f}", threshold=_fmt(threshold), bonus=bonus))
    if book.max_points_per_order is not None and total > book.max_points_per_order:
        lines.append(Text.of(gettext_noop("capped at %(cap)s points per order"),
                             cap=book.max_points_per_order))
        total = book.max_points_per_order
    lines.append(Text.of(gettext_noop("total %(points)s points (rules v%(version)s)"), points=total,
                         version=book.version))
    return Decision(points=total, version=book.version, explanation=tuple(lines))


def _order_points(book: RuleBook, member: MemberContext, order: Order) -> Decision:
    # The arithmetic of evaluate_order, in the same order of operations (Decimal products can round
    # at 28 digits, so regrouping them could change a floor), without building any text.
    # tests/rules/test_evaluator.py checks on random books and orders that both give the same points.
    multiplier = book.tier_multipliers.get(member.tier, Decimal(1))
    rate = book.base_points_per_yuan
    bonuses = book.category_bonuses
    total = 0
    for line in order.lines:
        bonus = Decimal(0)
        for category in line.categories:
            percent = bonuses.get(category)
            if percent is not None and percent > bonus:
                bonus = percent
        total += _floor(line.amount * rate * multiplier * (1 + bonus / HUNDRED))
    for threshold, tier_bonus in reversed(book.spend_tiers):
        if order.amount >= threshold:
            total += tier_bonus
            break
    if book.max_points_per_order is not None and total > book.max_points_per_order:
        total = book.max_points_per_order
    return Decision(points=total, version=book.version)


def evaluate_behaviour(book: RuleBook, member: MemberContext, action: str,
                       counters: BehaviourCounters, *, photo: bool = False) -> Decision:
    """Points for one behaviour, after its limits and the daily cap. Raises ``UnknownAction``."""
    spec = book.behaviours.get(action)
    if spec is None:
        raise UnknownAction(action)
    label = spec.label or action
    if spec.lifetime_limit is not None and counters.lifetime_count >= spec.lifetime_limit:
        text = Text.of(gettext_noop("%(action)s: already earned %(limit)s time(s), the most allowed"),
                       action=label, limit=spec.lifetime_limit)
        return Decision(0, book.version, (text,))
    if spec.daily_limit is not None and counters.today_count >= spec.daily_limit:
        text = Text.of(gettext_noop("%(action)s: daily limit of %(limit)s reached"), action=label,
                       limit=spec.daily_limit)
        return Decision(0, book.version, (text,))
    points = spec.points
    text = Text.of(gettext_noop("%(action)s: %(points)s"), action=label, points=spec.points)
    if photo and spec.photo_bonus_percent:
        points = _floor(Decimal(spec.points) * (1 + spec.photo_bonus_percent / HUNDRED))
        text += Text.of(gettext_noop(" + photo %(percent)s%% = %(points)s"),
                        percent=_fmt(spec.photo_bonus_percent), points=points)
    lines = [text]
    if book.daily_behaviour_cap is not None:
        room = max(book.daily_behaviour_cap - counters.today_points, 0)
        if points > room:
            lines.append(Text.of(gettext_noop("daily cap of %(cap)s reached: %(points)s of %(wanted)s"),
                                 cap=book.daily_behaviour_cap, points=room, wanted=points))
            points = room
    return Decision(points, book.version, tuple(lines))


def evaluate_check_in(book: RuleBook, streak_day: int) -> Decision:
    """Points for day ``streak_day`` (1-based) of a check-in streak; the last step repeats."""
    points = 0
    for day, step_points in book.check_in_steps:
        if day <= streak_day:
            points = step_points
    return Decision(points, book.version, (Text.of(gettext_noop("check-in day %(day)s: %(points)s"),
                                                   day=streak_day, points=points),))


def gray_bucket(member_id: int) -> int:
    """A member's stable bucket 0..99 (crc32, not Python's per-process salted hash)."""
    return zlib.crc32(str(member_id).encode()) % 100


def in_gray_cohort(member: MemberContext, percent: int, tiers, segments=()) -> bool:
    """In the gray cohort: of one of its tiers, of one of its RFM segments, or in its buckets."""
    if member.tier in tiers or (member.segment and member.segment in segments):
        return True
    return member.member_id is not None and gray_bucket(member.member_id) < percent


def max_deduction(book: RuleBook, order_amount: Decimal) -> tuple[int, Decimal]:
    """The most points an order can be paid with, and what they are worth in yuan."""
    cap_yuan = (order_amount * book.redemption_max_percent / HUNDRED).quantize(Decimal("0.01"),
                                                                               rounding=ROUND_FLOOR)
    points = _floor(cap_yuan * book.redemption_points_per_yuan)
    if points < book.redemption_min_points:
        return 0, Decimal("0.00")
    worth = (Decimal(points) / book.redemption_points_per_yuan).quantize(Decimal("0.01"),
                                                                           rounding=ROUND_FLOOR)
    return points, worth
