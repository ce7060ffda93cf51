"""Reward plans: versioned with four eyes, and impossible to configure into a pyramid (issue 9)."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from points.models import Entry
from referrals.errors import PlanInvalid, PlanLocked, PlanSameEditor, PlanTransition
from referrals.models import Merchant, PlanStatus, RewardPlan, RewardPlanEvent, RewardRecord
from referrals.services import plans
from tests.factories import StaffFactory
from tests.referrals.helpers import member

pytestmark = pytest.mark.django_db


def test_the_default_plan_is_published_by_migration():
    plan = plans.published_plan()
    assert plan is not None and plan.name == "链动3+1"
    assert (plan.own_order_budget_percent, plan.direct_share, plan.team_share, plan.same_level_share,
            plan.buyer_share, plan.merchant_share) == tuple(
        Decimal(x) for x in ("5", "30", "20", "10", "30", "10"))
    assert (plan.upgrade_threshold, plan.kept_on_upgrade, plan.repurchase_points, plan.rotation,
            plan.max_levels) == (3, 3, 5000, "pass_up", 3)


@pytest.mark.parametrize("fields, field", [
    ({"direct_share": Decimal("60")}, "direct_share"),  # 60 + 20 + 10 + 30 + 10 = 130%
    ({"max_levels": 4}, "max_levels"),
    ({"own_order_budget_percent": Decimal("25")}, "own_order_budget_percent"),
    ({"team_share": Decimal("-1")}, "team_share"),
    ({"daily_cap_per_member": 0}, "daily_cap_per_member"),
])
def test_guardrails_refuse_a_plan(fields, field):
    editor = StaffFactory()
    draft = plans.clone_as_draft(plans.published_plan(), actor=editor)
    with pytest.raises(PlanInvalid) as raised:
        plans.save_draft(draft, actor=editor, fields=fields)
    assert field in raised.value.fields
    draft.refresh_from_db()
    assert draft.direct_share == Decimal("30") and draft.max_levels == 3
    with pytest.raises(PlanInvalid):
        plans.create_draft(actor=editor, name="bad", **fields)


@pytest.mark.parametrize("fields", [
    {"direct_share": Decimal("60")}, {"max_levels": 4}, {"own_order_budget_percent": Decimal("21")},
])
def test_the_database_refuses_what_validation_refuses(fields):
    plan = plans.published_plan()
    for name, value in fields.items():
        setattr(plan, name, value)
    with pytest.raises(IntegrityError), transaction.atomic():
        plan.save()


@pytest.mark.parametrize("rebate", ["2.99", "20.01"])
def test_merchant_rebate_is_3_to_20_percent(rebate):
    with pytest.raises(IntegrityError), transaction.atomic():
        Merchant.objects.create(code="m", name="M", owner=member(), rebate_percent=Decimal(rebate))


def test_life_cycle_with_four_eyes():
    editor, publisher = StaffFactory(), StaffFactory()
    old = plans.published_plan()
    draft = plans.clone_as_draft(old, actor=editor)
    assert plans.save_draft(draft, actor=editor, fields={"direct_share": Decimal("25")})
    assert not plans.save_draft(draft, actor=publisher, fields={"direct_share": Decimal("25")})
    with pytest.raises(PlanSameEditor):
        plans.publish(draft, actor=editor)
    plans.publish(draft, actor=publisher)
    draft.refresh_from_db()
    old.refresh_from_db()
    assert (draft.status, old.status) == (PlanStatus.PUBLISHED, PlanStatus.RETIRED)
    assert draft.published_by == publisher
    with pytest.raises(PlanLocked):
        plans.save_draft(draft, actor=editor, fields={"direct_share": Decimal("20")})
    with pytest.raises(PlanTransition):
        plans.publish(old, actor=publisher)
    actions = list(RewardPlanEvent.objects.filter(plan=draft).order_by("id").values_list("action", "actor"))
    assert actions == [("cloned", editor.pk), ("edited", editor.pk), ("published", publisher.pk)]
    assert RewardPlan.objects.filter(status=PlanStatus.PUBLISHED).count() == 1


def test_warnings_when_paying_beyond_the_direct_level():
    plan = plans.published_plan()
    assert any("禁止传销条例" in text for text in plans.warnings(plan))
    plan.team_share = plan.same_level_share = Decimal("0")
    plan.max_levels = 1
    assert not any("禁止传销条例" in text for text in plans.warnings(plan))


def test_registration_and_behaviours_pay_no_referral_reward():
    from mall.services import members
    from points.services import earning
    from referrals.services import tree

    inviter = member()
    new = members.register(username="newbie", password="a-long-passphrase-9",
                           invite_code=tree.node_of(inviter.pk).invite_code).member
    from django.utils import timezone

    earning.check_in(new)
    earning.record_behaviour(new, action="share", occurred_at=timezone.now(), key="share-1")
    assert not RewardRecord.objects.exists()
    assert not Entry.objects.filter(account__member=inviter).exists()


def test_staff_groups_split_editing_from_publishing():
    from django.contrib.auth.models import Group

    editor = Group.objects.get(name="推广方案编辑 / Referral plan editor")
    publisher = Group.objects.get(name="推广方案发布 / Referral plan publisher")
    service = Group.objects.get(name="客服 / Customer service")
    codes = lambda group: set(group.permissions.values_list("codename", flat=True))  # noqa: E731
    assert {"change_rewardplan", "add_merchant"} <= codes(editor)
    assert "publish_rewardplan" not in codes(editor)
    assert "publish_rewardplan" in codes(publisher) and "change_rewardplan" not in codes(publisher)
    assert "view_rewardrecord" in codes(service) and "view_redemption" in codes(service)
