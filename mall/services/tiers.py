"""Members' tiers: the nightly re-evaluation and every other change of ``Member.tier``, each
recorded as a ``TierChange`` (member, from, to, why, points earned, when).

Re-evaluation (``reevaluate``, run nightly by ``mall.jobs.reevaluate_tiers``) uses the published
rule set's tiers (``rules.tiers``) and its ``tier_window_days`` and ``tier_grace_days``:

* *Earned* is what a member's ``earn`` entries credited within the window, less the reversals of
  those entries (a refunded order's points do not qualify) — earnings, not the balance, so
  spending or expiry never costs a tier. The window is the ``tier_window_days`` local
  (Asia/Shanghai) days before today, and today up to ``now``.
* The *target* is the highest-ranked tier whose ``qualify_points`` the member earned.
* Above their tier: upgraded to the target at once (several ranks if earned), any grace ended,
  message ``tier_upgrade``.
* Below their tier, no grace yet: they keep it until ``grace_until`` = today + grace days − 1
  (the last day kept), message ``tier_grace`` saying by when to earn how many more points. With
  0 grace days they drop at once.
* Still below after ``grace_until`` (on any later run, so a missed night changes nothing): down
  ONE rank (not to the target), grace cleared, message ``tier_downgrade``. A member still below
  the lower tier starts its grace on a later run.
* Back at their tier during grace: grace cleared (recorded, no message).

Set-based: one statement plans every member's change into a temporary table, one locks the
members concerned in id order (two runs never deadlock), and one ``UPDATE ... WHERE tier = <as
planned> AND grace = <as planned>`` applies the plan and inserts the ``TierChange`` rows of the
members it changed, returning them for their messages. A second run, or one waiting for the first
to commit, finds nothing as planned and changes nothing; messages are keyed by the change's id, so
nothing is sent twice. Staff and inactive accounts are not re-evaluated.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from common import audit
from common.errors import InvalidFields
from mall.models import Member, TierChange
from mall.services import messages
from mall.services.messages import Outgoing
from rules import tiers as tier_rules
from rules.models import RuleSet, RuleSetStatus

Reason = TierChange.Reason
MESSAGE_OF = {Reason.UPGRADE: "tier_upgrade", Reason.GRACE: "tier_grace",
              Reason.DOWNGRADE: "tier_downgrade"}

_PLAN = """
CREATE TEMPORARY TABLE mall_tier_plan ON COMMIT DROP AS
WITH tiers(code, rank, qualify) AS (
    SELECT * FROM unnest(%(codes)s::text[], %(ranks)s::int[], %(qualify)s::bigint[])
),
earned AS (
    -- Earn entries of the window, less their reversals (up to now).
    SELECT a.member_id, SUM(e.delta + COALESCE(r.reversed, 0)) AS points
      FROM points_entry e
      JOIN points_account a ON a.id = e.account_id
      LEFT JOIN LATERAL (
          SELECT SUM(r.delta) AS reversed FROM points_entry r
           WHERE r.reverses_id = e.id AND r.created_at <= %(now)s
      ) r ON TRUE
     WHERE e.kind = 'earn' AND e.created_at >= %(since)s AND e.created_at <= %(now)s
     GROUP BY a.member_id
),
state AS (
    SELECT m.id AS member_id, m.tier AS from_tier, m.tier_grace_until AS grace_until,
           COALESCE(x.points, 0) AS points, COALESCE(cur.rank, 0) AS cur_rank,
           target.code AS target, COALESCE(target.rank, 0) AS target_rank, below.code AS below
      FROM mall_member m
      LEFT JOIN earned x ON x.member_id = m.id
      LEFT JOIN tiers cur ON cur.code = m.tier
      LEFT JOIN LATERAL (
          SELECT t.code, t.rank FROM tiers t WHERE t.qualify <= COALESCE(x.points, 0)
           ORDER BY t.rank DESC LIMIT 1
      ) target ON TRUE
      LEFT JOIN LATERAL (
          SELECT t.code FROM tiers t WHERE t.rank < cur.rank ORDER BY t.rank DESC LIMIT 1
      ) below ON TRUE
     WHERE m.is_active AND NOT m.is_staff
),
decided AS (
    SELECT state.*,
           CASE WHEN target_rank > cur_rank THEN 'upgrade'
                WHEN target_rank = cur_rank AND grace_until IS NOT NULL THEN 'recovered'
                WHEN target_rank < cur_rank AND grace_until IS NULL AND %(grace_days)s > 0 THEN 'grace'
                WHEN target_rank < cur_rank AND below IS NOT NULL
                     AND (grace_until < %(today)s OR (grace_until IS NULL AND %(grace_days)s = 0))
                     THEN 'downgrade'
           END AS reason
      FROM state
)
SELECT member_id, from_tier, grace_until, points, reason,
       CASE reason WHEN 'upgrade' THEN target WHEN 'downgrade' THEN below ELSE from_tier END AS to_tier,
       CASE reason WHEN 'grace' THEN %(new_grace)s::date END AS new_grace
  FROM decided
 WHERE reason IS NOT NULL
"""

# Lock in one fixed order (by id): two runs, or a run and a redemption, never deadlock.
_LOCK = """
SELECT m.id FROM mall_member m
 WHERE m.id IN (SELECT member_id FROM mall_tier_plan)
 ORDER BY m.id
   FOR NO KEY UPDATE OF m
