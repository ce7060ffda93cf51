"""The points ledger.

Points are integers. Every total on an account is a cache of the lots, holds and entries below,
and the database refuses a state that breaks the invariants (CHECK constraints, a unique key per
posting, a trigger that makes entries append-only). Only ``points.services`` writes these rows.

The member's *total* is ``available + pending + held - debt``; an entry's ``delta`` is the change
it made to that total and ``balance_after`` the total after it, so the deltas of an account always
sum to its total. Moves between buckets (hold, release, activate) have a delta of 0.

Every row carries its ``account_id`` and every posting touches one account: the ledger tables are
hash-partitioned by account (``points/migrations/0013_partition_ledger.py``), and the same shape
lets Citus distribute them (``docs/scaling.md``, ``points.distribution``). An account's id is its
member's id; in the database every primary key is ``(account_id, id)`` and every unique key and
foreign key between ledger tables carries the account (Django sees the single ``id``).
"""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Account(models.Model):
    member = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="points_account",
        verbose_name=_("member"),
        # In the database the foreign key is on ``id`` (= ``member_id``, the CHECK below), so it
        # carries the partition key: ``points_account_member_fk``, migration 0013.
        db_constraint=False,
    )
    available = models.BigIntegerField(_("available"), default=0)
    pending = models.BigIntegerField(_("pending"), default=0, help_text=_("Earned, not yet usable."))
    held = models.BigIntegerField(_("held"), default=0, help_text=_("Reserved by open holds."))
    debt = models.BigIntegerField(_("debt"), default=0, help_text=_("Clawed back, not yet recovered."))
    lifetime_earned = models.BigIntegerField(_("lifetime earned"), default=0)
    lifetime_spent = models.BigIntegerField(_("lifetime spent"), default=0)
    lifetime_expired = models.BigIntegerField(_("lifetime expired"), default=0)

    class Meta:
        verbose_name = _("points account")
        verbose_name_plural = _("points accounts")
        permissions = [("adjust_points", _("Can adjust members' points"))]
        indexes = [models.Index(fields=["member"], name="points_account_member")]
        constraints = [
            # The table is partitioned by id, where UNIQUE (member_id) is not allowed: an account's
            # id is its member's, so the primary key keeps one account per member.
            models.CheckConstraint(condition=Q(id=F("member")), name="points_account_id_is_member"),
            models.CheckConstraint(
                condition=Q(available__gte=0)
                & Q(pending__gte=0)
                & Q(held__gte=0)
                & Q(debt__gte=0)
                & Q(lifetime_earned__gte=0)
                & Q(lifetime_spent__gte=0)
                & Q(lifetime_expired__gte=0),
                name="points_account_totals_non_negative",
            )
        ]

    def __str__(self):
        return f"{self.member} ({self.available})"

    def save(self, *args, **kwargs):
        if self.pk is None:  # the account of a member is numbered as the member
            self.pk = self.member_id
            kwargs.setdefault("force_insert", True)
        super().save(*args, **kwargs)

    @property
    def total(self) -> int:
        return self.available + self.pending + self.held - self.debt


class EntryKind(models.TextChoices):
    EARN = "earn", _("Earn")
    SPEND = "spend", _("Spend")
    HOLD = "hold", _("Hold")
    CAPTURE = "capture", _("Capture")
    RELEASE = "release", _("Release")
    EXPIRE = "expire", _("Expire")
    REVERSE = "reverse", _("Reverse")
    ADJUST = "adjust", _("Adjust")
    ACTIVATE = "activate", _("Activate")
    # Everything left on a closed account (points.services.forfeit): its lots emptied, debt
    # written off; counted in none of the lifetime totals.
    FORFEIT = "forfeit", _("Forfeit")


