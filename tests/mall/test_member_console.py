"""The member page for customer service (issue 13): tabs with exact figures, "adjust points" as a
form on the page, and the member list's balance column and phone search."""

import re
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalog import services as catalog_services
from mall.models import Message
from points import services
from points.models import Entry
from points.selectors import balance
from tests.catalog.helpers import make_product
from tests.factories import MemberFactory, StaffFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def admin_client(client, db):
    admin = MemberFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    client.admin_user = admin
    return client


@pytest.fixture
def prepared(db):
    """Available 370, pending 80, held 30: 500 earned (usable through 2027-06-30), 80 pending
    for a week, a 100-point redemption of a scarf, a 30-point hold, one message."""
    member = MemberFactory(username="lihua", phone="13800138000", established=True)
    services.earn(member, 500, key="p1", reason="order 1001 points",
                  expires_at=datetime(2027, 7, 1, tzinfo=SHANGHAI))
    services.earn(member, 80, key="p2", reason="order 1002 points",
                  available_at=timezone.now() + timedelta(days=7))
    redemption = catalog_services.redeem(member, make_product(name="Silk scarf", points_price=100), key="r1")
    services.hold(member, 30, key="h1", reference="auction:7")
    Message.objects.create(member=member, purpose="notice", period="n1", kind="notice",
                           title="积分即将过期", body="…", title_en="Points expire soon", body_en="…")
    member.redemption = redemption
    return member


def page(client, member, **extra):
    return client.get(reverse("admin:mall_member_change", args=[member.pk]), **EN, **extra)


def tab(body, slug):
    """The HTML of one of the page's tabs (unfold's fieldset tabs, all rendered on the server)."""
    start = body.index(f"fieldset-{slug}\"")
    end = body.find('class="tab-wrapper', start)
    return body[start:end if end != -1 else len(body)]


def test_the_member_page_shows_every_tab_with_exact_figures(admin_client, prepared):
    assert balance(prepared).available == 370
    response = page(admin_client, prepared)
    assert response.status_code == 200
    body = response.content.decode()
    for name in ("Profile", "Balance", "Lots", "Entries", "Holds", "Redemptions", "Team", "Messages",
                 "Badges"):
        assert f"activeFieldsetTab = '{name.lower()}'" in body

    assert "13800138000" in tab(body, "profile")
    assert re.search(r"available: <b>370</b> · pending: 80 · held: 30 · debt: 0", tab(body, "balance"))

    lots = tab(body, "lots")
    assert "2027-06-30" in lots  # the 500 earned: its last valid day
    assert re.search(r'<td class="num">370</td><td class="num">500</td>', lots)
    assert re.search(r'<td class="num">80</td><td class="num">80</td>', lots)
    pending_until = f"{timezone.localtime(timezone.now() + timedelta(days=7)):%Y-%m-%d}"
    assert pending_until in lots and "order 1002 points" in lots

    entries = tab(body, "entries")
    assert "order 1001 points" in entries and "+500" in entries

    holds = tab(body, "holds")
    assert re.search(r'<td class="num">30</td><td>auction:7</td>', holds)

    redemptions = tab(body, "redemptions")
    link = reverse("admin:catalog_redemption_change", args=[prepared.redemption.pk])
    assert f'href="{link}"' in redemptions and "Silk scarf" in redemptions
    assert re.search(r'<td class="num">100</td><td>Created</td>', redemptions)

    messages = tab(body, "messages")
    assert "Points expire soon" in messages and "unread" in messages
    assert "No badges yet." in tab(body, "badges")


def test_the_member_page_reads_a_bounded_number_of_rows(admin_client, prepared):
    page(admin_client, prepared)  # the session's first staff request records its time (idle expiry)
    with CaptureQueriesContext(connection) as few:
        page(admin_client, prepared)
    for n in range(30):
        services.earn(prepared, 5, key=f"more{n}", reason=f"bonus {n}")
        services.hold(prepared, 1, key=f"hold{n}")
        Message.objects.create(member=prepared, purpose="notice", period=f"m{n}", kind="notice",
                               title=f"note {n}", body="…")
    with CaptureQueriesContext(connection) as many:
        body = page(admin_client, prepared).content.decode()
    assert len(many.captured_queries) == len(few.captured_queries)  # no query per row
    messages = tab(body, "messages")
    assert "note 29</a>" in messages and "note 0</a>" not in messages
    assert messages.count("<tr>") == 1 + 20  # the header and the latest 20


def adjust_url(member):
    return reverse("admin:mall_member_adjust", args=[member.pk])


