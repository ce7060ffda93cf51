"""The referrals admin: reward plans versioned like rule sets (drafts edited through
referrals.services.plans, four-eyes publishing behind its own permission, guardrails as form
errors), merchants, read-only reward records with their filters and CSV/XLSX export, read-only
rewarded orders and referral positions, and the referral section of the member page."""

import io
import re
from datetime import timedelta
from decimal import Decimal

import openpyxl
import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from referrals.models import (
    Merchant,
    Node,
    PlanStatus,
    RewardedOrder,
    RewardPlan,
    RewardPlanEvent,
    RewardRecord,
)
from referrals.services import plans
from tests.factories import MemberFactory, StaffFactory
from tests.referrals.helpers import make_leader, member, pay, refund, set_plan

pytestmark = pytest.mark.django_db

Action = RewardPlanEvent.Action
PLANS = "admin:referrals_rewardplan_changelist"
RECORDS = "admin:referrals_rewardrecord_changelist"
CSV, XLSX = "0", "1"  # the admin's export formats, in order


def staff_with(username, *codenames):
    user = StaffFactory(username=username)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=["referrals", "mall"],
                                                         codename__in=codenames))
    assert user.user_permissions.count() == len(codenames)
    return user


@pytest.fixture
def editor():
    return staff_with("editor", "view_rewardplan", "add_rewardplan", "change_rewardplan")


@pytest.fixture
def publisher():
    return staff_with("publisher", "view_rewardplan", "publish_rewardplan")


@pytest.fixture
def root():
    return MemberFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def v1():
    return RewardPlan.objects.get(version=1)


@pytest.fixture
def draft(v1, editor):
    """v2: a clone of the default plan, last edited by ``editor``."""
    return plans.clone_as_draft(v1, actor=editor)