class Entry(models.Model):
    """One journal row per posting; never updated or deleted (a trigger enforces it)."""

    # No index of its own: the primary key (account_id, id) leads with the account.
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries",
                                db_index=False)
    # Unique per account (``points_entry_account_key``): the same key on another member's posting
    # is another posting.
    key = models.CharField(_("idempotency key"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=EntryKind.choices)
    delta = models.BigIntegerField(_("delta"))
    balance_after = models.BigIntegerField(_("balance after"))
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    # The message ids and parameters ``reason`` was made from, to show it in the reader's language
    # (``common.text.render``); empty for reasons typed by staff and rows older than it.
    reason_message = models.JSONField(_("reason message"), null=True, blank=True, editable=False)
    reference = models.CharField(_("reference"), max_length=100, blank=True, db_index=True)
    # Hash of the caller's arguments: a retry with the same key must bring the same arguments.
    fingerprint = models.CharField(max_length=64, blank=True)
    # The foreign keys between ledger tables are (account_id, ...) -> (account_id, id) in the
    # database (migration 0013), which Django cannot express: ``db_constraint=False`` here.
    reverses = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversals",
        db_constraint=False,
    )
    hold = models.ForeignKey(
        "Hold", on_delete=models.PROTECT, null=True, blank=True, related_name="entries",
        db_constraint=False,
    )
    rule_version = models.CharField(_("rule version"), max_length=32, blank=True)
    explanation = models.JSONField(_("explanation"), null=True, blank=True)
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("staff"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("entry")
        verbose_name_plural = _("entries")
        constraints = [
            models.UniqueConstraint(fields=["account", "key"], name="points_entry_account_key"),
        ]
        indexes = [
            # The primary key is (account_id, id): lookups by id alone (admin, replays).
            models.Index(fields=["id"], name="points_entry_id"),
            # An account's recent entries: the primary key (account_id, id), read backwards.
            # The reports' time ranges (mall.reports): entries are appended in time order, so a
            # BRIN index is a few pages and skips the rest of the table.
            BrinIndex(fields=["created_at"], name="points_entry_created_brin"),
        ]

    def __str__(self):
        return f"{self.kind} {self.delta:+d} ({self.key})"


class Lot(models.Model):
    """A credit, consumed soonest-expiring first; ``remaining`` excludes what holds reserve."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="lots",
                                db_index=False)  # the primary key (account_id, id) leads with it
    entry = models.ForeignKey(Entry, on_delete=models.PROTECT, related_name="lots", db_constraint=False)
    amount = models.BigIntegerField(_("amount"))
    remaining = models.BigIntegerField(_("remaining"))
    pending = models.BooleanField(_("pending"), default=False)
    available_at = models.DateTimeField(_("available at"))
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("lot")
        verbose_name_plural = _("lots")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="points_lot_amount_positive"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=F("amount")),
                name="points_lot_remaining_within_amount",
            ),
        ]
        indexes = [
            models.Index(fields=["id"], name="points_lot_id"),
            # Spending order: soonest expiry first, then oldest.
            models.Index(
                F("account"),
                F("expires_at").asc(nulls_last=True),
                F("id"),
                name="points_lot_spend_order",
                condition=Q(remaining__gt=0),
            ),
            models.Index(
                fields=["account", "expires_at"],
                name="points_lot_due_expiry",
                condition=Q(remaining__gt=0, expires_at__isnull=False),
            ),
            models.Index(
                fields=["account", "available_at"],
                name="points_lot_due_activation",
                condition=Q(pending=True),
            ),
        ]

    def __str__(self):
        return f"lot {self.id}: {self.remaining}/{self.amount}"


class HoldStatus(models.TextChoices):
    HELD = "held", _("Held")
    CAPTURED = "captured", _("Captured")
    RELEASED = "released", _("Released")
    EXPIRED = "expired", _("Expired")


class Hold(models.Model):
    """Points reserved for a pending checkout or bid; resolves at most once."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="holds",
                                db_index=False)  # the primary key (account_id, id) leads with it
    amount = models.BigIntegerField(_("amount"))
    captured = models.BigIntegerField(_("captured"), default=0)
    status = models.CharField(
        _("status"), max_length=16, choices=HoldStatus.choices, default=HoldStatus.HELD
    )
    reference = models.CharField(_("reference"), max_length=100, blank=True, db_index=True)
    expires_at = models.DateTimeField(_("deadline"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("hold")
        verbose_name_plural = _("holds")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="points_hold_amount_positive"),
            models.CheckConstraint(
                condition=Q(captured__gte=0) & Q(captured__lte=F("amount")),
                name="points_hold_captured_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(status="held", resolved_at__isnull=True)
                | (~Q(status="held") & Q(resolved_at__isnull=False)),
                name="points_hold_resolved_when_not_held",
            ),
        ]
        indexes = [
            models.Index(fields=["expires_at"], name="points_hold_open_deadline",
                         condition=Q(status="held")),
            models.Index(fields=["id"], name="points_hold_id"),
        ]

    def __str__(self):
        return f"hold {self.id}: {self.amount} {self.status}"


