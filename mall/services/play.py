"""Daily tasks, badges and the check-in streak's free draw (issue 11).

They read metrics of several apps below (check-ins, behaviours and orders in ``points``,
redemptions in ``catalog``, invitees in ``referrals``), so they live here, in ``mall``, and react
to ``common.events.member_activity``: the services that record an activity announce it, and
``on_activity`` runs after that transaction commits.

Once only. A task is completed once per member and period (``mall_task_once_a_period``), a badge
earned once per member and period (``mall_badge_once_a_period``; the period is ``all`` unless the
badge recurs monthly), and a streak's free draw once per streak (the ticket's unique key). Their
points go through the ledger under keys derived from the same triple, so a duplicate event, a
concurrent run or the nightly job catching up can neither award twice nor pay twice. An award is
decided under the member's row lock (the project's first lock), re-checked there, then written.

Periods are local (Asia/Shanghai) days and Monday-to-Sunday weeks; a calendar month for badges.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.postgres.expressions import ArraySubquery
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Max, OuterRef, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_noop

from catalog import services as catalog_services
from catalog.models import Redemption, RedemptionStatus
from common.text import clip, stored_text
from mall.models import (
    Badge,
    BadgeAward,
    BadgeMetric,
    BadgePeriod,
    Member,
    Task,
    TaskBehaviour,
    TaskCompletion,
    TaskPeriod,
)
from mall.play_models import CAPPED_BEHAVIOURS
from mall.services import messages
from points import services as ledger
from points.models import BehaviourRecord, CheckIn, Entry, EntryKind, Order
from points.services import earning
from points.services._cursor import prepared_cursor
from points.services.lock_objects import lock_member
from referrals.models import Node

logger = logging.getLogger(__name__)

# The action of a task's bonus in the behaviour records (not one of the rule set's behaviours).
TASK_ACTION = "task"


# --------------------------------------------------------------------------- periods


def local_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """[start, end) of the local days ``first`` to ``last``."""
    tz = timezone.get_current_timezone()
    return (timezone.make_aware(datetime.combine(first, time.min), tz),
            timezone.make_aware(datetime.combine(last + timedelta(days=1), time.min), tz))


@dataclass(frozen=True)
class Period:
    key: str  # "2026-12-02" or "2026-W49"
    first: date
    last: date


def task_period(period: str, day: date) -> Period:
    if period == TaskPeriod.WEEK:
        first = day - timedelta(days=day.weekday())
        year, week, _weekday = day.isocalendar()
        return Period(f"{year}-W{week:02d}", first, first + timedelta(days=6))
    return Period(day.isoformat(), day, day)


# --------------------------------------------------------------------------- tasks


def open_tasks(now: datetime, behaviour: str | None = None, *, segment: str | None = None) -> list[Task]:
    """The tasks open at ``now`` (of ``behaviour``); with ``segment``, only those offered to a
    member of that RFM segment (``Member.segment``: a task naming segments is for them only)."""
    tasks = Task.objects.filter(active=True)
    if behaviour is not None:
        tasks = tasks.filter(behaviour=behaviour)
    return [task for task in tasks if task.is_open(now) and (segment is None or task.admits(segment))]


def behaviour_count(member_id: int, behaviour: str, period: Period) -> int:
    """How many times the member did ``behaviour`` in ``period``."""
    if behaviour == TaskBehaviour.CHECK_IN:
        return CheckIn.objects.filter(member_id=member_id, day__range=(period.first, period.last)).count()
    if behaviour in CAPPED_BEHAVIOURS:
        return BehaviourRecord.objects.filter(member_id=member_id, action=behaviour,
                                              day__range=(period.first, period.last)).count()
    start, end = local_bounds(period.first, period.last)
    if behaviour == TaskBehaviour.REDEEM:
        return _own_redemptions(member_id).filter(created_at__gte=start, created_at__lt=end).count()
    if behaviour == TaskBehaviour.ORDER:
        return Order.objects.filter(member_id=member_id, paid_at__gte=start, paid_at__lt=end).count()
    raise ValueError(f"Unknown behaviour {behaviour!r}.")


def _own_redemptions(member_id: int | None = None):
    """Redemptions the member chose in the mall or won at auction: not cancelled, not a lottery
    prize."""
    rows = Redemption.objects.exclude(status=RedemptionStatus.CANCELLED).exclude(key__startswith="draw:")
    return rows if member_id is None else rows.filter(member_id=member_id)


@dataclass(frozen=True)
class TaskProgress:
    task: Task
    period: Period
    progress: int  # capped at the target
    completed: bool
    points_awarded: int | None  # what the completion posted; None before it


def tasks_today(member: Member, *, now: datetime | None = None) -> list[TaskProgress]:
    """The open tasks offered to the member (their RFM segment) with their progress in their
    current period."""
    now = now or timezone.now()
    day = timezone.localdate(now)
    tasks = open_tasks(now, segment=member.segment)
    periods = {task.pk: task_period(task.period, day) for task in tasks}
    done = {(c.task_id, c.period): c for c in TaskCompletion.objects.filter(
        member_id=member.pk, task__in=tasks, period__in={p.key for p in periods.values()})}
    counts: dict[tuple[str, str], int] = {}
    out = []
    for task in tasks:
        period = periods[task.pk]
        completion = done.get((task.pk, period.key))
        if (task.behaviour, period.key) not in counts:
            counts[task.behaviour, period.key] = behaviour_count(member.pk, task.behaviour, period)
        progress = min(counts[task.behaviour, period.key], task.target)
        out.append(TaskProgress(task, period, task.target if completion else progress,
                                completion is not None,
                                completion.points if completion is not None else None))
    return out


def award_tasks(member_id: int, behaviour: str, *, now: datetime | None = None,
                tasks: list[Task] | None = None) -> list[TaskCompletion]:
    """Complete every open task of ``behaviour`` the member has reached the target of in its
    current period and not completed yet; returns the completions made now. A task for other RFM
    segments than the member's is neither offered nor completed. ``tasks``: the active tasks of
    ``behaviour`` if the caller has read them already (``on_activity``)."""
    now = now or timezone.now()
    tasks = open_tasks(now, behaviour) if tasks is None else [task for task in tasks if task.is_open(now)]
    if not tasks:  # the common case: nothing to complete, and no need to read the member
        return []
    day = timezone.localdate(now)
    made = []
    segment = Member.objects.filter(pk=member_id).values_list("segment", flat=True).first() or ""
    for task in tasks:
        if not task.admits(segment):
            continue
        period = task_period(task.period, day)
        if TaskCompletion.objects.filter(task=task, member_id=member_id, period=period.key).exists():
            continue
        if behaviour_count(member_id, behaviour, period) < task.target:
            continue
        completion = _complete(member_id, task, period, now)
        if completion is not None:
            made.append(completion)
    return made


def _complete(member_id: int, task: Task, period: Period, now: datetime) -> TaskCompletion | None:
    with transaction.atomic():
        lock_member(member_id)
        if TaskCompletion.objects.filter(task=task, member_id=member_id, period=period.key).exists():
            return None  # a concurrent run completed it while we waited for the lock
        member = Member.objects.get(pk=member_id)
        if not task.admits(member.segment):
            return None  # the nightly scoring moved them out of the task's segments meanwhile
        key = f"task:{task.pk}:{period.key}:{member_id}"
        reason = clip(stored_text(gettext_noop("Task completed: %(task)s"), task=task.name), 255)
        if task.behaviour in CAPPED_BEHAVIOURS:
            record = earning.earn_behaviour_bonus(member, task.points, key=key, action=TASK_ACTION,
                                                  reason=reason, now=now)
            points, entry = record.points, record.entry
        else:
            entry = ledger.earn(member, task.points, key=key, reason=reason,
                                reference=f"task:{task.pk}")
            points = task.points
        return TaskCompletion.objects.create(task=task, member_id=member_id, period=period.key,
                                             points=points, entry=entry, completed_at=now)


# --------------------------------------------------------------------------- badges


def badge_window(badge: Badge, now: datetime) -> tuple[str, datetime | None]:
    """The badge's period key and the start of the time its metric counts (None: all time)."""
    if badge.period == BadgePeriod.MONTH:
        day = timezone.localdate(now)
        return day.strftime("%Y-%m"), local_bounds(day.replace(day=1), day)[0]
    if badge.period == BadgePeriod.ROLLING:
        return "all", now - timedelta(days=badge.period_days)
    return "all", None