"""

# Only members still as planned change (another run may have changed them meanwhile).
_APPLY = """
WITH changed AS (
    UPDATE mall_member m
       SET tier = p.to_tier, tier_grace_until = p.new_grace
      FROM mall_tier_plan p
     WHERE m.id = p.member_id AND m.tier = p.from_tier
       AND m.tier_grace_until IS NOT DISTINCT FROM p.grace_until
    RETURNING m.id, p.from_tier, p.to_tier, p.reason, p.points, p.new_grace
)
INSERT INTO mall_tierchange (member_id, from_tier, to_tier, reason, earned_points, grace_until,
                             rule_version, at)
SELECT id, from_tier, to_tier, reason, points, new_grace, %(version)s, %(now)s FROM changed
RETURNING id, member_id, from_tier, to_tier, reason, earned_points, grace_until
"""


def window_start(today: date, window_days: int) -> datetime:
    """The first moment of the tier window for a run on local day ``today``."""
    return timezone.make_aware(datetime.combine(today - timedelta(days=window_days), time.min))


def reevaluate(*, now: datetime | None = None) -> dict[str, int]:
    """Re-evaluate every member's tier under the published rule set (see the module docstring).
    Returns counts: members evaluated, and how many were upgraded, started a grace, recovered
    during it and were downgraded. Safe to run twice and in two workers at once."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    rule_set = RuleSet.objects.get(status=RuleSetStatus.PUBLISHED)
    table = tier_rules.tiers_of(rule_set)
    by_code = {info.code: info for info in table}
    params = {
        "codes": [info.code for info in table],
        "ranks": [info.rank for info in table],
        "qualify": [info.qualify_points for info in table],
        "now": now,
        "since": window_start(today, rule_set.tier_window_days),
        "today": today,
        "grace_days": rule_set.tier_grace_days,
        "new_grace": today + timedelta(days=rule_set.tier_grace_days - 1),
        "version": rule_set.version,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS mall_tier_plan")  # a caller's earlier run, same transaction
        cursor.execute(_PLAN, params)
        cursor.execute(_LOCK)
        cursor.execute(_APPLY, params)
        changes = cursor.fetchall()
        cursor.execute("DROP TABLE mall_tier_plan")
        _send_messages(changes, by_code, now)
    counts = Counter(reason for _id, _member, _from, _to, reason, _points, _grace in changes)
    return {
        "members": Member.objects.filter(is_active=True, is_staff=False).count(),
        "upgraded": counts[Reason.UPGRADE],
        "grace_started": counts[Reason.GRACE],
        "recovered": counts[Reason.RECOVERED],
        "downgraded": counts[Reason.DOWNGRADE],
    }


def _send_messages(changes, by_code, now) -> None:
    outgoing: dict[str, list[Outgoing]] = {purpose: [] for purpose in MESSAGE_OF.values()}
    for change_id, member_id, from_tier, to_tier, reason, points, grace_until in changes:
        purpose = MESSAGE_OF.get(reason)
        if purpose is None:
            continue
        if reason == Reason.GRACE:
            needed = by_code[from_tier].qualify_points - points if from_tier in by_code else 0
            context = {"tier": _names(by_code, from_tier), "date": grace_until, "points": max(needed, 0)}
        else:
            context = {"tier": _names(by_code, to_tier), "old_tier": _names(by_code, from_tier)}
        # One message per change: the change's id names the occasion.
        outgoing[purpose].append(Outgoing(member_id, f"change:{change_id}", context))
    for purpose, items in outgoing.items():
        if items:
            messages.send_many(purpose, items, now=now)


def _names(by_code, code):
    info = by_code.get(code)
    return info.names if info is not None else {"zh-hans": code, "en": code}


# --------------------------------------------------------------------------- set by hand


def set_tier(member: Member, code: str, *, reason: str, staff=None,
             now: datetime | None = None) -> TierChange | None:
    """Put ``member`` in tier ``code`` because the shop said so (``Reason.SHOP``) or staff did
    (``Reason.STAFF``, with ``staff``): any grace ends, and the change is recorded. Returns the
    change, or None when the member already had that tier. Raises ``InvalidFields`` (``tier``)
    unless ``code`` is a tier of the published rule set. The next re-evaluation may move the
    member again: it follows what they earned."""
    if code not in tier_rules.tier_codes():
        raise InvalidFields({"tier": [_("“%(code)s” is not a tier.") % {"code": code}]})
    now = now or timezone.now()
    with transaction.atomic():
        current = (Member.objects.select_for_update(no_key=True)
                   .values_list("tier", "tier_grace_until").get(pk=member.pk))
        if current == (code, None):
            member.tier, member.tier_grace_until = current
            return None
        Member.objects.filter(pk=member.pk).update(tier=code, tier_grace_until=None)
        member.tier, member.tier_grace_until = code, None
        change = TierChange.objects.create(member=member, from_tier=current[0], to_tier=code,
                                           reason=reason, staff=staff, at=now)
        if staff is not None:  # the shop's and the nightly job's changes are not staff writes
            audit.record("tier.change", member, actor=staff, changes={"tier": (current[0], code)},
                         data={"tier_change": change.pk, "reason": reason})
        return change


# --------------------------------------------------------------------------- reading


def changes_of(member: Member):
    """The member's tier changes, newest first."""
    return TierChange.objects.filter(member=member).order_by("-at", "-id")