class Allocation(models.Model):
    """How many points of which lot an entry or a hold took (or gave back)."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+",
                                db_index=False)  # the primary key (account_id, id) leads with it
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="allocations",
                            db_constraint=False)
    entry = models.ForeignKey(
        Entry, on_delete=models.PROTECT, null=True, blank=True, related_name="allocations",
        db_constraint=False,
    )
    hold = models.ForeignKey(
        Hold, on_delete=models.PROTECT, null=True, blank=True, related_name="allocations",
        db_constraint=False,
    )
    amount = models.BigIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="points_allocation_positive"),
            models.CheckConstraint(
                condition=Q(entry__isnull=False) | Q(hold__isnull=False),
                name="points_allocation_has_owner",
            ),
        ]

    def __str__(self):
        return f"{self.amount} of lot {self.lot_id}"


class Refusal(models.Model):
    """A refused posting, kept so a retry under the same key is refused the same way."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+",
                                db_index=False)  # the primary key (account_id, id) leads with it
    key = models.CharField(max_length=200)  # unique per account, as an entry's
    fingerprint = models.CharField(max_length=64)
    code = models.CharField(max_length=40)
    message = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # The daily prune deletes refusals past the key retention (``policy.KEY_RETENTION``).
        indexes = [models.Index(fields=["created_at"], name="points_refusal_created")]
        constraints = [
            models.UniqueConstraint(fields=["account", "key"], name="points_refusal_account_key"),
        ]

    def __str__(self):
        return f"{self.key}: {self.code}"


class Order(models.Model):
    """A paid order reported by the shop, kept so refunds find it and simulations replay it."""

    external_id = models.CharField(_("order id"), max_length=64, unique=True)
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders",
        verbose_name=_("member"),
    )
    # The tier when it was paid: what its points were (and a re-evaluation must be) based on.
    tier = models.CharField(_("tier"), max_length=16)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    refunded_amount = models.DecimalField(
        _("refunded amount"), max_digits=12, decimal_places=2, default=0
    )
    paid_at = models.DateTimeField(_("paid at"), db_index=True)
    entry = models.OneToOneField(
        Entry, on_delete=models.PROTECT, null=True, blank=True, related_name="order",
        verbose_name=_("earn entry"),
        # (member_id, entry_id) -> (account_id, id) in the database (migration 0013).
        db_constraint=False,
    )
    created_at = models.DateTimeField(_("received at"), default=timezone.now)

    class Meta:
        verbose_name = _("paid order")
        verbose_name_plural = _("paid orders")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="points_order_amount_non_negative"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=F("amount")),
                name="points_order_refund_within_amount",
            ),
        ]

    def __str__(self):
        return f"{self.external_id} ({self.amount})"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    sku = models.CharField(_("SKU"), max_length=64)
    categories = ArrayField(models.CharField(max_length=32), default=list, blank=True,
                            verbose_name=_("categories"))
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    quantity = models.PositiveIntegerField(_("quantity"), default=1)

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="points_order_line_amount_non_negative"),
        ]

    def __str__(self):
        return f"{self.sku} {self.amount}"