def test_the_adjust_form_shows_the_balance_and_the_reason_templates(admin_client, prepared):
    body = page(admin_client, prepared).content.decode()
    panel = body[body.index('id="adjust-points"'):]
    assert re.search(r"Available now: <strong[^>]*>370</strong> points", panel)
    assert f'action="{adjust_url(prepared)}"' in panel
    for reason in ("Complaint compensation", "Campaign points re-issued",
                   "Reversal of points issued by mistake", "Missing order points", "Other"):
        assert reason in panel


def test_the_adjust_form_posts_once_when_submitted_twice(admin_client, prepared):
    data = {"delta": "50", "template": "complaint", "reason": "parcel late", "token": str(uuid.uuid4())}
    first = admin_client.post(adjust_url(prepared), data, **EN)
    assert first.status_code == 302 and first["Location"] == reverse("admin:mall_member_change",
                                                                     args=[prepared.pk])
    assert any("+50" in str(m) for m in get_messages(first.wsgi_request))
    second = admin_client.post(adjust_url(prepared), data, **EN)
    assert second.status_code == 302
    entry = Entry.objects.get(kind="adjust")
    assert (entry.delta, entry.reason, entry.staff_id) == (50, "Complaint compensation：parcel late",
                                                           admin_client.admin_user.pk)
    assert balance(prepared).available == 420


def test_a_template_alone_is_a_reason_and_other_needs_one_typed(admin_client, prepared):
    admin_client.post(adjust_url(prepared), {"delta": "-20", "template": "reversal", "reason": "",
                                             "token": str(uuid.uuid4())}, **EN)
    assert Entry.objects.get(kind="adjust").reason == "Reversal of points issued by mistake"
    response = admin_client.post(adjust_url(prepared), {"delta": "5", "template": "other", "reason": " ",
                                                        "token": str(uuid.uuid4())}, **EN)
    assert response.status_code == 200 and "reason" in response.context["adjust_form"].errors
    assert Entry.objects.filter(kind="adjust").count() == 1


@pytest.mark.parametrize("data, field", [
    ({"delta": "10", "template": "", "reason": ""}, "reason"),
    ({"delta": "0", "template": "complaint", "reason": ""}, "delta"),
    ({"delta": "-371", "template": "complaint", "reason": ""}, "delta"),
])
def test_the_adjust_form_refuses_and_writes_nothing(admin_client, prepared, data, field):
    before = Entry.objects.count()
    response = admin_client.post(adjust_url(prepared), {**data, "token": str(uuid.uuid4())}, **EN)
    assert response.status_code == 200
    form = response.context["adjust_form"]
    assert field in form.errors
    assert 'id="adjust-points"' in response.content.decode()
    assert Entry.objects.count() == before
    if data["delta"] == "-371":
        assert "only 370 points available" in str(form.errors["delta"])


def test_the_adjust_form_needs_its_permission(client, prepared):
    staff = StaffFactory()
    staff.user_permissions.add(Permission.objects.get(codename="view_member"),
                               Permission.objects.get(codename="change_member"))
    client.force_login(staff)
    assert 'id="adjust-points"' not in page(client, prepared).content.decode()
    data = {"delta": "50", "template": "complaint", "reason": "", "token": str(uuid.uuid4())}
    assert client.post(adjust_url(prepared), data).status_code == 403
    assert not Entry.objects.filter(kind="adjust").exists()
    staff.user_permissions.add(Permission.objects.get(codename="adjust_points"))
    staff = type(staff).objects.get(pk=staff.pk)  # permissions are cached per user object
    client.force_login(staff)
    assert 'id="adjust-points"' in page(client, prepared).content.decode()
    assert client.post(adjust_url(prepared), data).status_code == 302
    assert balance(prepared).available == 420


def test_the_list_shows_the_balance_and_finds_a_member_by_phone(admin_client, prepared):
    other = MemberFactory(username="wangwei", phone="13900139000")
    services.earn(other, 7, key="o1", reason="r")
    url = reverse("admin:mall_member_changelist")
    response = admin_client.get(url, {"q": "13800138000"}, **EN)
    body = response.content.decode()
    assert list(response.context["cl"].result_list) == [prepared]
    assert "lihua" in body and "wangwei" not in body
    assert re.search(r"<td[^>]*field-available_points[^>]*>\s*370\s*</td>", body)
    # Sortable by balance, and one query for the page whatever the number of members.
    index = list(response.context["cl"].list_display).index("available_points")
    ordered = admin_client.get(url, {"o": f"-{index}"}, **EN)
    assert [m.username for m in ordered.context["cl"].result_list][:2] == ["lihua", "wangwei"]
