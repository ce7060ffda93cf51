"""Referral commerce (DESIGN.md 3.4, issue 9): the invite tree, the team tree, merchants (众店),
versioned reward plans (链动3+1) and the reward records they produce.

A member's ``Node`` holds both trees. The invite tree (``inviter``) is fixed when the member
binds an invite code and never changes; the node also stores the next two inviters up and its
depth, so an order's beneficiaries are read from one row, not found by walking the tree. The team
tree (``leader``) is reshaped only by the plan: an upgrade and its sliding (``referrals.services``).

Every write goes through ``referrals.services``; the database enforces what must always hold
(no self-invite, counters never negative, a leader belongs to no other team, shares within the
budget, the merchant's rebate within 3-20%, the level limit, one published plan).
"""

from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# China's anti-pyramid rules (禁止传销条例 Art. 7) make three levels of pay the criminal line:
# no plan, whatever it says, pays a beneficiary further above the buyer than this.
LEVEL_LIMIT = 3
MERCHANT_REBATE_MIN = Decimal("3")
MERCHANT_REBATE_MAX = Decimal("20")
code_validator = RegexValidator(r"^[A-Za-z0-9_-]{1,32}$", _("Use 1-32 letters, digits, - or _."))


class Node(models.Model):
    """A member's place in the invite tree and the team tree, with the counters the plan reads."""

    member = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
                                  related_name="referral", verbose_name=_("member"))
    invite_code = models.CharField(_("invite code"), max_length=16, unique=True)
    # The invite tree: fixed once bound.
    inviter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                blank=True, related_name="+", verbose_name=_("inviter"))
    inviter_2 = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                  blank=True, related_name="+", verbose_name=_("inviter's inviter"))
    inviter_3 = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                  blank=True, related_name="+", verbose_name=_("third inviter up"))
    depth = models.PositiveIntegerField(_("invite depth"), default=0,
                                        help_text=_("Inviters above this member (0: invited by no one)."))
    invited_at = models.DateTimeField(_("invited at"), null=True, blank=True)
    # The team tree: reshaped by upgrades and sliding.
    leader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                               blank=True, related_name="+", verbose_name=_("team leader"))
    is_leader = models.BooleanField(_("leader"), default=False)
    leader_since = models.DateTimeField(_("leader since"), null=True, blank=True)
    # Counters.
    qualified = models.BooleanField(
        _("qualified"), default=False,
        help_text=_("Has a paid order that is not fully refunded (counts for the inviter's upgrade)."),
    )
    direct_count = models.PositiveIntegerField(_("direct invitees"), default=0)
    qualified_direct_count = models.PositiveIntegerField(_("qualified direct invitees"), default=0)
    rewards_since_purchase = models.PositiveBigIntegerField(
        _("rewards since own last order"), default=0,
        help_text=_("Referral reward points since the member's own last paid order (repurchase)."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("referral position")
        verbose_name_plural = _("referral positions")
        indexes = [
            models.Index(fields=["inviter", "invited_at"], name="referrals_node_invitees"),
            models.Index(fields=["leader"], name="referrals_node_team"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(inviter=F("member")), name="referrals_no_self_invite"),
            models.CheckConstraint(
                condition=Q(inviter__isnull=False) | (Q(inviter_2__isnull=True) & Q(depth=0)),
                name="referrals_chain_from_inviter",
            ),
            models.CheckConstraint(condition=Q(inviter_2__isnull=False) | Q(inviter_3__isnull=True),
                                   name="referrals_chain_contiguous"),
            models.CheckConstraint(condition=Q(qualified_direct_count__lte=F("direct_count")),
                                   name="referrals_qualified_within_direct"),
            # A leader heads their own team and belongs to no one else's.
            models.CheckConstraint(condition=Q(is_leader=False) | Q(leader__isnull=True),
                                   name="referrals_leader_in_no_team"),
            models.CheckConstraint(condition=~Q(leader=F("member")), name="referrals_not_own_leader"),
        ]

    def __str__(self):
        return f"{self.member} ({self.invite_code})"


class Merchant(models.Model):
    """A shop in the mall (众店) that gives up ``rebate_percent`` of each sale (让利) to fund points."""

    code = models.CharField(_("code"), max_length=32, unique=True, validators=[code_validator],
                            help_text=_("The code the shop's order system sends with each order."))
    name = models.CharField(_("name"), max_length=100)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("owner"),
                              help_text=_("The member who receives the merchant share."))
    rebate_percent = models.DecimalField(
        _("rebate %"), max_digits=5, decimal_places=2,
        validators=[MinValueValidator(MERCHANT_REBATE_MIN), MaxValueValidator(MERCHANT_REBATE_MAX)],
        # xgettext:no-python-format
        help_text=_("让利比例: the share of each sale (3-20%) that funds the points of the order."),
    )
    active = models.BooleanField(_("active"), default=True,
                                 help_text=_("Orders naming an inactive merchant are refused."))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("merchant")
        verbose_name_plural = _("merchants")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(rebate_percent__gte=MERCHANT_REBATE_MIN, rebate_percent__lte=MERCHANT_REBATE_MAX),
                name="referrals_merchant_rebate_3_to_20",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"


class PlanStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")
    RETIRED = "retired", _("Retired")


class Rotation(models.TextChoices):
    PASS_UP = "pass_up", _("Pass up to the next eligible inviter")
    LAPSE = "lapse", _("Lapse")


def _percent(verbose, default, help_text, maximum=Decimal("100")):
    return models.DecimalField(
        verbose, max_digits=5, decimal_places=2, default=Decimal(default),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(maximum)], help_text=help_text,
    )


