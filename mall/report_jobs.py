"""The nightly materialisation of the 报表 aggregates (``mall.report_models``), run by celery beat
(``mall.materialise_reports``, 00:20 Asia/Shanghai, from migration mall 0013) and once by that
migration (the backfill).

Set-based: one ``INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE`` per run of consecutive days
to rewrite, one for the lots, under a lock on the watermark row so two workers do not interleave.
Idempotent: a day is rewritten from all its entries, never incremented, so running it twice
changes nothing. The days rewritten are the closed days since the last run, the ``LOOKBACK_DAYS``
before them, and every closed day that got an entry since the last run (a posting dated in the
past, or a transaction that committed after midnight).

Why the lookback: the watermark is the largest entry id the run saw, but ids are taken at insert
time, not at commit, so an entry of yesterday whose transaction was still open during the run
has a smaller id and is in neither the aggregate nor the reports' live part (``id > watermark``)
until a later run rewrites its day; the next two nights do.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

LOOKBACK_DAYS = 2

LOCAL_DAY = "(created_at AT TIME ZONE 'Asia/Shanghai')::date"
# Sources of issued points, from the entry's key (each service's own prefix).
SOURCE = """CASE
    WHEN kind = 'adjust' THEN 'adjustments'
    WHEN kind <> 'earn' THEN ''
    WHEN key LIKE 'order:%%' THEN 'orders'
    WHEN key LIKE 'behaviour:%%' OR key LIKE 'check-in:%%' THEN 'behaviours'
    WHEN key LIKE 'reward:%%' THEN 'referrals'
    WHEN key LIKE 'draw-prize:%%' THEN 'lottery'
    ELSE 'lifecycle' END"""
# The activation job writes its points in the entry's message parameters (its delta is 0).
SUMS = """COALESCE(SUM(delta) FILTER (WHERE delta > 0), 0) AS credit,
    COALESCE(-SUM(delta) FILTER (WHERE delta < 0), 0) AS debit,
    COALESCE(SUM((reason_message -> 0 -> 1 ->> 'points')::bigint) FILTER (WHERE kind = 'activate'), 0)
        AS moved,
    COUNT(*) AS entries"""


def _local_start(day: date) -> datetime:
    from mall.reports import local_start

    return local_start(day)


def _runs(days: set[date]) -> list[tuple[date, date]]:
    """Consecutive days as ``[(first, last)]``."""
    runs: list[tuple[date, date]] = []
    for day in sorted(days):
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def materialise(now: datetime | None = None) -> dict:
    """Bring the aggregates up to the end of yesterday (local). Returns ``{through, days,
    rows, lots}``: the last closed day, the days rewritten, the day rows and maturity rows written."""
    now = now or timezone.now()
    through = timezone.localtime(now).date() - timedelta(days=1)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO mall_reportwatermark (id, max_entry_id, max_lot_id) "
                       "VALUES (1, 0, 0) ON CONFLICT (id) DO NOTHING")
        cursor.execute("SELECT through, max_entry_id, max_lot_id FROM mall_reportwatermark "
                       "WHERE id = 1 FOR UPDATE")
        last_through, last_entry, last_lot = cursor.fetchone()
        if last_through is not None and last_through > through:
            through = last_through  # never go back (a run with an earlier ``now``)
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM points_entry")
        max_entry = cursor.fetchone()[0]
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM points_lot")
        max_lot = cursor.fetchone()[0]
        until = _local_start(through + timedelta(days=1))
        days: set[date] = set()
        # Closed days that got entries since the last run (by id: the primary key's index).
        cursor.execute(f"SELECT DISTINCT {LOCAL_DAY} FROM points_entry "
                       "WHERE id > %s AND id <= %s AND created_at < %s", [last_entry, max_entry, until])
        days.update(day for (day,) in cursor.fetchall())
        if last_through is None:
            # First run: every day from the first entry on.
            cursor.execute(f"SELECT MIN({LOCAL_DAY}) FROM points_entry WHERE created_at < %s", [until])
            first = cursor.fetchone()[0]
        else:
            first = last_through + timedelta(days=1 - LOOKBACK_DAYS)
        if first is not None:
            day = first
            while day <= through:
                days.add(day)
                day += timedelta(days=1)
        rows = 0
        for start, end in _runs(days):
            cursor.execute(
                f"""
                INSERT INTO mall_dailypoints (day, kind, source, credit, debit, moved, entries)
                SELECT {LOCAL_DAY}, kind, {SOURCE}, {SUMS}
                  FROM points_entry
                 WHERE created_at >= %(since)s AND created_at < %(until)s AND id <= %(max)s
                 GROUP BY 1, 2, 3
                ON CONFLICT (day, kind, source) DO UPDATE SET credit = EXCLUDED.credit,
                    debit = EXCLUDED.debit, moved = EXCLUDED.moved, entries = EXCLUDED.entries
                """,
                {"since": _local_start(start), "until": _local_start(end + timedelta(days=1)),
                 "max": max_entry},
            )
            rows += cursor.rowcount
        # Lots: amounts never change, so one pass over the table rewrites every expiry instant.
        cursor.execute(
            """
            INSERT INTO mall_lotmaturity (expires_at, amount, lots)
            SELECT expires_at, SUM(amount), COUNT(*) FROM points_lot
             WHERE expires_at IS NOT NULL AND id <= %s GROUP BY expires_at
            ON CONFLICT (expires_at) DO UPDATE SET amount = EXCLUDED.amount, lots = EXCLUDED.lots
            """,
            [max_lot],
        )
        lots = cursor.rowcount
        cursor.execute("UPDATE mall_reportwatermark SET through = %s, max_entry_id = %s, "
                       "max_lot_id = %s, refreshed_at = %s WHERE id = 1",
                       [through, max_entry, max_lot, now])
    return {"through": through, "days": len(days), "rows": rows, "lots": lots}
