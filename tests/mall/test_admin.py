import uuid

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from points import services
from points.models import Entry
from points.selectors import balance
from tests.factories import MemberFactory, StaffFactory


@pytest.fixture
def admin_client(client, db):
    admin = MemberFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    client.admin_user = admin
    return client


def adjust(client, members, **data):
    post = {"action": "adjust_points", "_selected_action": [m.pk for m in members], **data}
    return client.post(reverse("admin:mall_member_changelist"), post, follow=True)


@pytest.mark.parametrize("name", ["points_entry", "points_lot", "points_hold", "points_account"])
def test_ledger_changelists_are_read_only_and_searchable(admin_client, member, name):
    services.earn(member, 50, key="a1", reason="welcome")
    hold = services.hold(member, 5, key="a2")
    assert hold.pk
    url = reverse(f"admin:{name}_changelist")
    response = admin_client.get(url, {"q": member.username})
    assert response.status_code == 200
    assert member.username in response.content.decode()
    assert admin_client.get(reverse(f"admin:{name}_add")).status_code == 403


def test_entry_filters_by_kind(admin_client, member):
    services.earn(member, 50, key="f1", reason="welcome bonus")
    services.spend(member, 20, key="f2", reason="coupon redeemed")
    page = admin_client.get(reverse("admin:points_entry_changelist"), {"kind__exact": "spend"})
    body = page.content.decode()
    assert "coupon redeemed" in body and "welcome bonus" not in body


def test_member_page_shows_balance_and_recent_entries(admin_client, member):
    services.earn(member, 120, key="m1", reason="order 1001 points")
    services.spend(member, 20, key="m2", reason="free shipping voucher")
    body = admin_client.get(reverse("admin:mall_member_change", args=[member.pk])).content.decode()
    assert "<b>100</b>" in body
    assert "order 1001 points" in body and "free shipping voucher" in body


def test_adjust_action_credits_with_reason_and_staff(admin_client, member):
    form = adjust(admin_client, [member])
    assert "name=\"reason\"" in form.content.decode()
    token = str(uuid.uuid4())
    response = adjust(admin_client, [member], apply="1", delta="75", reason="客服补偿", token=token)
    assert response.status_code == 200
    entry = Entry.objects.get(kind="adjust")
    assert (entry.delta, entry.reason, entry.staff_id) == (75, "客服补偿", admin_client.admin_user.pk)
    assert balance(member).available == 75
    # The same form submitted twice posts once.
    adjust(admin_client, [member], apply="1", delta="75", reason="客服补偿", token=token)
    assert Entry.objects.filter(kind="adjust").count() == 1


def test_adjust_action_requires_a_reason_and_a_non_zero_delta(admin_client, member):
    token = str(uuid.uuid4())
    response = adjust(admin_client, [member], apply="1", delta="10", reason="  ", token=token)
    assert "reason" in response.context["form"].errors
    response = adjust(admin_client, [member], apply="1", delta="0", reason="x", token=token)
    assert "delta" in response.context["form"].errors
    assert Entry.objects.count() == 0


def test_adjust_action_reports_insufficient_points(admin_client, member):
    services.earn(member, 10, key="i1", reason="r")
    response = adjust(admin_client, [member], apply="1", delta="-50", reason="correction",
                      token=str(uuid.uuid4()))
    messages = [str(m) for m in response.context["messages"]]
    assert any("50 points needed, 10 available" in m for m in messages)
    assert balance(member).available == 10


def test_adjust_action_needs_its_permission(client, member):
    staff = StaffFactory()
    staff.user_permissions.add(Permission.objects.get(codename="view_member"),
                               Permission.objects.get(codename="change_member"))
    client.force_login(staff)
    page = client.get(reverse("admin:mall_member_changelist")).content.decode()
    assert "adjust_points" not in page
    staff.user_permissions.add(Permission.objects.get(codename="adjust_points"))
    page = client.get(reverse("admin:mall_member_changelist")).content.decode()
    assert "adjust_points" in page
