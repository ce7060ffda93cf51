"""Reads of the ledger that pages, the API and the admin share."""

from __future__ import annotations

from calendar import monthrange
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db import connections, router
from django.db.models import F, Prefetch
from django.utils import timezone
from django.utils.translation import pgettext_lazy

from common.text import render
from points.models import Account, CheckIn, Entry, EntryKind, Lot, Order, ReconciliationRun
from points.policy import last_valid_day, month_end_expiry
from rules import evaluator
from rules.selectors import rulebook_for
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


# The totals and the expiry breakdown in one round trip. The breakdown reads only the lots that
# still hold points and expire in the window, through the partial index points_lot_due_expiry
# (account_id, expires_at) WHERE remaining > 0 AND expires_at IS NOT NULL: on a long-lived account
# almost every lot is spent, and those are not in that index at all, so the read costs the same
# at 10,000 lots as at 1,000,000 (issue 17). As a LATERAL join on the account the planner
# cannot take the account's (skewed) statistics for a reason to scan every lot of it through the
# plain account_id index instead; tests/points/test_selectors.py pins the plan.
BALANCE_SQL = """
    SELECT a.available, a.pending, a.held, a.debt, a.lifetime_earned, a.lifetime_spent,
           a.lifetime_expired, due.expires_at, due.points
    FROM points_account a
    LEFT JOIN LATERAL (
        SELECT l.expires_at, SUM(l.remaining)::bigint AS points
        FROM points_lot l
        WHERE l.account_id = %(account)s AND l.remaining > 0
          AND l.expires_at > %(now)s AND l.expires_at <= %(horizon)s
        GROUP BY l.expires_at
    ) due ON TRUE
    WHERE a.id = %(account)s
"""
# An account's id is its member's, and the parameter (not ``a.id``) names it in both places so
# each table is pruned to the one partition that holds the account.


def balance(member, *, months: int = 12, now=None) -> Balance:
    """The member's totals and the points that expire in each of the next ``months`` months.

    Points reserved by an open hold are not counted as expiring: a capture honours them.
    One statement (``BALANCE_SQL``), on the database the router picks for a read of the account.
    """
    now = now or timezone.now()
    horizon = month_end_expiry(now, months=months)
    with connections[router.db_for_read(Account)].cursor() as cursor:
        cursor.execute(BALANCE_SQL, {"account": member.pk, "now": now, "horizon": horizon})
        rows = cursor.fetchall()
    if not rows:
        return Balance()
    per_month: dict[date, int] = defaultdict(int)
    for *_totals, expires_at, points in rows:
        if expires_at is not None:
            day = last_valid_day(expires_at)
            per_month[day.replace(day=monthrange(day.year, day.month)[1])] += points
    available, pending, held, debt, earned, spent, expired = rows[0][:7]
    return Balance(
        available=available,
        pending=pending,
        held=held,
        debt=debt,
        lifetime_earned=earned,
        lifetime_spent=spent,
        lifetime_expired=expired,
        expiring=sorted(per_month.items()),
    )


def recent_entries(member, limit: int = 20):
    return Entry.objects.filter(account_id=member.pk).order_by("-id")[:limit]


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


def check_in_calendar(member, today: date | None = None) -> dict:
    """The check-in card's week: plain data for the home page (and its htmx refresh).

    ``{"days": [{"day", "checked", "points", "today", "future"}, ...]`` for Monday to Sunday of
    ``today``'s week (local Asia/Shanghai days), ``"checked_in_today"``, ``"streak"`` (the streak
    that counts today, as ``check_in_status``), ``"next_points"`` (what the next check-in gives:
    tomorrow's when today is done, else today's, from the member's rule book — the streak step
    included) and ``"coming"``: the streak steps still ahead, ``[{"day", "points", "in_days"}]``
    (``day`` of the streak whose check-in earns ``points``, reached in ``in_days`` check-ins)."""
    today = today or timezone.localdate()
    monday = today - timedelta(days=today.weekday())
    week = [monday + timedelta(days=n) for n in range(7)]
    rows = {row.day: row for row in CheckIn.objects.filter(
        member_id=member.pk, day__in=[today - timedelta(days=1), *week])}
    done_today = today in rows
    yesterday = rows.get(today - timedelta(days=1))
    streak = rows[today].streak if done_today else (yesterday.streak if yesterday else 0)
    book = rulebook_for(member)
    next_day = streak + 1  # the streak day of the next check-in (today's or tomorrow's)
    next_points = evaluator.evaluate_check_in(book, next_day).points
    coming = [{"day": day, "points": points, "in_days": day - streak}
              for day, points in book.check_in_steps if day > next_day]
    return {
        "days": [{"day": day, "checked": day in rows, "points": rows[day].points if day in rows else 0,
                  "today": day == today, "future": day > today} for day in week],
        "checked_in_today": done_today,
        "streak": streak,
        "points_today": rows[today].points if done_today else 0,
        "next_points": next_points,
        "next_is_today": not done_today,
        "coming": coming,
    }