def _metric_rows(metric: str, since: datetime | None):
    """A queryset of ``{"member_id", "value"}``: the metric per member since ``since``."""
    if metric == BadgeMetric.POINTS_EARNED:
        # Earnings less what refunds took back of them.
        rows = Entry.objects.filter(Q(kind=EntryKind.EARN)
                                    | Q(kind=EntryKind.REVERSE, reverses__kind=EntryKind.EARN))
        if since is not None:
            rows = rows.filter(created_at__gte=since)
        return rows.values(member_id=F("account__member_id")).annotate(value=Sum("delta"))
    if metric == BadgeMetric.REDEMPTIONS:
        rows = _own_redemptions()
        if since is not None:
            rows = rows.filter(created_at__gte=since)
        return rows.values("member_id").annotate(value=Count("id"))
    if metric == BadgeMetric.CHECK_IN_STREAK:
        rows = CheckIn.objects.all()
        if since is not None:
            rows = rows.filter(day__gte=timezone.localdate(since))
        return rows.values("member_id").annotate(value=Max("streak"))
    if metric == BadgeMetric.ORDERS:
        rows = Order.objects.all()
        if since is not None:
            rows = rows.filter(paid_at__gte=since)
        return rows.values("member_id").annotate(value=Count("id"))
    if metric == BadgeMetric.INVITEES:
        rows = Node.objects.filter(inviter__isnull=False)
        if since is not None:
            rows = rows.filter(invited_at__gte=since)
        return rows.values(member_id=F("inviter_id")).annotate(value=Count("pk"))
    raise ValueError(f"Unknown metric {metric!r}.")