SHARE_FIELDS = ("direct_share", "team_share", "same_level_share", "buyer_share", "merchant_share")


class RewardPlan(models.Model):
    """A version of the reward plan: edited as a draft, published to replace the previous one.

    Rewards are shares of a funded budget (the merchant's rebate, or ``own_order_budget_percent``
    of the mall's own orders), so the shares can add up to at most 100% of it.
    """

    version = models.PositiveIntegerField(_("version"), unique=True, editable=False)
    name = models.CharField(_("name"), max_length=100)
    status = models.CharField(_("status"), max_length=16, choices=PlanStatus.choices,
                              default=PlanStatus.DRAFT, editable=False)
    notes = models.TextField(_("notes"), blank=True, help_text=_("What changed and why."))

    own_order_budget_percent = _percent(
        # xgettext:no-python-format
        _("budget % of the mall's own orders"), "5",
        _("奖励预算: the share of a mall order's amount that funds its rewards (0-20%)."), Decimal("20"),
    )
    direct_share = _percent(
        # xgettext:no-python-format
        _("direct share %"), "30", _("直推奖: the budget's share for the buyer's inviter."))
    team_share = _percent(
        # xgettext:no-python-format
        _("team share %"), "20",
        _("见点奖: the budget's share for the buyer's team leader (within 3 levels)."))
    same_level_share = _percent(
        # xgettext:no-python-format
        _("same-level share %"), "10",
        _("平级奖: the budget's share for the leader who invited the team leader, if also a leader."))
    buyer_share = _percent(
        # xgettext:no-python-format
        _("buyer share %"), "30", _("Merchant orders: the budget's share back to the buyer."))
    merchant_share = _percent(
        # xgettext:no-python-format
        _("merchant share %"), "10", _("Merchant orders: the budget's share for the merchant's owner."))
    max_levels = models.PositiveSmallIntegerField(
        _("levels paid"), default=LEVEL_LIMIT,
        validators=[MinValueValidator(1), MaxValueValidator(LEVEL_LIMIT)],
        help_text=_("How many invite levels above the buyer may be paid (1-3; the law's limit is 3)."),
    )
    upgrade_threshold = models.PositiveSmallIntegerField(
        _("qualified invitees to become a leader"), default=3,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text=_("The \"3\" of 链动3+1: direct invitees with a paid order needed to lead a team."),
    )
    slide_keep = models.PositiveSmallIntegerField(
        _("invitees kept by the old team"), null=True, blank=True, validators=[MaxValueValidator(50)],
        help_text=_("滑落: on an upgrade, the first N direct invitees stay in the previous leader's "
                    "team (empty: the upgrade threshold)."),
    )
    repurchase_points = models.PositiveIntegerField(
        _("repurchase threshold (points)"), default=5000,
        help_text=_("复购: once a member's referral rewards since their own last paid order reach "
                    "this, they get no more until they buy again (0: off)."),
    )
    rotation = models.CharField(
        _("ineligible beneficiary"), max_length=16, choices=Rotation.choices, default=Rotation.PASS_UP,
        help_text=_("轮动: what happens to a reward whose beneficiary cannot receive it."),
    )
    daily_cap_per_member = models.PositiveIntegerField(
        _("daily cap per member (points)"), null=True, blank=True,
        help_text=_("Most reward points one member can receive per day (empty: no cap)."),
    )
    cap_per_order = models.PositiveIntegerField(
        _("cap per order (points)"), null=True, blank=True,
        help_text=_("Most reward points one order can pay out in total (empty: no cap)."),
    )
    excluded_categories = ArrayField(
        models.CharField(max_length=32), default=list, blank=True, verbose_name=_("excluded categories"),
        help_text=_("Order lines in these categories fund no rewards: membership packages, entry "
                    "fees (comma-separated category codes)."),
    )

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                   blank=True, related_name="+", editable=False,
                                   verbose_name=_("created by"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                   blank=True, related_name="+", editable=False,
                                   verbose_name=_("last edited by"))
    updated_at = models.DateTimeField(_("last edited at"), default=timezone.now, editable=False)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                     blank=True, related_name="+", editable=False,
                                     verbose_name=_("published by"))
    published_at = models.DateTimeField(_("published at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("reward plan")
        verbose_name_plural = _("reward plans")
        ordering = ["-version"]
        permissions = [("publish_rewardplan", _("Can publish reward plans"))]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="published"),
                                    name="referrals_one_published_plan"),
            models.CheckConstraint(
                condition=Q(direct_share__gte=0, team_share__gte=0, same_level_share__gte=0,
                            buyer_share__gte=0, merchant_share__gte=0),
                name="referrals_shares_non_negative",
            ),
            # The shares split one funded budget: together at most all of it.
            models.CheckConstraint(
                condition=LessThanOrEqual(
                    F("direct_share") + F("team_share") + F("same_level_share") + F("buyer_share")
                    + F("merchant_share"), Decimal("100")),
                name="referrals_shares_within_budget",
            ),
            models.CheckConstraint(condition=Q(own_order_budget_percent__gte=0,
                                               own_order_budget_percent__lte=20),
                                   name="referrals_own_budget_0_to_20"),
            models.CheckConstraint(condition=Q(max_levels__gte=1, max_levels__lte=LEVEL_LIMIT),
                                   name="referrals_level_limit"),
            models.CheckConstraint(condition=Q(upgrade_threshold__gte=1),
                                   name="referrals_threshold_positive"),
        ]

    def __str__(self):
        return f"v{self.version} {self.name} ({self.get_status_display()})"

    @property
    def is_editable(self) -> bool:
        return self.status == PlanStatus.DRAFT

    @property
    def total_share(self) -> Decimal:
        return sum((getattr(self, name) for name in SHARE_FIELDS), Decimal("0"))

    @property
    def kept_on_upgrade(self) -> int:
        return self.upgrade_threshold if self.slide_keep is None else self.slide_keep


