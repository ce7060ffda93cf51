"""load_demo for the staff console (issue 13): one staff account per staff group with a known
password, a printed table of them, and a month of shop activity through the hook's services."""

from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from catalog.models import Redemption
from mall import demo
from mall.models import Member
from points.models import BehaviourRecord, CheckIn, Entry, Lot, Order, Refund

pytestmark = pytest.mark.django_db


def load() -> str:
    out = StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def counts():
    return {model.__name__: model.objects.count()
            for model in (Member, Entry, Lot, Order, Refund, BehaviourRecord, CheckIn, Redemption)}


def test_one_staff_account_per_group_that_can_log_in(client):
    output = load()
    groups = list(Group.objects.all())
    assert {group.name for group in groups} >= {name for name, _u, _c in demo.STAFF}
    for group in groups:
        members = list(group.user_set.all())
        assert len(members) == 1, group.name
        user = members[0]
        assert user.is_staff and not user.is_superuser
        assert [g.name for g in user.groups.all()] == [group.name]
        assert user.check_password(demo.STAFF_PASSWORD)
        response = client.post("/admin/login/?next=/admin/",
                               {"username": user.username, "password": demo.STAFF_PASSWORD})
        assert response.status_code == 302 and response["Location"] == "/admin/", user.username
        assert client.get("/admin/").status_code == 200
        client.logout()
        # The printed table lists every account, with its password and group.
        assert any(user.username in line and demo.STAFF_PASSWORD in line and group.name in line
                   for line in output.splitlines()), user.username
    admin = Member.objects.get(username="admin")
    assert admin.is_superuser
    assert any(line.startswith("admin ") and "admin-demo-123" in line for line in output.splitlines())


def test_four_eyes_editor_cannot_publish_the_publisher_can(db):
    load()
    editor = Member.objects.get(username="rule_editor")
    publisher = Member.objects.get(username="rule_publisher")
    assert editor.has_perm("rules.change_ruleset") and not editor.has_perm("rules.publish_ruleset")
    assert publisher.has_perm("rules.publish_ruleset") and not publisher.has_perm("rules.change_ruleset")
    plan_editor = Member.objects.get(username="plan_editor")
    assert not plan_editor.has_perm("referrals.publish_rewardplan")
    assert Member.objects.get(username="plan_publisher").has_perm("referrals.publish_rewardplan")


def test_a_month_of_paid_orders_through_the_hook_service_and_no_duplicates_on_rerun(db):
    from django.utils import timezone

    output = load()
    orders = Order.objects.filter(external_id__startswith="DEMO-")
    assert orders.count() == demo.ORDERS
    anchor = Member.objects.get(username="alice").date_joined
    assert all(anchor - timezone.timedelta(days=demo.DAYS) <= order.paid_at < anchor for order in orders)
    # Each order has its lines and the entry the earning service posted, with its explanation.
    assert not orders.filter(lines__isnull=True).exists()
    assert orders.filter(entry__isnull=False).count() == demo.ORDERS
    assert orders.filter(lines__categories__contains=["imported"]).exists()
    assert orders.filter(lines__categories__contains=["seasonal"]).exists()
    assert Lot.objects.filter(pending=True, entry__order__isnull=False).exists()  # the last week
    assert Lot.objects.filter(pending=False, entry__order__isnull=False).exists()
    assert Refund.objects.filter(order__external_id__startswith="DEMO-").count() == len(demo.REFUNDS)
    assert BehaviourRecord.objects.filter(action="review").exists()
    assert BehaviourRecord.objects.filter(action="share").exists()
    assert CheckIn.objects.filter(streak__gte=2).exists()
    assert Redemption.objects.filter(key__startswith="demo:").exists()
    assert f" {demo.ORDERS} " in output  # the summary line

    before = counts()
    load()
    assert counts() == before