def metric_value(member_id: int, metric: str, since: datetime | None) -> int:
    rows = list(_metric_rows(metric, since).filter(member_id=member_id).order_by()[:1])
    return int(rows[0]["value"] or 0) if rows else 0


# The metrics an activity can move (points_earned: most activities earn).
METRICS_OF = {
    "check_in": (BadgeMetric.CHECK_IN_STREAK, BadgeMetric.POINTS_EARNED),
    "behaviour": (BadgeMetric.POINTS_EARNED,),
    "order": (BadgeMetric.ORDERS, BadgeMetric.POINTS_EARNED),
    "redemption": (BadgeMetric.REDEMPTIONS,),
    "invitee": (BadgeMetric.INVITEES,),
}


def award_badges(member_id: int, *, metrics=None, now: datetime | None = None,
                 badges: list[Badge] | None = None) -> list[BadgeAward]:
    """Award the member every active badge (of ``metrics``, or all) whose condition they meet now
    and that they have not earned in its period; returns the awards made now. Reads the
    member's awards once and each (metric, window) once, however many badges share it.
    ``badges``: those active badges with the member's award periods (``earned_periods``) if the
    caller has read them already (``on_activity``)."""
    now = now or timezone.now()
    if badges is None:
        badges = Badge.objects.filter(active=True)
        if metrics is not None:
            badges = badges.filter(metric__in=list(metrics))
        # The member's award periods of each badge come with it: one round trip, not two.
        badges = list(badges.annotate(earned_periods=ArraySubquery(
            BadgeAward.objects.filter(member_id=member_id, badge=OuterRef("pk")).values("period"))))
    if not badges:
        return []
    earned = {(badge.pk, period) for badge in badges for period in badge.earned_periods}
    values: dict[tuple[str, datetime | None], int] = {}
    made = []
    for badge in badges:
        period, since = badge_window(badge, now)
        if (badge.pk, period) in earned:
            continue
        if (badge.metric, since) not in values:
            values[badge.metric, since] = metric_value(member_id, badge.metric, since)
        value = values[badge.metric, since]
        if value < badge.threshold:
            continue
        award = _award(member_id, badge, period, value, now)
        if award is not None:
            made.append(award)
    return made


