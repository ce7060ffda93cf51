"""Reads of the ledger that pages, the API and the admin share."""

from __future__ import annotations

from calendar import monthrange
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Sum
from django.utils import timezone

from common.text import render
from points.models import Account, CheckIn, Entry, Lot, Order, ReconciliationRun
from points.policy import last_valid_day, month_end_expiry
from rules import evaluator
from rules.simulation import PaidOrder


@dataclass(frozen=True)
class Balance:
    available: int = 0
    pending: int = 0
    held: int = 0
    debt: int = 0
    lifetime_earned: int = 0
    lifetime_spent: int = 0
    lifetime_expired: int = 0
    # (last valid day of the month, points) for the coming months, soonest first.
    expiring: list[tuple[date, int]] = field(default_factory=list)


def balance(member, *, months: int = 12, now=None) -> Balance:
    """The member's totals and the points that expire in each of the next ``months`` months.

    Points reserved by an open hold are not counted as expiring: a capture honours them.
    """
    account = Account.objects.filter(member_id=member.pk).first()
    if account is None:
        return Balance()
    now = now or timezone.now()
    horizon = month_end_expiry(now, months=months)
    per_month: dict[date, int] = defaultdict(int)
    rows = (
        Lot.objects.filter(account=account, remaining__gt=0, expires_at__gt=now,
                           expires_at__lte=horizon)
        .values("expires_at")
        .annotate(points=Sum("remaining"))
    )
    for row in rows:
        day = last_valid_day(row["expires_at"])
        per_month[day.replace(day=monthrange(day.year, day.month)[1])] += row["points"]
    return Balance(
        available=account.available,
        pending=account.pending,
        held=account.held,
        debt=account.debt,
        lifetime_earned=account.lifetime_earned,
        lifetime_spent=account.lifetime_spent,
        lifetime_expired=account.lifetime_expired,
        expiring=sorted(per_month.items()),
    )


def recent_entries(member, limit: int = 20):
    return Entry.objects.filter(account__member_id=member.pk).order_by("-id")[:limit]


def check_in_status(member, *, now=None) -> dict:
    """``{"checked_in_today", "streak", "points_today"}``: the streak that counts today (today's,
    else yesterday's that today's check-in would continue, else 0)."""
    today = timezone.localdate(now or timezone.now())
    rows = {
        row.day: row
        for row in CheckIn.objects.filter(member_id=member.pk,
                                          day__in=[today, today - timedelta(days=1)])
    }
    if today in rows:
        return {"checked_in_today": True, "streak": rows[today].streak,
                "points_today": rows[today].points}
    yesterday = rows.get(today - timedelta(days=1))
    return {"checked_in_today": False, "streak": yesterday.streak if yesterday else 0,
            "points_today": 0}


def entries(member, *, kind: str = "", date_from: date | None = None,
            date_to: date | None = None):
    """The member's ledger entries, newest first, filtered by kind and local day (inclusive)."""
    queryset = Entry.objects.filter(account__member_id=member.pk).order_by("-id")
    if kind:
        queryset = queryset.filter(kind=kind)
    if date_from is not None:
        queryset = queryset.filter(created_at__date__gte=date_from)
    if date_to is not None:
        queryset = queryset.filter(created_at__date__lte=date_to)
    return queryset.only("id", "kind", "delta", "balance_after", "reason", "reason_message",
                         "explanation", "created_at")


def reason_text(entry: Entry) -> str:
    """An entry's reason in the reader's (active) language: rendered from the message it was made
    from when it has one, else the stored text (reasons typed by staff, rows written before)."""
    return render(entry.reason_message, entry.reason)


def explanation_lines(entry: Entry) -> list[str]:
    """The lines of an entry's rule explanation in the reader's language (stored text as above)."""
    explanation = entry.explanation if isinstance(entry.explanation, dict) else {}
    lines = explanation.get("lines") or []
    messages = explanation.get("messages") or []
    return [render(messages[position] if position < len(messages) else None, str(line))
            for position, line in enumerate(lines)]


PAID_ORDERS_CHUNK = 5000


def paid_orders(*, since, until) -> Iterator[PaidOrder]:
    """The shop's paid orders of ``[since, until)`` with their lines, as the rules' simulation
    takes them (``settings.RULES_PAID_ORDERS``). One set-based query streamed through a
    server-side cursor, so memory does not grow with the number of orders; each carries the tier
    the member had when paying."""
    rows = (
        Order.objects.filter(paid_at__gte=since, paid_at__lt=until)
        .order_by("id", "lines__id")
        .values_list("id", "member_id", "tier", "amount",
                     "lines__sku", "lines__amount", "lines__categories", "lines__quantity")
        .iterator(chunk_size=PAID_ORDERS_CHUNK)
    )
    current = None
    for order_id, member_id, tier, amount, sku, line_amount, categories, quantity in rows:
        if current is None or order_id != current[0]:
            if current is not None:
                yield _paid_order(*current[1:])
            current = (order_id, member_id, tier, amount, [])
        if sku is not None:  # an order without lines comes once, with NULLs from the outer join
            current[4].append(evaluator.OrderLine(sku, line_amount, tuple(categories), quantity))
    if current is not None:
        yield _paid_order(*current[1:])


def _paid_order(member_id, tier, amount, lines) -> PaidOrder:
    return PaidOrder(member_id, tier, evaluator.Order(amount=amount, lines=tuple(lines)))


def ledger_status() -> str:
    """What the latest finished reconciliation found: ``"ok"``, ``"mismatch"``, or
    ``"unknown"`` before the first run. One indexed read (``points_recon_latest``)."""
    latest = (ReconciliationRun.objects.filter(finished_at__isnull=False)
              .order_by("-finished_at", "-id").values_list("mismatch_count", flat=True).first())
    if latest is None:
        return "unknown"
    return "mismatch" if latest else "ok"
