"""Tiers in the admin (the member page, the change history, the fulfilment queue's priority
flag) and on the member's pages (account, points history)."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from catalog import services as catalog_services
from catalog.models import ProductKind, Redemption
from mall import jobs
from mall.models import TierChange
from mall.services import tiers as tier_services
from tests.catalog.helpers import fund, make_product
from tests.factories import MemberFactory
from tests.points.ledger import at, clock
from tests.rules.test_admin import form_data
from tests.tiers.helpers import NOW, changes, earn, set_tier, state

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = MemberFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    client.admin_user = admin
    return client


def test_staff_change_a_tier_on_the_member_page_and_it_is_recorded(admin_client):
    member = MemberFactory(username="lily")
    set_tier(member, "silver", grace_until=NOW.date())
    url = reverse("admin:mall_member_change", args=[member.pk])
    page = admin_client.get(url)
    assert [choice for choice, _label in page.context["adminform"].form.fields["tier"].choices] == [
        "normal", "silver", "gold"]
    data = form_data(page)
    data["tier"] = "gold"

    assert admin_client.post(url, data).status_code == 302

    assert state(member) == ("gold", None)
    change = TierChange.objects.get(member=member)
    assert (change.from_tier, change.to_tier, change.reason, change.staff) == (
        "silver", "gold", "staff", admin_client.admin_user)
    body = admin_client.get(url).content.decode()
    assert "银卡会员 → 金卡会员" in body  # the member page's tier changes
    # Saving again without touching the tier records nothing.
    assert admin_client.post(url, form_data(admin_client.get(url))).status_code == 302
    assert TierChange.objects.count() == 1


def test_the_member_list_shows_tier_names_and_filters_by_tier(admin_client):
    gold, silver = MemberFactory(username="g"), MemberFactory(username="s")
    set_tier(gold, "gold")
    set_tier(silver, "silver")
    response = admin_client.get(reverse("admin:mall_member_changelist"), {"tier": "gold"})
    assert [m.username for m in response.context["cl"].result_list] == ["g"]
    assert "金卡会员" in response.content.decode()


def test_tier_changes_are_listed_read_only_and_per_member(admin_client):
    one, two = MemberFactory(), MemberFactory()
    earn(one, 2500)
    earn(two, 12000)
    jobs.reevaluate_tiers(now=NOW)
    url = reverse("admin:mall_tierchange_changelist")

    response = admin_client.get(url, {"member": one.pk})

    assert [(c.member, c.from_label, c.to_label) for c in response.context["cl"].result_list] == [
        (one, "普通会员", "银卡会员")]
    assert admin_client.get(reverse("admin:mall_tierchange_add")).status_code == 403
    assert len(admin_client.get(url).context["cl"].result_list) == 2


def test_priority_redemptions_come_first_then_oldest_first(admin_client):
    gold, normal = MemberFactory(username="vip"), MemberFactory(username="plain")
    set_tier(gold, "gold")
    for member in (gold, normal):
        fund(member, 1000)
    parcel = make_product(name="Parcel")
    coupon = make_product(name="Coupon", kind=ProductKind.COUPON, codes=["C1"])

    def redeem(member, product, key, day):
        with clock(at(2026, 6, day, 10)):
            return catalog_services.redeem(member, product, key=key, address="Road 1")

    old_plain = redeem(normal, parcel, "r1", 1)
    vip_coupon = redeem(gold, coupon, "r2", 2)  # not a parcel: no priority
    vip_parcel = redeem(gold, parcel, "r3", 3)
    new_plain = redeem(normal, parcel, "r4", 4)
    url = reverse("admin:catalog_redemption_changelist")

    response = admin_client.get(url)

    assert list(response.context["cl"].result_list) == [vip_parcel, old_plain, vip_coupon, new_plain]
    assert [r.priority for r in response.context["cl"].result_list] == [True, False, False, False]
    assert response.content.decode().count(">优先</span>") == 1  # the badge, in Chinese
    assert list(admin_client.get(url, {"priority": "yes"}).context["cl"].result_list) == [vip_parcel]
    assert len(admin_client.get(url, {"priority": "no"}).context["cl"].result_list) == 3
    # The flag follows the member's tier now, and leaves the queue once shipped.
    set_tier(gold, "silver")
    assert not any(r.priority for r in admin_client.get(url).context["cl"].result_list)
    set_tier(gold, "gold")
    catalog_services.fulfil(Redemption.objects.get(pk=vip_parcel.pk), staff=admin_client.admin_user,
                            tracking_number="SF1")
    assert not any(r.priority for r in admin_client.get(url).context["cl"].result_list)


def test_the_points_history_shows_tier_changes_between_the_entries(member):
    earn(member, 2500, when=at(2026, 6, 1, 12))
    jobs.reevaluate_tiers(now=NOW)
    earn(member, 10, when=at(2026, 6, 15, 9))
    client = Client()  # the default language: Chinese
    client.force_login(member)

    response = client.get("/points/")

    rows = response.context["rows"]
    assert [row.get("text") or row["entry"].delta for row in rows] == [10, "普通会员 → 银卡会员", 2500]
    assert "普通会员 → 银卡会员" in response.content.decode()
    only_tiers = client.get("/points/?kind=tier").context["rows"]
    assert [row["text"] for row in only_tiers] == ["普通会员 → 银卡会员"]
    assert [row["entry"].delta for row in client.get("/points/?kind=earn").context["rows"]] == [10, 2500]


def test_the_history_keeps_each_change_on_the_page_of_its_time(member):
    for day in range(1, 26):  # 25 entries: pages of 20 and 5
        earn(member, 100, when=at(2026, 5, day, 12), key=f"d{day}")
    earn(member, 1, when=at(2026, 6, 1, 12))
    with clock(at(2026, 5, 3, 2)):  # between the entries of 2 and 3 May
        tier_services.set_tier(member, "silver", reason=TierChange.Reason.STAFF)
    client = Client()
    client.force_login(member)

    first = client.get("/points/").context["rows"]
    second = client.get("/points/?page=2").context["rows"]

    assert len(first) == 20 and not any("change" in row for row in first)
    assert [row.get("text") or timezone.localtime(row["entry"].created_at).day for row in second] == [
        6, 5, 4, 3, "普通会员 → 银卡会员", 2, 1]
    assert changes(member)[0][:3] == ("normal", "silver", "staff")


def test_the_account_page_names_the_tier(member):
    set_tier(member, "gold")
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(member)
    assert "<dd>Gold</dd>" in client.get("/accounts/profile/").content.decode()