def _award(member_id: int, badge: Badge, period: str, value: int, now: datetime) -> BadgeAward | None:
    with transaction.atomic():
        lock_member(member_id)
        try:
            with transaction.atomic():
                award = BadgeAward.objects.create(badge=badge, member_id=member_id, period=period,
                                                  value=value, points=badge.points, awarded_at=now)
        except IntegrityError:
            return None  # awarded meanwhile (a concurrent event, or the nightly job)
        if badge.points:
            ledger.earn(Member(pk=member_id), badge.points, key=_badge_key(badge, period, member_id),
                        reason=_badge_reason(badge), reference=f"badge:{badge.code}")
        messages.send_many("badge_earned", [_badge_message(badge, period, member_id)], now=now)
    return award


def _badge_key(badge: Badge, period: str, member_id: int) -> str:
    return f"{_badge_key_prefix(badge, period)}:{member_id}"


def _badge_key_prefix(badge: Badge, period: str) -> str:
    return f"badge:{badge.pk}:{period}"


def _badge_reason(badge: Badge) -> str:
    return clip(stored_text(gettext_noop("Badge earned: %(badge)s"), badge=badge.name), 255)


def _badge_message(badge: Badge, period: str, member_id: int) -> messages.Outgoing:
    return messages.Outgoing(member_id, f"{badge.code}:{period}",
                             {"badge": {"zh-hans": badge.name, "en": badge.name_en or badge.name}})


def award_due_badges(*, now: datetime | None = None, badges=None) -> dict:
    """The nightly job: award every active badge to every member who meets its condition and
    has not earned it in its period — what the events missed (period conditions, points from
    grants and prizes, a listener that failed). Set-based: per badge one INSERT ... SELECT of the
    qualifying members (``ON CONFLICT DO NOTHING``), one ``earn_many`` and one ``send_many``.
    Running it again awards nothing more. ``badges``: only these (the admin's "award now").
    Returns ``{"badges", "awarded"}``."""
    now = now or timezone.now()
    awarded = 0
    badges = list((badges if badges is not None else Badge.objects.all()).filter(active=True))
    for badge in badges:
        period, since = badge_window(badge, now)
        rows = _metric_rows(badge.metric, since).filter(value__gte=badge.threshold)
        sql, params = rows.query.sql_with_params()
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO mall_badgeaward (badge_id, member_id, period, value, points, awarded_at) "
                    f"SELECT %s, q.member_id, %s, q.value, %s, %s FROM ({sql}) q "
                    f"ON CONFLICT (badge_id, member_id, period) DO NOTHING RETURNING member_id",
                    [badge.pk, period, badge.points, now, *params],
                )
                members = [row[0] for row in cursor.fetchall()]
            if badge.points and members:
                ledger.earn_many([(member_id, badge.points) for member_id in members],
                                 key_prefix=_badge_key_prefix(badge, period),
                                 reason=_badge_reason(badge), reference=f"badge:{badge.code}")
            messages.send_many("badge_earned", (_badge_message(badge, period, m) for m in members),
                               now=now)
        awarded += len(members)
    return {"badges": len(badges), "awarded": awarded}


@dataclass(frozen=True)
class BadgeStanding:
    badge: Badge
    award: BadgeAward | None  # the latest, for a monthly badge
    progress: int  # the metric now, in the badge's current window


def badges_of(member: Member, *, now: datetime | None = None) -> list[BadgeStanding]:
    """Every active badge with the member's latest award of it (if any) and progress now; badges
    no longer active stay listed where the member earned them."""
    now = now or timezone.now()
    latest: dict[int, BadgeAward] = {}
    for award in BadgeAward.objects.filter(member_id=member.pk).select_related("badge").order_by("id"):
        latest[award.badge_id] = award
    badges = {badge.pk: badge for badge in Badge.objects.filter(active=True)}
    badges.update({award.badge_id: award.badge for award in latest.values()})
    values: dict[tuple[str, datetime | None], int] = {}
    out = []
    for badge in sorted(badges.values(), key=lambda b: (b.position, b.pk)):
        window = (badge.metric, badge_window(badge, now)[1])
        if window not in values:
            values[window] = metric_value(member.pk, *window)
        out.append(BadgeStanding(badge, latest.get(badge.pk), values[window]))
    return out