# The member's words for what happened to their points (no ledger jargon): label key -> text.
LABELS = {
    "earned": pgettext_lazy("points history", "Earned"),
    "pending": pgettext_lazy("points history", "Pending"),
    "available": pgettext_lazy("points history", "Now usable"),
    "used": pgettext_lazy("points history", "Used"),
    "in_use": pgettext_lazy("points history", "In use"),
    "returned": pgettext_lazy("points history", "Returned"),
    "refunded": pgettext_lazy("points history", "Refunded"),
    "taken_back": pgettext_lazy("points history", "Taken back"),
    "expired": pgettext_lazy("points history", "Expired"),
    "adjusted": pgettext_lazy("points history", "Adjusted"),
    "forfeited": pgettext_lazy("points history", "Forfeited"),
}
_LABEL_OF_KIND = {
    EntryKind.SPEND: "used", EntryKind.CAPTURE: "used", EntryKind.HOLD: "in_use",
    EntryKind.RELEASE: "returned", EntryKind.EXPIRE: "expired", EntryKind.ADJUST: "adjusted",
    EntryKind.ACTIVATE: "available", EntryKind.FORFEIT: "forfeited",
}
REDEMPTION_PREFIX = "redemption:"


def entry_label(entry, *, now=None) -> str:
    """The plain label key of an entry of ``entries()`` (its lots and ``reverses_kind`` read):
    an earning still in its cooling-off period is ``pending``; a reversal of a spend gives points
    back (``refunded``), one of an earning takes them back (``taken_back``)."""
    if entry.kind == EntryKind.EARN:
        now = now or timezone.now()
        lots = list(entry.lots.all())
        return "pending" if any(lot.pending and lot.available_at > now for lot in lots) else "earned"
    if entry.kind == EntryKind.REVERSE:
        spent = getattr(entry, "reverses_kind", None) in (EntryKind.SPEND, EntryKind.CAPTURE)
        return "refunded" if spent else "taken_back"
    return _LABEL_OF_KIND.get(entry.kind, "adjusted")


def entry_details(entry, *, now=None) -> dict:
    """What the member pages and the API show of an entry of ``entries()`` beyond its columns:
    ``label`` and ``label_display``; ``available_at`` and ``expires_at`` of the lots it created
    (the earliest; None when it created none, ``expires_at`` None too when they never expire);
    ``redemption``: the id of the redemption it belongs to (its spend or its refund: the catalog
    posts both under the reference ``redemption:<id>``), else None. Reads nothing more."""
    label = entry_label(entry, now=now)
    lots = list(entry.lots.all())
    expiries = [lot.expires_at for lot in lots if lot.expires_at is not None]
    redemption = None
    if entry.reference.startswith(REDEMPTION_PREFIX):
        tail = entry.reference[len(REDEMPTION_PREFIX):]
        redemption = int(tail) if tail.isdigit() else None
    # Points the entry is about: a hold or a release moves none (delta 0) but reserves or gives
    # back its hold's points.
    points = abs(entry.delta)
    if entry.kind in (EntryKind.HOLD, EntryKind.RELEASE) and entry.hold_id is not None:
        hold = entry.hold
        points = hold.amount if entry.kind == EntryKind.HOLD else hold.amount - hold.captured
    return {
        "label": label,
        "label_display": str(LABELS[label]),
        "points": points,
        "available_at": min((lot.available_at for lot in lots), default=None),
        "expires_at": min(expiries, default=None),
        "redemption": redemption,
    }


def with_details(queryset):
    """``queryset`` of entries with what ``entry_details`` reads: one extra query per page for
    the lots, the reversed entry's kind joined in."""
    return queryset.annotate(reverses_kind=F("reverses__kind")).select_related("hold").prefetch_related(
        Prefetch("lots", queryset=Lot.objects.only("id", "entry_id", "pending", "available_at",
                                                    "expires_at").order_by("id")))


def entries(member, *, kind: str = "", date_from: date | None = None,
            date_to: date | None = None):
    """The member's ledger entries, newest first, filtered by kind and local day (inclusive),
    ready for ``entry_details``."""
    queryset = Entry.objects.filter(account_id=member.pk).order_by("-id")
    if kind:
        queryset = queryset.filter(kind=kind)
    if date_from is not None:
        queryset = queryset.filter(created_at__date__gte=date_from)
    if date_to is not None:
        queryset = queryset.filter(created_at__date__lte=date_to)
    return with_details(queryset.only("id", "kind", "delta", "balance_after", "reason",
                                      "reason_message", "reference", "explanation", "created_at",
                                      "hold__amount", "hold__captured"))


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