class Refund(models.Model):
    """One refund of a paid order as the shop reported it, kept under its idempotency key."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds",
                              verbose_name=_("order"))
    key = models.CharField(_("idempotency key"), max_length=180, unique=True)
    amount = models.DecimalField(_("refund amount"), max_digits=12, decimal_places=2)
    # What the refund counted for after capping at the order amount (0 once fully refunded).
    applied_amount = models.DecimalField(_("applied amount"), max_digits=12, decimal_places=2)
    points_reversed = models.BigIntegerField(_("points reversed"), default=0)
    entry = models.OneToOneField(
        Entry, on_delete=models.PROTECT, null=True, blank=True, related_name="refund",
        verbose_name=_("reverse entry"),
        # No member on the row to reference the partitioned entries with: no foreign key
        # (``docs/scaling.md``: checked by the tests, not by the database).
        db_constraint=False,
    )
    created_at = models.DateTimeField(_("received at"), default=timezone.now)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="points_refund_amount_positive"),
            models.CheckConstraint(
                condition=Q(applied_amount__gte=0) & Q(applied_amount__lte=F("amount")),
                name="points_refund_applied_within_amount",
            ),
            models.CheckConstraint(condition=Q(points_reversed__gte=0),
                                   name="points_refund_points_non_negative"),
        ]

    def __str__(self):
        return f"{self.order_id} -{self.amount}"


class BehaviourRecord(models.Model):
    """One behaviour event (review, share, register...) and what it earned, even when 0.

    The daily and lifetime limits and the daily cap count these rows, per local day of the event.
    """

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="behaviour_records",
        verbose_name=_("member"),
    )
    key = models.CharField(_("idempotency key"), max_length=180, unique=True)
    action = models.CharField(_("action"), max_length=32)
    day = models.DateField(_("day"), help_text=_("Local day (Asia/Shanghai) of the event."))
    occurred_at = models.DateTimeField(_("occurred at"))
    photo = models.BooleanField(_("with photo"), default=False)
    points = models.BigIntegerField(_("points"), default=0)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    entry = models.OneToOneField(
        Entry, on_delete=models.PROTECT, null=True, blank=True, related_name="behaviour",
        verbose_name=_("earn entry"),
        db_constraint=False,  # (member_id, entry_id) -> (account_id, id), migration 0013
    )
    created_at = models.DateTimeField(_("received at"), default=timezone.now)

    class Meta:
        verbose_name = _("behaviour record")
        verbose_name_plural = _("behaviour records")
        constraints = [
            models.CheckConstraint(condition=Q(points__gte=0), name="points_behaviour_points_non_negative"),
        ]
        indexes = [models.Index(fields=["member", "day"], name="points_behaviour_member_day")]

    def __str__(self):
        return f"{self.action} {self.day} +{self.points}"


class CheckIn(models.Model):
    """A member's daily check-in: at most one per local calendar day."""

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="check_ins",
        verbose_name=_("member"),
    )
    day = models.DateField(_("day"))
    streak = models.PositiveIntegerField(_("streak day"))
    points = models.BigIntegerField(_("points"), default=0)
    entry = models.OneToOneField(
        Entry, on_delete=models.PROTECT, null=True, blank=True, related_name="check_in",
        verbose_name=_("earn entry"),
        db_constraint=False,  # (member_id, entry_id) -> (account_id, id), migration 0013
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("check-in")
        verbose_name_plural = _("check-ins")
        constraints = [
            models.UniqueConstraint(fields=["member", "day"], name="points_check_in_once_a_day"),
            models.CheckConstraint(condition=Q(streak__gte=1) & Q(points__gte=0),
                                   name="points_check_in_streak_and_points"),
        ]

    def __str__(self):
        return f"{self.member_id} {self.day} #{self.streak}"


class ReconciliationRun(models.Model):
    """One run of the ledger reconciliation (``points.services.reconciliation``): when, how many
    accounts it checked, and what did not add up.

    ``mismatch_count`` is exact; ``mismatches`` keeps the first ``MISMATCHES_KEPT`` of them as
    ``{"account_id", "member_id", "check", "expected", "actual"}`` (plus ``entry_id`` where one
    entry is at fault). A run without ``finished_at`` is running, or died before it finished.
    """

    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    accounts_checked = models.PositiveBigIntegerField(_("accounts checked"), default=0)
    mismatch_count = models.PositiveBigIntegerField(_("mismatches"), default=0)
    mismatches = models.JSONField(_("mismatch details"), default=list, blank=True)

    class Meta:
        verbose_name = _("reconciliation run")
        verbose_name_plural = _("reconciliation runs")
        ordering = ["-started_at", "-id"]
        permissions = [("run_reconciliation", _("Can start a ledger reconciliation"))]
        constraints = [
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True) | Q(finished_at__gte=F("started_at")),
                name="points_reconciliation_finished_after_start",
            ),
        ]
        indexes = [
            # /healthz/ reads the latest finished run.
            models.Index(F("finished_at").desc(), F("id").desc(), name="points_recon_latest",
                         condition=Q(finished_at__isnull=False)),
        ]

    def __str__(self):
        return f"reconciliation {self.pk} ({self.mismatch_count})"

    @property
    def status(self) -> str:
        """``running`` (or died), ``ok`` or ``mismatch``."""
        if self.finished_at is None:
            return "running"
        return "mismatch" if self.mismatch_count else "ok"


class ReconciliationChunk(models.Model):
    """One account-id range of a reconciliation run checked by a worker of its own
    (``points.services.reconciliation.check_chunk``): the range's exact result, recorded once.

    The run's chunks are created with it; a chunk's result is written only while it has no
    ``finished_at`` (a second delivery of the chunk changes nothing), and the chunk that finds no
    other unfinished sums them all into the run and finishes it. ``lo``/``hi``: account ids
    ``lo <= id < hi``, null for no bound.
    """

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="chunks",
                            verbose_name=_("run"))
    number = models.PositiveIntegerField(_("number"))
    lo = models.BigIntegerField(_("from account id"), null=True, blank=True)
    hi = models.BigIntegerField(_("to account id (exclusive)"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    accounts_checked = models.PositiveBigIntegerField(_("accounts checked"), default=0)
    mismatch_count = models.PositiveBigIntegerField(_("mismatches"), default=0)
    mismatches = models.JSONField(_("mismatch details"), default=list, blank=True)

    class Meta:
        verbose_name = _("reconciliation chunk")
        verbose_name_plural = _("reconciliation chunks")
        ordering = ["run", "number"]
        constraints = [
            models.UniqueConstraint(fields=["run", "number"], name="points_recon_chunk_once"),
            models.CheckConstraint(condition=Q(lo__isnull=True) | Q(hi__isnull=True) | Q(lo__lt=F("hi")),
                                   name="points_recon_chunk_range"),
        ]

    def __str__(self):
        return f"reconciliation {self.run_id} chunk {self.number}"
