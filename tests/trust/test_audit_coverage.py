"""Every staff write lands in the audit trail (common.audit): each event performed through its
real entry point (an admin POST or the service the admin calls), and the record names the actor,
the object, old -> new and, through a request, the client address. Members' own writes and the
hot tables write nothing."""

import uuid

import pytest
from auditlog.context import set_actor
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog import services as catalog_services
from catalog.models import Category, Lottery, Prize, Product, ProductKind, Redemption
from common import audit
from mall.models import Broadcast, Member
from mall.services import messages as message_services
from mall.services import tiers as tier_services
from points import services as points_services
from referrals.services import plans
from rules import services as rule_services
from rules.models import RuleSet, RuleSetStatus
from tests.catalog.helpers import fund, make_product
from tests.factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db

ADDRESS = "10.20.30.40"


def records(event, obj=None):
    entries = LogEntry.objects.filter(additional_data__event=event).order_by("id")
    if obj is not None:
        model = obj if isinstance(obj, type) else type(obj)
        content_type = ContentType.objects.get_for_model(model, for_concrete_model=False)
        entries = entries.filter(content_type=content_type)
        if not isinstance(obj, type):
            entries = entries.filter(object_pk=str(obj.pk))
    return list(entries)


def only(event, obj=None):
    found = records(event, obj)
    assert len(found) == 1, [(e.additional_data, e.changes) for e in found]
    return found[0]


