"""RFM segments (issue 14): the nightly job that scores every member, and the admin's writes.

``score_members(now=None)`` (celery ``mall.rfm``, 00:40 Asia/Shanghai, before the recommendations
at 01:00; ``manage.py rfm`` runs it now) is set-based SQL, a handful of statements whatever the
member count:

* the members scored are the active, non-staff members;
* activity is a paid order (``points.Order``, at ``paid_at``) or a redemption (``catalog``, at
  ``created_at``) that is neither cancelled nor still awaiting its cash payment; a lottery prize
  is left out (the draw chose it, not the member). The window is the last ``window_days``
  Asia/Shanghai days, today included, up to ``now``;
* recency = days from the local day of the last activity to today (0 = today); frequency = the
  number of paid orders plus redemptions; monetary = the paid orders' amounts less what was
  refunded, in yuan. A redemption's cash part is not counted: monetary is what members spend in the
  shop, the mall's cash top-ups are a points purchase, not a sign of value;
* the thresholds are the settings' (``RfmSettings``), or where blank the median
  (``percentile_cont(0.5)``) of the members active in the window. A member is recent when
  recency <= threshold, frequent when frequency >= threshold, valuable when monetary >= threshold;
  the three splits give one of the eight segments (``rules.segments.segment_for``);
* quintile scores 1-5 are ``NTILE(5)`` over the active members, 5 the best (most recent, most
  frequent, most valuable); equal values are split by member id so a run is deterministic;
* a member with no activity in the window is still scored: recency NULL, frequency 0, monetary 0,
  scores 1/1/1 and 一般挽留 (general to win back) — the segment the win-back targets — and they
  are left out of the medians and the quintiles (which would otherwise be flooded by zeros).

One transaction per run, serialised by an advisory lock: the day's ``RfmRun`` (and its scores) is
deleted and written again, so a re-run the same day replaces it and never duplicates; the movement
from the previous day's run is counted from the two runs' scores; ``Member.segment`` is set by one
``UPDATE … FROM`` (members no longer scored, e.g. deactivated, go back to ""); per-member scores
older than the last ``KEEP_RUNS`` runs are deleted (the run summaries stay).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import Draw, Redemption, RedemptionStatus
from mall.rfm_models import RfmRun, RfmScore, RfmSettings
from points.models import Order
from rules.segments import Segment, segment_for

logger = logging.getLogger(__name__)

# Per-member rows of this many runs are kept (the movement needs the last two).
KEEP_RUNS = 7
LOCK_KEY = 1404  # pg_advisory_xact_lock: one scoring at a time

T = {
    "order": Order._meta.db_table,
    "redemption": Redemption._meta.db_table,
    "draw": Draw._meta.db_table,
    "member": get_user_model()._meta.db_table,
    "run": RfmRun._meta.db_table,
    "score": RfmScore._meta.db_table,
}
# Redemptions that are not a purchase (yet): cancelled, or held until the cash part is paid.
NOT_COUNTED = (RedemptionStatus.CANCELLED.value, RedemptionStatus.AWAITING_PAYMENT.value)


def current_settings() -> RfmSettings:
    """The one settings row (created with the defaults on first use)."""
    return RfmSettings.objects.get_or_create(id=1)[0]


def save_settings(*, actor, window_days: int, recency_days: int | None, frequency: int | None,
                  monetary: Decimal | None) -> RfmSettings:
    """Store the window and thresholds (``None``: the median); used from the next run on."""
    with transaction.atomic():
        current = current_settings()
        RfmSettings.objects.filter(id=current.id).update(
            window_days=window_days, recency_days=recency_days, frequency=frequency,
            monetary=monetary, updated_at=timezone.now(), updated_by=actor)
    current.refresh_from_db()
    return current


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _segment_case() -> str:
    """SQL choosing the segment from the three booleans ``recent``, ``frequent``, ``valuable``."""
    whens = " ".join(
        f"WHEN {'' if r else 'NOT '}recent AND {'' if f else 'NOT '}frequent "
        f"AND {'' if m else 'NOT '}valuable THEN '{segment_for(r, f, m).value}'"
        for r in (True, False) for f in (True, False) for m in (True, False))
    return f"CASE {whens} END"


def score_members(now: datetime | None = None) -> dict:
    """Score every member for today's run (replacing a run of the same day). Returns
    ``{"day", "members_scored", "members_active", "thresholds", "counts"}``."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    started = timezone.now()
    with transaction.atomic(durable=True), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        config = current_settings()
        window = config.window_days
        params = {"start": _local_midnight(today - timedelta(days=window - 1)), "now": now,
                  "today": today, "tz": timezone.get_current_timezone_name(),
                  "not_counted": list(NOT_COUNTED)}

        cursor.execute(f"""
            CREATE TEMPORARY TABLE rfm_activity ON COMMIT DROP AS
            WITH acts AS (
                SELECT member_id, paid_at AS at, amount - refunded_amount AS value
                  FROM {T['order']} WHERE paid_at >= %(start)s AND paid_at <= %(now)s
                UNION ALL
                SELECT r.member_id, r.created_at, 0 FROM {T['redemption']} r
                 WHERE r.created_at >= %(start)s AND r.created_at <= %(now)s
                   AND r.status <> ALL(%(not_counted)s)
                   AND NOT EXISTS (SELECT 1 FROM {T['draw']} d WHERE d.redemption_id = r.id)
            )
            SELECT a.member_id,
                   %(today)s::date - MAX((a.at AT TIME ZONE %(tz)s)::date) AS recency_days,
                   COUNT(*) AS frequency, SUM(a.value)::numeric(14, 2) AS monetary
              FROM acts a JOIN {T['member']} m ON m.id = a.member_id AND m.is_active AND NOT m.is_staff
             GROUP BY a.member_id""", params)
        cursor.execute("""
            SELECT COUNT(*),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY recency_days),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY frequency),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY monetary)
              FROM rfm_activity""")
        active, *medians = cursor.fetchone()
        chosen = (config.recency_days, config.frequency, config.monetary)
        thresholds = [Decimal(str(value)).quantize(Decimal("0.01")) if value is not None else None
                      for value in (c if c is not None else m for c, m in zip(chosen, medians, strict=True))]

        # The day's run is replaced: its scores first (no cascade in the database), then the row.
        cursor.execute(f"DELETE FROM {T['score']} WHERE run_id IN "
                       f"(SELECT id FROM {T['run']} WHERE day = %s)", [today])
        RfmRun.objects.filter(day=today).delete()
        previous = RfmRun.objects.filter(day__lt=today).order_by("-day").first()
        run = RfmRun.objects.create(
            day=today, window_days=window, recency_threshold=thresholds[0],
            frequency_threshold=thresholds[1], monetary_threshold=thresholds[2],
            medians={name: value is None for name, value in zip(("recency", "frequency", "monetary"),
                                                                 chosen, strict=True)},
            members_active=active, previous_day=previous.day if previous else None,
            started_at=started)

        # With no active member there is no median: nobody is high on that measure.
        cursor.execute(f"""
            INSERT INTO {T['score']} (run_id, member_id, recency_days, frequency, monetary,
                                      r_score, f_score, m_score, segment)
            WITH scored AS (
                SELECT a.*,
                       NTILE(5) OVER (ORDER BY recency_days DESC, member_id DESC) AS r_score,
                       NTILE(5) OVER (ORDER BY frequency, member_id) AS f_score,
                       NTILE(5) OVER (ORDER BY monetary, member_id) AS m_score,
                       COALESCE(recency_days <= %(r)s, false) AS recent,
                       COALESCE(frequency >= %(f)s, false) AS frequent,
                       COALESCE(monetary >= %(m)s, false) AS valuable
                  FROM rfm_activity a
            )
            SELECT %(run)s, s.member_id, s.recency_days, s.frequency, s.monetary,
                   s.r_score, s.f_score, s.m_score, {_segment_case()}
              FROM scored s
            UNION ALL
            SELECT %(run)s, m.id, NULL, 0, 0, 1, 1, 1, %(idle)s
              FROM {T['member']} m
             WHERE m.is_active AND NOT m.is_staff
               AND NOT EXISTS (SELECT 1 FROM rfm_activity a WHERE a.member_id = m.id)""",
                       {"run": run.id, "r": thresholds[0], "f": thresholds[1], "m": thresholds[2],
                        "idle": Segment.GENERAL_RETAIN.value})
        scored = cursor.rowcount

        cursor.execute(f"""
            UPDATE {T['member']} m SET segment = s.segment FROM {T['score']} s
             WHERE s.run_id = %s AND s.member_id = m.id AND m.segment <> s.segment""", [run.id])
        cursor.execute(f"""
            UPDATE {T['member']} m SET segment = '' WHERE m.segment <> ''
               AND NOT EXISTS (SELECT 1 FROM {T['score']} s WHERE s.run_id = %s AND s.member_id = m.id)""",
                       [run.id])

        cursor.execute(f"SELECT segment, COUNT(*) FROM {T['score']} WHERE run_id = %s GROUP BY segment",
                       [run.id])
        counts = {segment: 0 for segment in Segment.values} | dict(cursor.fetchall())
        movement: dict[str, dict[str, int]] = {}
        if previous:
            cursor.execute(f"""
                SELECT COALESCE(p.segment, ''), s.segment, COUNT(*)
                  FROM {T['score']} s
                  LEFT JOIN {T['score']} p ON p.run_id = %s AND p.member_id = s.member_id
                 WHERE s.run_id = %s GROUP BY 1, 2""", [previous.id, run.id])
            for source, target, members in cursor.fetchall():
                movement.setdefault(source, {})[target] = members

        RfmRun.objects.filter(id=run.id).update(counts=counts, movement=movement,
                                                 members_scored=scored, finished_at=timezone.now())
        cursor.execute(f"""
            DELETE FROM {T['score']} WHERE run_id IN (
                SELECT id FROM {T['run']} ORDER BY day DESC OFFSET %s)""", [KEEP_RUNS])
        # ON COMMIT DROP would do, but a caller's outer transaction (a test) may not commit yet.
        cursor.execute("DROP TABLE rfm_activity")
    summary = {"day": today.isoformat(), "members_scored": scored, "members_active": active,
               "thresholds": {"recency": thresholds[0], "frequency": thresholds[1],
                              "monetary": thresholds[2]},
               "counts": counts}
    logger.info("rfm %(day)s: %(members_scored)s scored, %(members_active)s active", summary)
    return summary


def latest_runs() -> tuple[RfmRun | None, RfmRun | None]:
    """The last run and the one before it."""
    runs = list(RfmRun.objects.order_by("-day")[:2])
    return (runs[0] if runs else None, runs[1] if len(runs) > 1 else None)


def movement_table(run: RfmRun) -> dict:
    """The run's from-segment × to-segment counts for a template: ``{"columns": [labels],
    "rows": [{"label", "cells": [n, ...], "total"}], "totals": [...]}``. The first row is the
    members the previous run did not score (new)."""
    codes = list(Segment.values)
    sources = ["", *codes]
    rows = []
    for source in sources:
        targets = run.movement.get(source, {})
        cells = [targets.get(code, 0) for code in codes]
        if source == "" and not any(cells):
            continue
        rows.append({"label": _("New") if source == "" else Segment(source).label,
                     "code": source, "cells": cells, "total": sum(cells)})
    totals = [sum(row["cells"][index] for row in rows) for index in range(len(codes))]
    return {"columns": [Segment(code).label for code in codes], "rows": rows, "totals": totals}