# --------------------------------------------------------------------------- the streak's free draw


def grant_streak_draws(member_id: int, *, streak: int, day: date, now: datetime | None = None) -> int:
    """Free draws for a check-in streak (``catalog.services.grant_streak_draws``), each with a
    message; returns how many were granted."""
    now = now or timezone.now()
    with transaction.atomic():
        tickets = catalog_services.grant_streak_draws(member_id, streak=streak, day=day, now=now)
        messages.send_many("free_draw", (
            messages.Outgoing(member_id, ticket.key, {
                "days": ticket.lottery.streak_days, "lottery": ticket.lottery.name,
                "lottery_id": str(ticket.lottery_id),
            }) for ticket in tickets), now=now)
    return len(tickets)


# --------------------------------------------------------------------------- the listener

BEHAVIOUR_OF = {"check_in": TaskBehaviour.CHECK_IN, "order": TaskBehaviour.ORDER,
                "redemption": TaskBehaviour.REDEEM}


_TASK_FIELDS = [field.attname for field in Task._meta.concrete_fields]
_BADGE_FIELDS = [field.attname for field in Badge._meta.concrete_fields]
_ACTIVE_TASKS = (
    f"SELECT {', '.join(Task._meta.get_field(name).column for name in _TASK_FIELDS)} "
    f"FROM {Task._meta.db_table} WHERE active AND behaviour = %s ORDER BY position, id"
)
_ACTIVE_BADGES = (
    f"SELECT {', '.join('b.' + Badge._meta.get_field(name).column for name in _BADGE_FIELDS)}, "
    f"ARRAY(SELECT a.period FROM {BadgeAward._meta.db_table} a "
    "WHERE a.member_id = %s AND a.badge_id = b.id) "
    f"FROM {Badge._meta.db_table} b WHERE b.active AND b.metric = ANY(%s) ORDER BY b.position, b.id"
)


def _definitions(member_id: int, behaviour: str | None, metrics) -> tuple[list[Task], list[Badge]]:
    """The active tasks of ``behaviour`` and the active badges of ``metrics`` with the member's
    award periods (what ``award_tasks`` and ``award_badges`` read first), in one round trip:
    two raw statements in one psycopg pipeline. Every activity pays this after its commit (a
    redemption's listener was two thirds of its time, bench/bench_redemption.py), and mostly it
    finds no task and a badge already earned."""
    with prepared_cursor() as task_cursor, prepared_cursor() as badge_cursor:
        with connection.wrap_database_errors, connection.connection.pipeline():
            if behaviour is not None:
                task_cursor.execute(_ACTIVE_TASKS, [behaviour])
            badge_cursor.execute(_ACTIVE_BADGES, [member_id, list(metrics)])
        task_rows = task_cursor.fetchall() if behaviour is not None else []
        badge_rows = badge_cursor.fetchall()
    tasks = [Task.from_db(connection.alias, _TASK_FIELDS, row) for row in task_rows]
    badges = []
    for row in badge_rows:
        badge = Badge.from_db(connection.alias, _BADGE_FIELDS, row[:-1])
        badge.earned_periods = row[-1]
        badges.append(badge)
    return tasks, badges


def on_activity(sender: str, member_id: int, **details) -> None:
    """``common.events.member_activity``'s listener: tasks (in the period of the activity's own
    time), the streak's draw, then badges."""
    at = details.get("at") or timezone.now()
    behaviour = BEHAVIOUR_OF.get(sender)
    if sender == "behaviour" and details.get("action") in CAPPED_BEHAVIOURS:
        behaviour = details["action"]
    tasks, badges = _definitions(member_id, behaviour, METRICS_OF[sender])
    if behaviour is not None:
        award_tasks(member_id, behaviour, now=at, tasks=tasks)
    if sender == "check_in":
        grant_streak_draws(member_id, streak=details["streak"], day=details["day"], now=at)
    award_badges(member_id, metrics=METRICS_OF[sender], now=at, badges=badges)
