"""Which models the audit trail (``common.audit``) records by themselves: the configuration staff
edit in the console, registered with django-auditlog so every admin save and deletion keeps its
old -> new values. ``install`` runs once from ``MallConfig.ready``.

Left out on purpose, because members and jobs write them all day and their staff-driven changes
are recorded by the services instead (``points.adjustment``, ``stock.adjustment``,
``redemption.*``, ``broadcast.send``...): the ledger (entries, lots, holds, orders), redemptions,
draws, bids, sessions, the inbox, task completions and badge awards, the RFM scores and reports.

On the registered models:
- counters and bookkeeping that services or jobs move (stock, sold, last_login, last_active_at,
  a channel's last import, an auction's leading bid...) are excluded: a record per sign-in or per
  redemption would drown the staff's writes;
- secrets (the password hash) and personal data are masked (``common.audit.mask``): the record
  says a password, a phone or an address changed, never what it was or became;
- only staff writes are recorded (``common.audit.staff_writes_only``): a member editing their own
  profile, or a job, writes no record here.
"""

from __future__ import annotations

from auditlog.registry import auditlog
from auditlog.signals import pre_log
from django.db.models.signals import pre_save

from common import audit

MASK = "common.audit.mask"
PERSONAL_MEMBER_FIELDS = ["phone", "email", "first_name", "last_name", "nickname"]
PERSONAL_ADDRESS_FIELDS = ["recipient", "phone", "region", "detail"]


def registrations():
    """(model, options) for every model the trail records by itself."""
    from django.contrib.auth.models import Group
    from django_celery_beat.models import (
        ClockedSchedule,
        CrontabSchedule,
        IntervalSchedule,
        PeriodicTask,
        SolarSchedule,
    )

    from catalog.auction_models import Auction
    from catalog.channel_models import Channel
    from catalog.models import Category, CouponCode, Lottery, Prize, Product, ProductImage
    from catalog.payment_models import Address
    from catalog.supply_models import PurchaseOrder, PurchaseOrderLine, Receipt, ReceiptLine, Supplier
    from mall.models import Broadcast, Member, MessageTemplate
    from mall.play_models import Badge, Task
    from mall.rfm_models import RfmSettings
    from referrals.models import Merchant, Node, RewardPlan
    from rules.models import BehaviourRule, CategoryBonus, CheckInStep, RuleSet, SpendTier, TierRule

    plain = {}
    return [
        # Staff accounts and groups: who may do what is the first thing an auditor asks.
        # The password hash is masked, not left out: who changed whose password is recorded.
        # The blind indexes are left out with the values they index (common.pii).
        (Member, {"exclude_fields": ["last_login", "last_active_at", "tokens_valid_after", "segment",
                                     "phone_index", "email_index"],
                  "mask_fields": [*PERSONAL_MEMBER_FIELDS, "password"], "mask_callable": MASK,
                  "m2m_fields": {"groups", "user_permissions"}}),
        (Group, {"m2m_fields": {"permissions"}}),
        # Rules and plans: the draft's edits here, publishing as rules.publish / referrals.plan_publish.
        (RuleSet, {"exclude_fields": ["updated_at"]}),
        (TierRule, plain), (CategoryBonus, plain), (SpendTier, plain), (BehaviourRule, plain),
        (CheckInStep, plain),
        (RewardPlan, {"exclude_fields": ["updated_at"]}),
        (Merchant, plain),
        (Node, {"include_fields": ["inviter", "leader", "is_leader"]}),
        # Catalog: stock and sold move with every redemption (stock.adjustment records staff's).
        (Product, {"exclude_fields": ["stock", "sold", "updated_at"]}),
        (ProductImage, {"exclude_fields": ["thumbnail_400", "thumbnail_800", "width", "height"]}),
        (Category, plain),
        (CouponCode, {"exclude_fields": ["redemption", "assigned_at", "used_at", "valid_until"]}),
        (Channel, {"exclude_fields": ["last_import_at", "last_import_ok", "last_import_summary",
                                      "last_sync_at", "last_sync_ok", "last_sync_summary"]}),
        (Supplier, plain), (PurchaseOrder, plain), (PurchaseOrderLine, {"exclude_fields": ["received",
                                                                                         "defective"]}),
        (Receipt, plain), (ReceiptLine, plain),
        (Address, {"mask_fields": PERSONAL_ADDRESS_FIELDS, "mask_callable": MASK,
                   "exclude_fields": ["phone_index"]}),
        # Campaigns.
        (Lottery, plain), (Prize, {"exclude_fields": ["stock"]}),  # restocking: stock.prize_restock
        (Auction, {"exclude_fields": ["leading_bid", "winner", "winning_bid", "redemption", "status",
                                      "close_note", "closed_at"]}),
        (Task, plain), (Badge, plain), (RfmSettings, {"exclude_fields": ["updated_at"]}),
        # Messages: the templates and broadcast drafts; sending is broadcast.send.
        (MessageTemplate, {"exclude_fields": ["updated_at"]}),
        (Broadcast, {"exclude_fields": ["sent_at", "recipients"]}),
        # The schedules of the jobs (beat moves the run counters, not staff).
        (PeriodicTask, {"exclude_fields": ["last_run_at", "total_run_count", "date_changed"]}),
        (CrontabSchedule, plain), (IntervalSchedule, plain), (SolarSchedule, plain),
        (ClockedSchedule, plain),
    ]


def install() -> None:
    from auditlog.models import LogEntry

    for model, options in registrations():
        if not auditlog.contains(model):
            auditlog.register(model, **options)
    pre_log.connect(audit.staff_writes_only, dispatch_uid="common.audit.staff_writes_only")
    pre_save.connect(audit.name_the_event, sender=LogEntry, dispatch_uid="common.audit.name_the_event")


# --------------------------------------------------------------------------- after migrate

# The trail's retention job, in the schedule staff see in the console (like mall 0005's jobs;
# created here because the schedule rows are data, kept by a post_migrate handler).
PURGE_JOB = ("Purge the audit trail past AUDIT_RETENTION_DAYS (daily 04:45)", "mall.purge_audit_trail",
             ("45", "4"))
# What the auditor group needs for the trail: reading it (its CSV export is a view too).
AUDITOR_PERMISSIONS = [("auditlog", "view_logentry")]


def after_migrate(sender, using="default", **kwargs):
    """``post_migrate`` of ``mall``: the auditor group may read (search, export) the audit trail,
    and the retention job is scheduled. Idempotent: adds only what is missing, so re-running
    ``migrate`` writes nothing (and so records nothing)."""
    from django.contrib.auth.models import Group, Permission
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    from points.services.reconciliation import AUDITOR_GROUP

    group, _created = Group.objects.using(using).get_or_create(name=AUDITOR_GROUP)
    wanted = Permission.objects.using(using).filter(
        content_type__app_label__in=[app for app, _codename in AUDITOR_PERMISSIONS],
        codename__in=[codename for _app, codename in AUDITOR_PERMISSIONS])
    missing = wanted.exclude(pk__in=group.permissions.values("pk"))
    if missing.exists():
        group.permissions.add(*missing)

    name, task, (minute, hour) = PURGE_JOB
    if not PeriodicTask.objects.using(using).filter(task=task).exists():
        schedule, _created = CrontabSchedule.objects.using(using).get_or_create(
            minute=minute, hour=hour, day_of_month="*", month_of_year="*", day_of_week="*",
            timezone="Asia/Shanghai")
        PeriodicTask.objects.using(using).create(name=name, task=task, crontab=schedule, enabled=True)
