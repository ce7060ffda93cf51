"""The default rule set (seed 002, the fruit mall), in one place: the data migration installs it
and tests that flush the database reinstall it. The acceptance checks rely on these values."""

from decimal import Decimal

RULE_SET = {
    "name": "默认规则 Default rules",
    "notes": "Seed rules: 1 point per yuan, tier multipliers, category bonuses, 满100返10/满300返40.",
    "base_points_per_yuan": Decimal("1"),
    "max_points_per_order": None,
    "daily_behaviour_cap": 500,
    "pending_days": 7,
    "expiry_months": 12,
    "reminder_days": "30,7",
    "redemption_points_per_yuan": 100,
    "redemption_max_percent": 50,
    "redemption_min_points": 0,
    "new_member_days": 7,
    "new_member_redemption_discount": 50,
    "inactive_days": 60,
    "wakeup_points": 50,
    "wakeup_cooldown_days": 90,
    "tier_window_days": 365,
    "tier_grace_days": 30,
}
# code, Chinese name, English name, rank, multiplier, points earned in the window to qualify
TIERS = [
    ("normal", "普通会员", "Normal", 1, Decimal("1"), 0),
    ("silver", "银卡会员", "Silver", 2, Decimal("1.2"), 2000),
    ("gold", "金卡会员", "Gold", 3, Decimal("1.5"), 10000),
]
# category, label, bonus %
CATEGORY_BONUSES = [("imported", "进口水果", Decimal("50")), ("seasonal", "应季水果", Decimal("30"))]
# threshold (yuan), bonus points
SPEND_TIERS = [(Decimal("100"), 10), (Decimal("300"), 40)]
# action, label, points, photo bonus %, per day, per member
BEHAVIOURS = [
    ("register", "注册", 200, Decimal("0"), None, 1),
    ("review", "评价", 20, Decimal("30"), None, None),
    ("share", "分享", 50, Decimal("0"), 3, None),
    ("share_order", "晒单", 20, Decimal("0"), None, None),
    ("invite", "邀请好友", 100, Decimal("0"), None, None),
]
CHECK_IN_POINTS = [5, 8, 10, 12, 15, 18, 20]


def install(models, *, version: int = 1, status: str = "published", published_at=None,
            tiers: bool = True):
    """Create the default rule set with ``models`` (the real models module, or a migration's
    ``apps`` registry wrapped by ``migration_models``). Returns the rule set. ``tiers=False``
    leaves the tier table out (migration 0002 writes it in the shape tiers had then)."""
    rule_set = models.RuleSet.objects.create(
        version=version, status=status, published_at=published_at, **RULE_SET
    )
    if tiers:
        install_tiers(models, rule_set)
    models.CategoryBonus.objects.bulk_create(
        models.CategoryBonus(rule_set=rule_set, category=cat, label=label, bonus_percent=pct)
        for cat, label, pct in CATEGORY_BONUSES
    )
    models.SpendTier.objects.bulk_create(
        models.SpendTier(rule_set=rule_set, threshold=threshold, bonus_points=bonus)
        for threshold, bonus in SPEND_TIERS
    )
    models.BehaviourRule.objects.bulk_create(
        models.BehaviourRule(rule_set=rule_set, action=action, label=label, points=points,
                             photo_bonus_percent=photo, daily_limit=daily, lifetime_limit=lifetime)
        for action, label, points, photo, daily, lifetime in BEHAVIOURS
    )
    models.CheckInStep.objects.bulk_create(
        models.CheckInStep(rule_set=rule_set, day=day, points=points)
        for day, points in enumerate(CHECK_IN_POINTS, start=1)
    )
    return rule_set


def install_tiers(models, rule_set) -> None:
    models.TierRule.objects.bulk_create(
        models.TierRule(rule_set=rule_set, code=code, name=name, name_en=name_en, rank=rank,
                        multiplier=mult, qualify_points=qualify)
        for code, name, name_en, rank, mult, qualify in TIERS
    )


class migration_models:
    """Adapter so ``install`` can run on a migration's historical models."""

    def __init__(self, apps):
        for name in ("RuleSet", "TierRule", "CategoryBonus", "SpendTier", "BehaviourRule", "CheckInStep"):
            setattr(self, name, apps.get_model("rules", name))