def as_user(client, user):
    client.force_login(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"  # English pages whatever the default language
    return client


def url(name, *args):
    return reverse(f"admin:referrals_{name}", args=args)


def change_url(plan):
    return url("rewardplan_change", plan.pk)


def form_data(response):
    """The POST a browser would send for the change page as rendered (the history inline too)."""
    data = {}

    def put(form):
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            if isinstance(value, list):
                value = ",".join(value)
            data[form.add_prefix(name)] = "on" if value is True else value

    put(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        put(inline.formset.management_form)
        for form in inline.formset.forms:
            put(form)
    return data


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def history(plan):
    return list(RewardPlanEvent.objects.filter(plan=plan).order_by("id")
                .values_list("action", "actor__username", "detail"))


def snapshot(plan):
    plan = RewardPlan.objects.get(pk=plan.pk)
    return ([(f.name, getattr(plan, f.name)) for f in RewardPlan._meta.concrete_fields],
            RewardPlanEvent.objects.filter(plan=plan).count(), RewardPlan.objects.count())


def text(response):
    return response.content.decode().replace("&quot;", '"').replace("&#x27;", "'")


# --- Every page renders ------------------------------------------------------------------------


@pytest.fixture
def rewarded():
    """top (a leader) invited parent, who invited kid. kid's orders: ``old`` (settled), ``new``
    (pending), ``back`` (refunded in full), then ``gated`` under a plan that lets rewards lapse
    once 100 points came in since the beneficiary's own last order: both of its rewards lapse."""
    top = member(username="top")
    make_leader(top)
    parent = member(top, username="parent", phone="13800000001")
    kid = member(parent, username="kid")
    pay(kid, "100.00", order_id="old", paid_at=timezone.now() - timedelta(days=10))
    pay(kid, "100.00", order_id="new")
    pay(kid, "100.00", order_id="back")
    refund("back", "100.00")
    set_plan(rotation="lapse", repurchase_points=100)
    pay(kid, "100.00", order_id="gated")
    return top, parent, kid


def test_every_referrals_list_and_page_renders(client, root, rewarded, draft):
    top, parent, kid = rewarded
    shop = Merchant.objects.create(code="shop1", name="Shop One", owner=top, rebate_percent=Decimal("8"))
    record = RewardRecord.objects.get(order__external_id="new", kind="direct")
    client = as_user(client, root)
    pages = [
        (url("merchant_changelist"), "Shop One"),
        (url("merchant_change", shop.pk), "shop1"),
        (url("merchant_add"), "Rebate %"),
        (url("rewardplan_changelist"), "链动3+1"),
        (url("rewardplan_add"), "Direct share %"),
        (change_url(draft), "Clone as draft"),
        (url("rewardrecord_changelist"), "Direct reward: 30% of the 500-point budget of order new"),
        (url("rewardrecord_change", record.pk), "Pending"),
        (url("rewardedorder_changelist"), "gated"),
        (url("rewardedorder_change", record.order_id), "Direct reward: 30% of the 500-point budget"),
        (url("node_changelist"), Node.objects.get(member=kid).invite_code),
        (url("node_change", kid.pk), str(parent)),
    ]
    for page, expected in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        assert expected in text(response), page


# --- Merchants ---------------------------------------------------------------------------------


def merchant_post(owner, **changes):
    return {"code": "shop9", "name": "Shop Nine", "owner": owner.pk, "rebate_percent": "8", "active": "on",
            **changes}


@pytest.mark.parametrize(("rebate", "error"), [
    ("2", "Ensure this value is greater than or equal to 3."),
    ("21", "Ensure this value is less than or equal to 20."),
])
def test_a_rebate_outside_3_to_20_percent_is_refused(client, root, rebate, error):
    owner = member(username="owner")
    response = as_user(client, root).post(url("merchant_add"), merchant_post(owner, rebate_percent=rebate))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"rebate_percent": [error]}
    assert not Merchant.objects.exists()


def test_a_merchant_is_added_with_its_owner_and_its_code_is_then_fixed(client, root):
    owner = member(username="owner")
    client = as_user(client, root)
    add_page = text(client.get(url("merchant_add")))
    assert "admin-autocomplete" in add_page  # the owner is picked by searching members
    assert client.post(url("merchant_add"), merchant_post(owner)).status_code == 302
    shop = Merchant.objects.get()
    assert (shop.code, shop.owner, shop.rebate_percent, shop.active) == ("shop9", owner, Decimal("8.00"),
                                                                         True)
    response = client.post(url("merchant_change", shop.pk),
                           merchant_post(owner, code="other", rebate_percent="12.5"))
    assert response.status_code == 302
    shop.refresh_from_db()
    assert (shop.code, shop.rebate_percent) == ("shop9", Decimal("12.50"))
    assert client.post(url("merchant_delete", shop.pk), {"post": "yes"}).status_code == 403


def test_the_merchant_list_searches_and_filters(client, root):
    owner = member(username="owner")
    Merchant.objects.create(code="open1", name="Open", owner=owner, rebate_percent=Decimal("5"))
    Merchant.objects.create(code="shut1", name="Shut", owner=owner, rebate_percent=Decimal("5"), active=False)
    client = as_user(client, root)

    def codes(**query):
        return [m.code for m in client.get(url("merchant_changelist"), query).context["cl"].result_list]

    assert codes() == ["open1", "shut1"]
    assert codes(active__exact="0") == ["shut1"]
    assert codes(q="open") == ["open1"]


# --- Plans: the page ---------------------------------------------------------------------------


def test_the_plan_list_shows_version_status_shares_and_who(client, editor, publisher, draft):
    client = as_user(client, editor)
    response = client.get(reverse(PLANS))
    assert list(response.context["cl"].list_display) == [
        "action_checkbox", "version", "name", "status", "shares_display", "published", "last_edited"]
    body = text(response)
    assert ("direct 30% · team 20% · same level 10%<br><small>buyer 30% · merchant 10% · total <b>100%</b>"
            "</small>") in body
    assert f"<small>by {editor}</small>" in body
    assert "Published" in body and "Draft" in body


def test_the_plan_page_shows_fieldsets_help_warnings_history_and_buttons(client, editor, draft):
    response = as_user(client, editor).get(change_url(draft))
    assert response.status_code == 200
    body = text(response)
    for heading in ("Version", "Budget and shares", "Levels and teams (链动3+1)", "Limits and exclusions",
                    "Who and when", "History"):
        assert re.search(rf">\s*{re.escape(heading)}\s*<", body), heading
    assert set(response.context["adminform"].form.fields) == set(plans.PLAN_FIELDS)
    # Help texts from the model.
    assert "How many invite levels above the buyer may be paid (1-3; the law's limit is 3)." in body
    # The default plan pays three levels: the warning box says so.
    assert 'class="warning">This plan pays beyond the direct inviter (up to 3 levels).' in body
    # The history inline, and the buttons.
    assert [inline.formset.prefix for inline in response.context["inline_admin_formsets"]] == ["events"]
    assert "from v1" in body and "Cloned as draft" in body
    assert 'value="Clone as draft"' in body and 'value="Publish"' not in body  # no publish permission
    simulate = reverse("admin:referrals_rewardplan_simulate", args=[draft.pk])
    assert simulate == f"/admin/referrals/rewardplan/{draft.pk}/simulate/"
    assert f'href="{simulate}"' in body


def test_the_simulate_button_reaches_the_simulation_page(client, publisher, draft):
    response = as_user(client, publisher).get(reverse("admin:referrals_rewardplan_simulate", args=[draft.pk]))
    assert response.status_code == 200
    assert response.template_name == "admin/referrals/rewardplan/simulate.html"
    assert client.get(reverse("admin:referrals_rewardplan_simulate", args=[9999])).status_code == 404


def test_a_direct_only_plan_shows_no_warning(client, editor, draft):
    plans.save_draft(draft, actor=editor, fields={"max_levels": 1})
    body = text(as_user(client, editor).get(change_url(draft)))
    assert 'id="plan-warnings"' not in body and "pays beyond the direct inviter" not in body


# --- Plans: adding and editing drafts ----------------------------------------------------------


def test_adding_a_plan_creates_a_draft_through_the_services(client, editor):
    client = as_user(client, editor)
    data = form_data(client.get(url("rewardplan_add")))
    data.update({"name": "Direct only", "max_levels": "1", "team_share": "0", "same_level_share": "0",
                 "excluded_categories": "package, gift"})
    response = client.post(url("rewardplan_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    plan = RewardPlan.objects.get(name="Direct only")
    assert (plan.version, plan.status, plan.created_by, plan.updated_by) == (2, PlanStatus.DRAFT, editor,
                                                                             editor)
    assert (plan.max_levels, plan.team_share, plan.excluded_categories) == (1, Decimal("0.00"),
                                                                            ["package", "gift"])
    assert history(plan) == [(Action.CREATED, "editor", "")]


def test_editing_a_draft_saves_through_save_draft_and_records_the_edit(client, editor, draft):
    client = as_user(client, editor)
    data = form_data(client.get(change_url(draft)))
    data.update({"direct_share": "35", "buyer_share": "25", "daily_cap_per_member": "800"})
    response = client.post(change_url(draft), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    draft.refresh_from_db()
    assert (draft.direct_share, draft.buyer_share, draft.daily_cap_per_member) == (
        Decimal("35.00"), Decimal("25.00"), 800)
    assert (draft.status, draft.updated_by) == (PlanStatus.DRAFT, editor)
    assert history(draft)[-1] == (Action.EDITED, "editor",
                                  "direct share %, buyer share %, daily cap per member (points)")


def test_saving_without_a_change_is_not_an_edit(client, editor, publisher, draft):
    other = staff_with("other", "view_rewardplan", "change_rewardplan")
    client = as_user(client, other)
    before = snapshot(draft)
    response = client.post(change_url(draft), form_data(client.get(change_url(draft))), follow=True)
    assert messages_of(response) == ["Nothing was changed, so nothing was saved."]
    assert snapshot(draft) == before
    assert RewardPlan.objects.get(pk=draft.pk).updated_by == editor


LEVELS = "At most 3 invite levels above the buyer may be paid (禁止传销条例)."


@pytest.mark.parametrize(("change", "field", "error"), [
    ({"direct_share": "40"}, "direct_share",
     "The shares add up to 110.00%: together they can be at most 100% of the budget, so a plan never "
     "pays out more than was funded."),
    ({"max_levels": "4"}, "max_levels", LEVELS),
    ({"max_levels": "0"}, "max_levels", LEVELS),
    ({"team_share": "120"}, "team_share", "A share is 0 to 100%."),
    ({"own_order_budget_percent": "25"}, "own_order_budget_percent", "The budget of own orders is 0 to 20%."),
    ({"cap_per_order": "0"}, "cap_per_order", "Leave empty for no cap, or enter at least 1."),
    ({"max_levels": "three"}, "max_levels", "Enter a whole number."),
])
def test_guardrails_are_form_errors_and_save_nothing(client, editor, draft, change, field, error):
    client = as_user(client, editor)
    data = form_data(client.get(change_url(draft)))
    data.update(change)
    before = snapshot(draft)
    response = client.post(change_url(draft), data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {field: [error]}
    assert error in text(response)
    assert snapshot(draft) == before


def test_adding_a_plan_that_breaks_a_guardrail_creates_nothing(client, editor):
    client = as_user(client, editor)
    data = form_data(client.get(url("rewardplan_add")))
    data.update({"name": "Too generous", "buyer_share": "50"})
    before = RewardPlan.objects.count()
    response = client.post(url("rewardplan_add"), data)
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["direct_share"]
    assert RewardPlan.objects.count() == before


# --- Plans: read-only once published -----------------------------------------------------------


def test_a_published_plan_is_read_only_and_never_deleted(client, editor, root, v1):
    client = as_user(client, editor)
    response = client.get(change_url(v1))
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    body = text(response)
    assert 'name="direct_share"' not in body and 'name="_save"' not in body
    assert "Only drafts can be edited: clone this version to change it." in body
    assert 'id="plan-warnings"' not in body  # read before publishing: drafts only
    data = {"name": "hacked", "direct_share": "50"}
    before = snapshot(v1)
    assert client.post(change_url(v1), data).status_code == 403
    for user in (editor, root):
        assert as_user(client, user).post(url("rewardplan_delete", v1.pk), {"post": "yes"}).status_code == 403
    assert snapshot(v1) == before


def test_a_draft_published_while_it_was_being_edited_is_not_saved(client, editor, publisher, draft):
    client = as_user(client, editor)
    data = form_data(client.get(change_url(draft)))
    plans.publish(draft, actor=publisher)
    data["direct_share"] = "25"
    before = snapshot(draft)
    assert client.post(change_url(draft), data).status_code == 403
    assert snapshot(draft) == before


def test_the_save_itself_refuses_a_plan_that_is_no_longer_a_draft(client, editor, publisher, draft,
                                                                  monkeypatch):
    """Past the permission check, save_draft locks the row and refuses: a message, no write."""
    from referrals.admin.plans import RewardPlanAdmin

    client = as_user(client, editor)
    data = form_data(client.get(change_url(draft)))
    data["direct_share"] = "25"
    monkeypatch.setattr(RewardPlanAdmin, "has_change_permission", lambda self, request, obj=None: True)
    plans.publish(draft, actor=publisher)
    before = snapshot(draft)
    response = client.post(change_url(draft), data, follow=True)
    assert messages_of(response) == ["Not saved: Only a draft plan can be edited; clone it to change it."]
    assert snapshot(draft) == before


# --- Plans: clone and publish ------------------------------------------------------------------


def release(client, plan, operation):
    return client.post(url("rewardplan_release", plan.pk, operation), follow=True)


def run_action(client, action, *plans_):
    return client.post(reverse(PLANS), {"action": action, "_selected_action": [p.pk for p in plans_]},
                       follow=True)


def action_names(response):
    form = response.context["action_form"]
    return [] if form is None else [name for name, _label in form.fields["action"].choices if name]


def test_clone_as_draft_button_and_action(client, editor, v1):
    client = as_user(client, editor)
    response = release(client, v1, "clone")
    clone = RewardPlan.objects.get(version=2)
    assert response.redirect_chain[-1][0] == change_url(clone)
    assert messages_of(response) == ["Created draft v2 from v1. Another person must publish it."]
    assert (clone.status, clone.name, clone.direct_share, clone.updated_by) == (
        PlanStatus.DRAFT, v1.name, v1.direct_share, editor)
    assert history(clone) == [(Action.CLONED, "editor", "from v1")]
    run_action(client, "clone_as_draft", clone)
    assert RewardPlan.objects.get(version=3).status == PlanStatus.DRAFT


def test_publishing_needs_the_permission(client, editor, draft):
    client = as_user(client, editor)
    assert action_names(client.get(reverse(PLANS))) == ["clone_as_draft"]
    before = snapshot(draft)
    assert client.post(url("rewardplan_release", draft.pk, "publish")).status_code == 403
    run_action(client, "publish_plan", draft)
    assert snapshot(draft) == before


def test_a_publisher_publishes_a_draft_someone_else_edited(client, editor, publisher, draft, v1):
    client = as_user(client, publisher)
    assert action_names(client.get(reverse(PLANS))) == ["publish_plan"]
    body = text(client.get(change_url(draft)))
    assert 'value="Publish"' in body and 'value="Clone as draft"' not in body
    response = release(client, draft, "publish")
    assert messages_of(response) == ["v2 is published: new orders are rewarded under it. Orders already "
                                     "rewarded keep their version."]
    draft.refresh_from_db()
    v1.refresh_from_db()
    assert (draft.status, draft.published_by, v1.status) == (PlanStatus.PUBLISHED, publisher,
                                                             PlanStatus.RETIRED)
    assert history(draft)[-1] == (Action.PUBLISHED, "publisher", "replacing v1")


def test_the_last_editor_cannot_publish_four_eyes(client, draft):
    lead = staff_with("lead", "view_rewardplan", "add_rewardplan", "change_rewardplan", "publish_rewardplan")
    plans.save_draft(draft, actor=lead, fields={"direct_share": Decimal("25")})
    client = as_user(client, lead)
    page = text(client.get(change_url(draft)))
    assert "You edited this draft last: another person must publish it (four-eyes rule)." in page
    before = snapshot(draft)
    refused = ["Refused: The person who last edited a plan cannot also publish it (four eyes)."]
    response = release(client, draft, "publish")
    assert response.status_code == 200 and messages_of(response) == refused
    response = run_action(client, "publish_plan", draft)
    assert response.status_code == 200 and messages_of(response) == refused
    assert snapshot(draft) == before


def test_a_plan_that_is_not_a_draft_is_refused_as_a_message(client, publisher, v1):
    response = release(as_user(client, publisher), v1, "publish")
    assert messages_of(response) == ["Refused: v1 is Published."]
    assert RewardPlan.objects.get(pk=v1.pk).status == PlanStatus.PUBLISHED


def test_release_takes_only_a_post_and_known_operations(client, editor, draft):
    client = as_user(client, editor)
    assert client.get(url("rewardplan_release", draft.pk, "clone")).status_code == 405
    assert client.post(url("rewardplan_release", draft.pk, "retire")).status_code == 404


# --- Reward records ----------------------------------------------------------------------------


def listed(client, **query):
    response = client.get(reverse(RECORDS), query)
    assert response.status_code == 200
    return sorted((r.order.external_id, r.kind) for r in response.context["cl"].result_list)


def test_records_list_shows_the_columns_and_filters_by_status(client, root, rewarded):
    _top, parent, _kid = rewarded
    client = as_user(client, root)
    response = client.get(reverse(RECORDS))
    # Ten facts in six columns: the detail of each in small type under it.
    assert list(response.context["cl"].list_display) == [
        "order_and_time", "beneficiary_and_kind", "points_display", "status_display", "explanation_display"]
    body = text(response)
    new_direct = RewardRecord.objects.get(order__external_id="new", kind="direct")
    until = f"{timezone.localtime(new_direct.available_at):%Y-%m-%d}"
    assert (f'<span title="Pending (not yet available)">Pending</span><br>'
            f'<small style="white-space:nowrap">until {until}</small>') in body
    assert f"{parent}<br><small>Direct reward · level 1</small>" in body
    assert "-<br><small>Team reward · level 2 · Lapsed</small>" in body
    assert "150<br><small>150 reversed</small>" in body
    assert "Lapsed (nothing credited)" in body and "Reversed in full (refunded)" in body  # the filter
    assert listed(client, status="pending") == [("new", "direct"), ("new", "team")]
    assert listed(client, status="settled") == [("old", "direct"), ("old", "team")]
    assert listed(client, status="reversed") == [("back", "direct"), ("back", "team")]
    assert listed(client, status="lapsed") == [("gated", "direct"), ("gated", "team")]
    assert len(listed(client)) == 8


def test_records_filter_by_kind_outcome_member_and_order(client, root, rewarded):
    top, parent, _kid = rewarded
    client = as_user(client, root)
    assert listed(client, kind__exact="team") == [("back", "team"), ("gated", "team"), ("new", "team"),
                                                  ("old", "team")]
    assert listed(client, outcome__exact="lapsed") == [("gated", "direct"), ("gated", "team")]
    assert listed(client, beneficiary=parent.pk) == [("back", "direct"), ("new", "direct"), ("old", "direct")]
    assert listed(client, q="13800000001") == [("back", "direct"), ("new", "direct"), ("old", "direct")]
    assert listed(client, q="top") == [("back", "team"), ("new", "team"), ("old", "team")]
    assert listed(client, q="gated") == [("gated", "direct"), ("gated", "team")]
    # A partly refunded reward is still pending: only a reward reversed in full is "reversed".
    refund("new", "40.00")
    assert listed(client, status="pending") == [("new", "direct"), ("new", "team")]


def export(client, file_format, **query):
    path = reverse("admin:referrals_rewardrecord_export")
    form = client.get(path, query).context["form"]
    data = {"format": file_format, "resource": "0"}
    data.update({name: "on" for name in form.fields if name not in ("format", "resource", "export_items")})
    from django.utils.http import urlencode

    return client.post(f"{path}?{urlencode(query)}", data)


def local(moment):
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M:%S}"


def test_export_of_a_filtered_list_as_csv(client, root, rewarded):
    response = export(as_user(client, root), CSV, status="pending")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    direct, team = RewardRecord.objects.filter(order__external_id="new").order_by("kind")
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0] == ("order_id,kind,beneficiary,level,outcome,points,points_reversed,status,available_at,"
                        "created_at,explanation,plan_version")
    assert sorted(lines[1:]) == [
        f"new,direct,parent,1,paid,150,0,pending,{local(direct.available_at)},{local(direct.created_at)},"
        "Direct reward: 30% of the 500-point budget of order new,1",
        f"new,team,top,2,paid,100,0,pending,{local(team.available_at)},{local(team.created_at)},"
        "Team reward: 20% of the 500-point budget of order new,1",
    ]


def test_export_as_xlsx(client, root, rewarded):
    top, _parent, _kid = rewarded
    response = export(as_user(client, root), XLSX, beneficiary=top.pk)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = [tuple(cell.value for cell in row) for row in sheet.iter_rows()]
    assert rows[0][:8] == ("order_id", "kind", "beneficiary", "level", "outcome", "points", "points_reversed",
                           "status")
    assert sorted(row[:8] for row in rows[1:]) == [
        ("back", "team", "top", 2, "paid", 100, 100, "reversed"),
        ("new", "team", "top", 2, "paid", 100, 0, "pending"),
        ("old", "team", "top", 2, "paid", 100, 0, "settled"),
    ]


def test_a_viewer_may_export_records(client, rewarded):
    viewer = staff_with("viewer", "view_rewardrecord")
    response = export(as_user(client, viewer), CSV, status="lapsed")
    assert response.status_code == 200
    assert len(response.content.decode("utf-8-sig").splitlines()) == 3


# --- Nothing written by a service is editable here ---------------------------------------------


@pytest.mark.parametrize("name", ["rewardrecord", "rewardedorder", "node"])
def test_records_rewarded_orders_and_positions_are_read_only(client, root, rewarded, name):
    _top, _parent, kid = rewarded
    obj = {"rewardrecord": RewardRecord.objects.first(), "rewardedorder": RewardedOrder.objects.first(),
           "node": Node.objects.get(member=kid)}[name]
    client = as_user(client, root)
    changelist = client.get(url(f"{name}_changelist"))
    assert changelist.status_code == 200
    assert changelist.context["has_add_permission"] is False
    assert not action_names(changelist)  # no bulk delete
    page = client.get(url(f"{name}_change", obj.pk))
    assert page.status_code == 200 and page.context["has_change_permission"] is False
    assert 'name="_save"' not in text(page)
    assert client.get(url(f"{name}_add")).status_code == 403
    assert client.post(url(f"{name}_change", obj.pk), {"points": "999", "depth": "0"}).status_code == 403
    assert client.post(url(f"{name}_delete", obj.pk), {"post": "yes"}).status_code == 403
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_positions_are_searchable_by_member_and_invite_code(client, root, rewarded):
    _top, parent, kid = rewarded
    client = as_user(client, root)
    code = Node.objects.get(member=kid).invite_code

    def members(q):
        page = client.get(url("node_changelist"), {"q": q})
        return [node.member.username for node in page.context["cl"].result_list]

    assert members("parent") == ["parent"]
    assert members(code) == ["kid"]
    assert members(code.lower()) == ["kid"]


# --- The member page ---------------------------------------------------------------------------


def test_the_member_page_shows_the_referral_section(client, root, rewarded):
    top, parent, kid = rewarded
    client = as_user(client, root)
    body = text(client.get(reverse("admin:mall_member_change", args=[parent.pk])))
    assert re.search(r">\s*Referrals\s*<", body)
    assert f"<code>{Node.objects.get(member=parent).invite_code}</code>" in body
    member_url = reverse("admin:mall_member_change", args=[top.pk])
    assert f'<th>inviter</th><td><a href="{member_url}">{top}</a></td>' in body
    assert f'<th>team leader</th><td><a href="{member_url}">{top}</a></td>' in body
    assert "<th>direct invitees</th><td>1 (1 with a paid order)</td>" in body
    assert "Direct reward: 30% of the 500-point budget of order old" in body
    assert f'href="{reverse(RECORDS)}?beneficiary={parent.pk}"' in body
    # Read-only: the member form has no referral inputs.
    assert not {"invite_code", "inviter", "leader"} & set(
        client.get(reverse("admin:mall_member_change", args=[parent.pk])).context["adminform"].form.fields)

    leader_page = text(client.get(reverse("admin:mall_member_change", args=[top.pk])))
    assert "<th>team size</th><td>2 members</td>" in leader_page
    assert "<th>inviter</th><td>none (invited by no one)</td>" in leader_page


def test_the_member_page_shows_at_most_20_rewards(client, root):
    parent = member(username="parent")
    for index in range(22):
        pay(member(parent), "10.00", order_id=f"many-{index}")
    body = text(as_user(client, root).get(reverse("admin:mall_member_change", args=[parent.pk])))
    assert body.count("of order many-") == 20
    assert "of order many-21" in body and "of order many-1<" not in body