class RewardPlanEvent(models.Model):
    """History of a reward plan: who did what, and when. Written by referrals.services only."""

    class Action(models.TextChoices):
        CREATED = "created", _("Created")
        EDITED = "edited", _("Edited")
        CLONED = "cloned", _("Cloned as draft")
        PUBLISHED = "published", _("Published")
        RETIRED = "retired", _("Retired")

    plan = models.ForeignKey(RewardPlan, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                              blank=True, related_name="+", verbose_name=_("by"))
    at = models.DateTimeField(_("at"), default=timezone.now)
    detail = models.CharField(_("detail"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("reward plan change")
        verbose_name_plural = _("reward plan history")
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"v{self.plan.version} {self.action} {self.at:%Y-%m-%d %H:%M}"


class RewardedOrder(models.Model):
    """A paid order the plan has rewarded (once): its merchant, plan and funded budget."""

    order = models.OneToOneField("points.Order", on_delete=models.PROTECT, primary_key=True,
                                 related_name="referral", verbose_name=_("order"))
    plan = models.ForeignKey(RewardPlan, on_delete=models.PROTECT, related_name="+",
                             verbose_name=_("plan"))
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="orders", verbose_name=_("merchant"))
    base_amount = models.DecimalField(_("amount funding rewards"), max_digits=12, decimal_places=2)
    budget_percent = models.DecimalField(_("budget %"), max_digits=5, decimal_places=2)
    budget_points = models.PositiveBigIntegerField(_("budget (points)"))
    created_at = models.DateTimeField(_("rewarded at"), default=timezone.now)

    class Meta:
        verbose_name = _("rewarded order")
        verbose_name_plural = _("rewarded orders")

    def __str__(self):
        return str(self.order_id)


class RewardKind(models.TextChoices):
    DIRECT = "direct", _("Direct reward")
    TEAM = "team", _("Team reward")
    SAME_LEVEL = "same_level", _("Same-level reward")
    BUYER_REBATE = "buyer_rebate", _("Buyer rebate")
    MERCHANT_REBATE = "merchant_rebate", _("Merchant rebate")


# Referral rewards (paid for someone else's order) count for the repurchase threshold; the two
# rebates of a merchant order do not.
REFERRAL_KINDS = (RewardKind.DIRECT, RewardKind.TEAM, RewardKind.SAME_LEVEL)


class Outcome(models.TextChoices):
    PAID = "paid", _("Paid")
    PASSED_UP = "passed_up", _("Passed up")
    LAPSED = "lapsed", _("Lapsed")


class RewardRecord(models.Model):
    """One reward of one order: who got it (or why no one did), how much, and from which plan."""

    order = models.ForeignKey("points.Order", on_delete=models.PROTECT, related_name="rewards",
                              verbose_name=_("order"))
    kind = models.CharField(_("kind"), max_length=16, choices=RewardKind.choices)
    beneficiary = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                    blank=True, related_name="+", verbose_name=_("beneficiary"))
    # Who the plan named first, when the reward passed up from them or lapsed.
    intended = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                 blank=True, related_name="+", verbose_name=_("named by the plan"))
    level = models.PositiveSmallIntegerField(
        _("level"), null=True, blank=True,
        help_text=_("Invite levels between the buyer and the beneficiary (0: the buyer)."),
    )
    plan = models.ForeignKey(RewardPlan, on_delete=models.PROTECT, related_name="+",
                             verbose_name=_("plan"))
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    points = models.PositiveBigIntegerField(_("points"), default=0)
    points_reversed = models.PositiveBigIntegerField(_("points reversed"), default=0)
    # (beneficiary_id, entry_id) -> points_entry (account_id, id) in the database (points 0013).
    entry = models.OneToOneField("points.Entry", on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+", verbose_name=_("ledger entry"), db_constraint=False)
    available_at = models.DateTimeField(_("settles at"), null=True, blank=True)
    # What the explanation line is built from (rendered in the reader's language).
    detail = models.JSONField(_("detail"), default=dict)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("reward record")
        verbose_name_plural = _("reward records")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["beneficiary", "created_at"], name="referrals_reward_member"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["order", "kind"], name="referrals_reward_once_per_kind"),
            models.CheckConstraint(condition=Q(points_reversed__lte=F("points")),
                                   name="referrals_reversed_within_points"),
            models.CheckConstraint(
                condition=(Q(outcome="lapsed") & Q(beneficiary__isnull=True) & Q(entry__isnull=True))
                | (~Q(outcome="lapsed") & Q(beneficiary__isnull=False)),
                name="referrals_paid_has_beneficiary",
            ),
            models.CheckConstraint(condition=Q(level__isnull=True) | Q(level__lte=LEVEL_LIMIT),
                                   name="referrals_reward_within_level_limit"),
        ]

    def __str__(self):
        return f"{self.order_id} {self.kind} {self.points}"

    @property
    def explanation(self) -> str:
        from referrals.explain import explain

        return explain(self)