@pytest.fixture
def root(db):
    return MemberFactory(username="root", email="root@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def console(client, root):
    client.force_login(root)
    client.defaults.update(HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR=ADDRESS)
    return client


def as_staff(staff):
    """A staff write outside a request (a service the admin calls, with who and from where)."""
    return set_actor(staff, remote_addr=ADDRESS)


# --- Admin saves and deletions (auditlog's registry) ------------------------------------------------


def test_an_admin_save_records_old_and_new_values_actor_and_address(console, root):
    before = LogEntry.objects.count()
    tea = Category.objects.create(name="茶", sort_order=1)
    assert LogEntry.objects.count() == before  # made outside a staff request: not a staff write
    response = console.post(reverse("admin:catalog_category_change", args=[tea.pk]),
                            {"name": "好茶", "parent": "", "sort_order": "5", "active": "on"})
    assert response.status_code == 302
    entry = only("model.update", tea)
    assert entry.action == LogEntry.Action.UPDATE
    assert entry.changes == {"name": ["茶", "好茶"], "sort_order": ["1", "5"]}
    assert (entry.actor, entry.actor_email, entry.remote_addr) == (root, "root@example.com", ADDRESS)
    assert entry.object_repr == "好茶" and entry.timestamp is not None


def test_an_admin_add_and_delete_are_recorded(console, root):
    console.post(reverse("admin:catalog_category_add"), {"name": "水果", "parent": "", "sort_order": "0",
                                                         "active": "on"})
    fruit = Category.objects.get(name="水果")
    created = only("model.create", fruit)
    assert created.action == LogEntry.Action.CREATE and created.changes["name"] == ["None", "水果"]
    response = console.post(reverse("admin:catalog_category_delete", args=[fruit.pk]), {"post": "yes"})
    assert response.status_code == 302 and not Category.objects.filter(pk=fruit.pk).exists()
    deleted = only("model.delete", fruit)
    assert (deleted.action, deleted.actor, deleted.remote_addr) == (LogEntry.Action.DELETE, root, ADDRESS)
    assert deleted.changes["name"] == ["水果", "None"]


def test_personal_data_and_secrets_never_enter_the_trail_in_clear(root):
    member = MemberFactory(phone="13800138000", email="alice@example.com")
    with as_staff(root):
        member.phone, member.email, member.first_name = "13900139000", "", "Alice"
        member.set_password("a-new-password-123")
        member.external_id = "crm-7"
        member.save()
    entry = only("model.update", member)
    assert entry.changes["phone"] == [audit.MASK, audit.MASK]
    assert entry.changes["email"] == [audit.MASK, ""]
    assert entry.changes["first_name"] == ["", audit.MASK]
    assert entry.changes["external_id"] == ["None", "crm-7"]
    assert entry.changes["password"] == [audit.MASK, audit.MASK]  # that it changed, never the hash
    text = str(entry.changes)
    assert "13800138000" not in text and "139001" not in text and "alice@" not in text
    assert "argon2" not in text and "pbkdf2" not in text


def test_staff_group_and_permission_changes_are_recorded(root):
    staff = StaffFactory()
    auditors = Group.objects.get(name="审计 / Auditor")
    with as_staff(root):
        staff.groups.add(auditors)
    entry = only("model.update", staff)
    assert entry.changes == {"groups": {"type": "m2m", "operation": "add", "objects": [auditors.name]}}
    assert entry.actor == root


def test_a_member_signing_in_or_editing_their_account_writes_no_record(client):
    member = MemberFactory(username="alice", phone="13800138000")
    before = LogEntry.objects.count()
    response = client.post(reverse("login"), {"username": "alice", "password": "pass-for-tests-1"})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.last_login is not None
    client.post(reverse("account"), {"nickname": "艾丽丝", "phone": "13800138000"})
    assert Member.objects.get(pk=member.pk).nickname == "艾丽丝"
    assert LogEntry.objects.count() == before


def test_the_hot_member_tables_are_not_registered():
    from auditlog.registry import auditlog

    from catalog.models import Draw
    from mall.models import Message
    from points.models import Entry, Hold, Lot

    for model in (Entry, Lot, Hold, Redemption, Message, Draw):
        assert not auditlog.contains(model)
    for model in (Member, Product, RuleSet, Broadcast, Category):
        assert auditlog.contains(model)


# --- Admin actions and imports (common.admin, once) --------------------------------------------------


def test_an_admin_action_is_recorded_with_its_objects_and_the_adjustment_it_made(console, root):
    alice, bob = MemberFactory(), MemberFactory()
    url = reverse("admin:mall_member_changelist")
    selected = {"action": "adjust_points", "_selected_action": [alice.pk, bob.pk]}
    console.post(url, selected)  # the form: nothing done yet, nothing recorded
    assert records("admin.action") == []
    console.post(url, {**selected, "apply": "1", "delta": "30", "reason": "补偿", "token": str(uuid.uuid4())})
    action = only("admin.action")
    assert action.additional_data == {"event": "admin.action", "action": "adjust_points",
                                      "objects": [str(alice.pk), str(bob.pk)], "count": 2}
    assert (action.actor, action.remote_addr, action.changes_text) == (root, ADDRESS, "Adjust points")
    adjustment = only("points.adjustment", alice)
    assert adjustment.changes == {"balance": [0, 30]}
    assert (adjustment.actor, adjustment.remote_addr, adjustment.changes_text) == (root, ADDRESS, "补偿")
    assert adjustment.additional_data["delta"] == 30


def test_an_import_is_recorded_with_the_file_and_its_row_counts(console, root):
    header = "id,name,kind,category,points_price,cash_price,stock,per_member_limit,visible_tiers,active\n"
    tea = make_product(name="Tea", points_price=100, stock=10)
    content = header + f"{tea.pk},Green tea,physical,,120,0,10,,,1\n,Cherries,physical,,1500,9.90,5,,,1\n"
    preview = console.post(reverse("admin:catalog_product_import"), {
        "resource": "0", "format": "0", "import_file": SimpleUploadedFile("goods.csv", content.encode())})
    assert records("admin.import") == []  # the dry run writes nothing
    data = {key: value for key, value in preview.context["confirm_form"].initial.items() if value is not None}
    console.post(reverse("admin:catalog_product_process_import"), data)
    entry = only("admin.import", Product)
    assert entry.additional_data == {"event": "admin.import", "file": "goods.csv", "new": 1, "update": 1,
                                     "delete": 0, "skip": 0}
    assert (entry.actor, entry.remote_addr, entry.object_pk) == (root, ADDRESS, "")
    assert only("model.update", tea).changes["name"] == ["Tea", "Green tea"]


# --- Service-level records ----------------------------------------------------------------------------


def test_the_member_page_adjustment_is_recorded_once_per_form(console, root):
    member = MemberFactory()
    points_services.earn(member, 100, key="seed", reason="seed")
    url = reverse("admin:mall_member_adjust", args=[member.pk])
    post = {"delta": "-40", "reason": "wrong order", "token": str(uuid.uuid4())}
    console.post(url, post)
    console.post(url, post)  # a double click: the same posting, recorded once
    entry = only("points.adjustment", member)
    assert entry.changes == {"balance": [100, 60]}
    assert (entry.actor, entry.remote_addr) == (root, ADDRESS)


def test_tier_set_by_staff_is_recorded(root):
    member = MemberFactory()
    tier_services.set_tier(member, "gold", reason="staff", staff=root)
    tier_services.set_tier(member, "silver", reason="shop")  # the shop's: not a staff write
    entry = only("tier.change", member)
    assert entry.changes == {"tier": ["normal", "gold"]} and entry.actor == root


def test_rule_set_publishing_and_roll_back_are_recorded(client):
    from tests.rules.test_admin import EDITOR_GROUP, PUBLISHER_GROUP, staff_in

    editor, publisher = staff_in(EDITOR_GROUP, "editor"), staff_in(PUBLISHER_GROUP, "publisher")
    v1 = RuleSet.objects.get(version=1)
    draft = rule_services.clone_as_draft(v1, actor=editor)
    rule_services.record_edit(draft, actor=editor, detail="tweaks")
    client.force_login(publisher)
    client.defaults.update(REMOTE_ADDR=ADDRESS)
    release = reverse("admin:rules_ruleset_release", args=[draft.pk, "publish"])
    client.post(release, {"confirm": "1"})
    assert RuleSet.objects.get(pk=draft.pk).status == RuleSetStatus.PUBLISHED
    published = only("rules.publish", draft)
    assert published.changes == {"status": ["draft", "published"]}
    assert published.additional_data == {"event": "rules.publish", "version": 2, "replaces": 1}
    assert (published.actor, published.remote_addr) == (publisher, ADDRESS)
    client.post(reverse("admin:rules_ruleset_release", args=[draft.pk, "roll-back"]), {"confirm": "1"})
    rolled = only("rules.rollback", v1)
    assert rolled.changes == {"published_version": [2, 1]}
    assert (rolled.actor, rolled.remote_addr) == (publisher, ADDRESS)


def test_gray_release_and_its_stop_are_recorded():
    editor, publisher = StaffFactory(), StaffFactory()
    draft = rule_services.clone_as_draft(RuleSet.objects.get(version=1), actor=editor)
    rule_services.record_edit(draft, actor=editor)
    rule_services.start_gray(draft, actor=publisher, percent=10)
    rule_services.stop_gray(draft, actor=publisher)
    gray = only("rules.gray_release", draft)
    assert gray.changes["status"] == ["draft", "candidate"] and gray.changes["gray_percent"] == [0, 10]
    assert only("rules.gray_stop", draft).changes == {"status": ["candidate", "retired"]}


def test_reward_plan_publishing_is_recorded():
    editor, publisher = StaffFactory(), StaffFactory()
    old = plans.published_plan()
    draft = plans.clone_as_draft(old, actor=editor)
    plans.save_draft(draft, actor=editor, fields={"name": "v2"})
    plans.publish(draft, actor=publisher)
    entry = only("referrals.plan_publish", draft)
    assert entry.changes == {"status": ["draft", "published"]} and entry.actor == publisher
    assert entry.additional_data["replaces"] == old.version


def test_stock_adjustments_and_coupon_imports_and_prize_restocks_are_recorded(root):
    tea = make_product(name="Tea", stock=10)
    catalog_services.adjust_stock(tea, -3, reason="damaged", staff=root)
    entry = only("stock.adjustment", tea)
    assert entry.changes == {"stock": [10, 7]} and entry.changes_text == "damaged" and entry.actor == root
    coupon = make_product(name="Voucher", kind=ProductKind.COUPON)
    catalog_services.import_coupon_codes(coupon, ["A1", "A2"], staff=root)
    assert only("stock.coupon_import", coupon).changes == {"stock": [0, 2]}
    lottery = Lottery.objects.create(name="Spin", cost_points=10)
    prize = Prize.objects.create(lottery=lottery, name="Mug", kind="points", weight=1, stock=2, points=5)
    with as_staff(root):
        catalog_services.restock_prize(prize, 3)
    restock = only("stock.prize_restock", prize)
    assert restock.changes == {"stock": [2, 5]} and (restock.actor, restock.remote_addr) == (root, ADDRESS)


def test_redemption_transitions_by_staff_are_recorded(root):
    member = MemberFactory(established=True)
    fund(member, 1000)
    tea = make_product(name="Tea", points_price=100, stock=10)
    shipped = catalog_services.redeem(member, tea, key="r1", address="Somewhere 1")
    cancelled = catalog_services.redeem(member, tea, key="r2", address="Somewhere 1")
    assert records("redemption.ship") == []  # the member's redemption is not a staff write
    catalog_services.fulfil(shipped, staff=root, tracking_number="SF123")
    catalog_services.fulfil(shipped, staff=root, tracking_number="SF123")  # again: unchanged, not recorded
    catalog_services.complete(shipped, staff=root)
    catalog_services.cancel(cancelled, reason="out of season", staff=root)
    ship = only("redemption.ship", shipped)
    assert ship.changes == {"status": ["created", "fulfilled"], "tracking_number": ["", "SF123"]}
    assert only("redemption.deliver", shipped).changes == {"status": ["fulfilled", "completed"]}
    cancel = only("redemption.cancel", cancelled)
    assert cancel.changes == {"status": ["created", "cancelled"], "stock": [8, 9]}
    assert cancel.additional_data["points_refunded"] == 100 and cancel.actor == root
    assert "Somewhere" not in str([e.changes for e in LogEntry.objects.all()])


def test_a_broadcast_sent_from_the_admin_is_recorded(console, root):
    MemberFactory(tier="gold")
    broadcast = message_services.save_broadcast(Broadcast(
        title="规则变更", body="下月调整", title_en="Change", body_en="Next month", link="/mall/",
        kind="notice", tiers=["gold"]))
    console.post(reverse("admin:mall_broadcast_send", args=[broadcast.pk]))
    entry = only("broadcast.send", broadcast)
    assert entry.changes["sent_at"][0] is None and entry.changes["sent_at"][1]
    assert entry.additional_data["recipients"] == 1 and entry.additional_data["tiers"] == ["gold"]
    assert (entry.actor, entry.remote_addr) == (root, ADDRESS)


def test_every_event_written_has_a_label():
    # The names the tests above assert are the ones the auditors' filter lists.
    for event in ("model.create", "model.update", "model.delete", "admin.action", "admin.import",
                  "points.adjustment", "tier.change", "rules.publish", "rules.rollback", "rules.gray_release",
                  "rules.gray_stop", "referrals.plan_publish", "stock.adjustment", "stock.coupon_import",
                  "stock.prize_restock", "redemption.ship", "redemption.deliver", "redemption.cancel",
                  "broadcast.send", "pii.view", "audit.export", "admin.run_task"):
        assert event in audit.EVENTS


def test_an_export_from_the_console_is_recorded(console, root):
    from tests.catalog.test_import import CSV, export

    make_product(name="Tea")
    response = export(console, Product, CSV)
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment")
    entry = only("admin.export", Product)
    assert entry.additional_data["rows"] == 1 and (entry.actor, entry.remote_addr) == (root, ADDRESS)


def test_a_job_started_by_hand_is_recorded(console, root):
    from unittest import mock

    from points.models import ReconciliationRun

    with mock.patch("celery.current_app.send_task"):
        console.post(reverse("admin:points_reconciliationrun_run"))
    entry = only("admin.run_task", ReconciliationRun)
    assert entry.additional_data["task"] == "mall.reconcile_ledger"
    assert (entry.actor, entry.remote_addr) == (root, ADDRESS)
