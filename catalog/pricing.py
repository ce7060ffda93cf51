"""What a member pays for a redemption: the list price, less the welcome offer.

The welcome offer (DESIGN.md 3.2, lifecycle campaigns): a member within the rule book's
``new_member_days`` of joining (``date_joined + days > now``) pays
``new_member_redemption_discount`` fewer points on their first redemption. The discount is taken
once per redemption (not per unit), never below zero points, and from the points part only: the
cash of a points + cash product is unchanged.

"First" means the member holds no redemption that is not cancelled: cancelling the first
redemption gives the offer back (while the window is still open), as it gives the points back. The
database keeps the offer once: at most one non-cancelled redemption with a ``welcome_discount``
per member (the partial unique index ``catalog_redemption_one_welcome``).

``welcome_offer`` and ``price`` are pure (no clock, no rows): ``catalog.selectors.price_for``
(pages and the API) and ``catalog.services.redeem`` (under the member's lock) hand them what they
read, so the price shown and the price charged come from the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from rules.evaluator import RuleBook
from rules.models import RuleSet
from rules.selectors import rulebook_for


@dataclass(frozen=True)
class Price:
    """The price of ``quantity`` units for one member."""

    list_points: int  # points price × quantity, before any offer
    welcome_discount: int  # points taken off by the welcome offer, 0..list_points
    cash: Decimal  # cash price × quantity (never discounted)

    @property
    def points(self) -> int:
        """The points the member pays."""
        return self.list_points - self.welcome_discount


def book_for(member) -> RuleBook | None:
    """The rule book that prices ``member``'s redemptions (the gray-release candidate for its
    cohort); None when no rule set is published (then there is no offer)."""
    try:
        return rulebook_for(member)
    except RuleSet.DoesNotExist:
        return None


def in_window(book: RuleBook | None, joined_at: datetime | None, now: datetime) -> bool:
    """Whether a member who joined at ``joined_at`` may still be offered the welcome discount."""
    return (book is not None and joined_at is not None and book.new_member_redemption_discount > 0
            and joined_at + timedelta(days=book.new_member_days) > now)


def welcome_offer(book: RuleBook | None, *, joined_at: datetime | None, redeemed_before: bool,
                  now: datetime) -> int:
    """The points off a member's next redemption: the book's discount inside the window when they
    hold no non-cancelled redemption yet, else 0."""
    if redeemed_before or not in_window(book, joined_at, now):
        return 0
    return book.new_member_redemption_discount


def price(points_price: int, cash_price: Decimal, quantity: int = 1, *, offer: int = 0) -> Price:
    """The price of ``quantity`` units with ``offer`` points off the whole (at most all of it)."""
    list_points = points_price * quantity
    return Price(
        list_points=list_points,
        welcome_discount=max(0, min(offer, list_points)),
        cash=(Decimal(cash_price) * quantity).quantize(Decimal("0.01")),
    )
