"""The rule-set admin: one page per version, drafts-only editing through rules.services, release
actions behind their own permission, refusals as messages, and the history on the page.

A little over 500 lines: one file for the one rule-set admin, its pages sharing the staff clients."""

import re
from decimal import Decimal
from unittest.mock import patch

import pytest
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.urls import reverse

from rules import services
from rules.models import RuleSet, RuleSetEvent, RuleSetStatus, SpendTier
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

Action = RuleSetEvent.Action
EDITOR_GROUP = "规则编辑 / Rule editor"
PUBLISHER_GROUP = "规则发布 / Rule publisher"
CHANGELIST = "admin:rules_ruleset_changelist"


def staff_in(group_name, username):
    user = StaffFactory(username=username)
    user.groups.add(Group.objects.get(name=group_name))
    return user


@pytest.fixture
def editor():
    return staff_in(EDITOR_GROUP, "editor")


@pytest.fixture
def publisher():
    return staff_in(PUBLISHER_GROUP, "publisher")


@pytest.fixture
def v1():
    return RuleSet.objects.get(version=1)


@pytest.fixture
def draft(v1, editor):
    """v2: a clone of the default rule set, last edited by ``editor``."""
    return services.clone_as_draft(v1, actor=editor)


def change_url(rule_set):
    return reverse("admin:rules_ruleset_change", args=[rule_set.pk])


def as_user(client, user):
    client.force_login(user)
    # English pages whatever the default language (the Chinese catalogs come separately).
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def form_data(response):
    """The POST a browser would send for the change page as rendered (every inline included)."""
    data = {}

    def put(form):
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            data[form.add_prefix(name)] = "on" if value is True else value

    put(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        put(formset.management_form)
        for form in formset.forms:
            put(form)
    return data


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def events(rule_set):
    return list(RuleSetEvent.objects.filter(rule_set=rule_set).order_by("id")
                .values_list("action", "actor__username", "detail"))


def snapshot(rule_set):
    rule_set = RuleSet.objects.get(pk=rule_set.pk)
    return (
        [(f.name, getattr(rule_set, f.name)) for f in RuleSet._meta.concrete_fields],
        sorted(rule_set.spend_tiers.values_list("threshold", "bonus_points")),
        sorted(rule_set.tiers.values_list("code", "multiplier", "qualify_points")),
        RuleSetEvent.objects.filter(rule_set=rule_set).count(),
    )


def run_action(client, action, *rule_sets, **extra):
    return client.post(reverse(CHANGELIST), {"action": action, "_selected_action": [r.pk for r in rule_sets],
                                             **extra}, follow=True)


# --- The page ----------------------------------------------------------------------------------


def test_the_change_page_renders_fieldsets_inlines_and_help(client, editor, draft):
    response = as_user(client, editor).get(change_url(draft))
    assert response.status_code == 200
    body = response.content.decode()
    prefixes = [inline.formset.prefix for inline in response.context["inline_admin_formsets"]]
    assert prefixes == ["tiers", "category_bonuses", "spend_tiers", "behaviours", "check_in_steps", "events"]
    forms = {inline.formset.prefix: inline.formset for inline in response.context["inline_admin_formsets"]}
    assert [len(forms[p].forms) for p in prefixes[:5]] == [3, 2, 2, 5, 7]
    for heading in ("Earning", "Behaviours and caps", "Pending, expiry and reminders", "Redemption",
                    "Lifecycle campaigns", "Tiers", "Version and release", "Who and when"):
        assert re.search(rf">\s*{re.escape(heading)}\s*<", body)
    assert "Order points stay pending this many days (the refund window)." in body
    assert 'name="spend_tiers-1-bonus_points"' in body
    # Every policy on the model is on the page.
    rendered = set(response.context["adminform"].form.fields)
    assert rendered == {f.name for f in RuleSet._meta.concrete_fields if f.editable and not f.primary_key}


def test_a_draft_shows_preview_links_and_a_published_version_does_not(client, editor, draft, v1):
    client = as_user(client, editor)
    body = client.get(change_url(draft)).content.decode()
    base = f"/admin/rules/ruleset/{draft.pk}/"
    assert reverse("admin:rules_ruleset_try_order", args=[draft.pk]) == base + "try-order/"
    assert reverse("admin:rules_ruleset_simulate", args=[draft.pk]) == base + "simulate/"
    assert f'href="/admin/rules/ruleset/{draft.pk}/try-order/"' in body
    assert f'href="/admin/rules/ruleset/{draft.pk}/simulate/"' in body
    body = client.get(change_url(v1)).content.decode()
    assert "try-order/" not in body and "simulate/" not in body


def test_changelist_shows_status_gray_and_who(client, editor, publisher, draft, v1):
    services.start_gray(draft, actor=publisher, percent=15, tiers=["gold"])
    response = as_user(client, editor).get(reverse(CHANGELIST))
    body = response.content.decode()
    assert list(response.context["cl"].list_display) == [
        "action_checkbox", "version", "name", "status", "gray_display", "published_by", "published_on",
        "updated_by", "updated_on",
    ]
    assert "Gray release" in body and "15% + Gold" in body and "editor" in body


# --- Editing -----------------------------------------------------------------------------------


def test_editing_a_draft_saves_it_and_records_the_editor(client, editor, draft):
    client = as_user(client, editor)
    data = form_data(client.get(change_url(draft)))
    data["pending_days"] = "10"
    data["reminder_days"] = "7, 30"
    row = next(key for key, value in data.items() if key.endswith("bonus_points") and value == 40)
    data[row] = "45"
    data["category_bonuses-TOTAL_FORMS"] = "3"
    data.update({"category_bonuses-2-category": "gift", "category_bonuses-2-label": "礼盒",
                 "category_bonuses-2-bonus_percent": "20"})
    response = client.post(change_url(draft), data)
    assert response.status_code == 302, response.context["errors"] if response.context else response
    draft.refresh_from_db()
    assert (draft.pending_days, draft.reminder_days, draft.status) == (10, "30,7", RuleSetStatus.DRAFT)
    assert sorted(draft.spend_tiers.values_list("threshold", "bonus_points")) == [
        (Decimal("100.00"), 10), (Decimal("300.00"), 45)
    ]
    assert draft.category_bonuses.get(category="gift").bonus_percent == Decimal("20")
    assert draft.updated_by == editor
    assert events(draft)[-1] == (Action.EDITED, "editor",
                                 "pending days, reminder days, category bonuses, spend tiers")


def test_saving_without_a_change_is_not_an_edit(client, editor, draft):
    client = as_user(client, editor)
    before = snapshot(draft)
    assert client.post(change_url(draft), form_data(client.get(change_url(draft)))).status_code == 302
    assert snapshot(draft) == before


def test_adding_a_rule_set_creates_a_draft_through_the_services(client, editor):
    client = as_user(client, editor)
    data = form_data(client.get(reverse("admin:rules_ruleset_add")))
    data["name"] = "Double points week"
    for index, (tier, multiplier, qualify) in enumerate([("normal", "2", "0"), ("silver", "2.4", "2000"),
                                                         ("gold", "3", "10000")]):
        data.update({f"tiers-{index}-code": tier, f"tiers-{index}-name": tier.title(),
                     f"tiers-{index}-rank": str(index + 1), f"tiers-{index}-multiplier": multiplier,
                     f"tiers-{index}-qualify_points": qualify})
    response = client.post(reverse("admin:rules_ruleset_add"), data)
    assert response.status_code == 302, response.context["errors"]
    rule_set = RuleSet.objects.get(name="Double points week")
    assert (rule_set.version, rule_set.status, rule_set.created_by, rule_set.updated_by) == (
        2, RuleSetStatus.DRAFT, editor, editor
    )
    assert sorted(rule_set.tiers.values_list("code", "multiplier")) == [
        ("gold", Decimal("3.00")), ("normal", Decimal("2.00")), ("silver", Decimal("2.40"))
    ]
    assert events(rule_set) == [(Action.CREATED, "editor", "")]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"reminder_days": "30,x"}, "Enter whole numbers of days separated by commas, e.g. 30,7."),
        ({"redemption_max_percent": "120"}, "Ensure this value is less than or equal to 100."),
        ({"tier_grace_days": "400"}, "The downgrade grace cannot be longer than the tier window."),
        ({"spend_tiers-1-bonus_points": "5"}, "Bonus points must rise with the order amount: 满300 gives 5, "
                                              "not more than 满100 (10)."),
        ({"tiers-0-qualify_points": "5"},
         "The lowest tier (普通会员) must qualify at 0 points: every member has a tier."),
        ({"tiers-1-qualify_points": "20000"},
         "Points to qualify must rise with the rank: 金卡会员 needs more than 银卡会员."),
        ({"tiers-2-multiplier": "1.1"},
         "A higher tier cannot earn a lower multiplier: 金卡会员 is below 银卡会员."),
        ({"tiers-2-rank": "2"}, "Please correct the duplicate data for rank"),
        ({"tiers-2-code": "silver"}, "Please correct the duplicate data for code"),
        # An existing row picks its code from the list (rules.admin.tables.CodeChoiceForm).
        ({"tiers-2-code": "Gold"},
         "“Gold” is not in the list; pick one of Normal (normal), Silver (silver), Gold (gold)."),
        ({"tiers-2-code": "platinum"}, "“platinum” is not in the list; pick one of Normal (normal)"),
        ({"tiers-2-multiplier": "11"}, "Ensure this value is less than or equal to 10."),
        ({"check_in_steps-0-DELETE": "on"}, "The check-in streak must start with day 1."),
        ({"behaviours-2-action": "Review!"}, "“Review!” is not in the list; pick one of "),
        ({"category_bonuses-0-category": "toys"},
         "“toys” is not in the list; pick one of 进口水果 (imported), 应季水果 (seasonal)."),
        ({"behaviours-2-action": "register"}, "Please correct the duplicate data for action"),
    ],
)
def test_invalid_input_is_shown_as_form_errors_and_saves_nothing(client, editor, draft, change, error):
    client = as_user(client, editor)
    data = form_data(client.get(change_url(draft)))
    # Inline rows come in the model's ordering: tiers by rank, the rest by key.
    assert (data["tiers-2-code"], data["spend_tiers-1-threshold"], data["behaviours-2-action"]) == (
        "gold", Decimal("300.00"), "review"
    )
    data.update(change)
    before = snapshot(draft)
    response = client.post(change_url(draft), data)
    assert response.status_code == 200
    assert error in response.content.decode().replace("&quot;", '"').replace("&#x27;", "'")
    assert snapshot(draft) == before


# --- Read-only once released -------------------------------------------------------------------


def test_a_published_version_is_read_only(client, editor, v1):
    client = as_user(client, editor)
    response = client.get(change_url(v1))
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    assert 'name="pending_days"' not in response.content.decode()
    assert 'name="_save"' not in response.content.decode()
    assert all(not inline.has_add_permission and not inline.has_change_permission
               for inline in response.context["inline_admin_formsets"])


def test_a_post_to_a_published_version_is_refused_and_changes_nothing(client, editor, draft, v1):
    client = as_user(client, editor)
    data = form_data(client.get(change_url(draft)))  # a valid edit form ...
    data["pending_days"] = "30"
    data["spend_tiers-1-bonus_points"] = "99"
    before = snapshot(v1)
    response = client.post(change_url(v1), data)  # ... sent to the published version
    assert response.status_code == 403
    assert snapshot(v1) == before
    superuser = StaffFactory(username="root", is_superuser=True)
    assert as_user(client, superuser).post(change_url(v1), data).status_code == 403
    assert snapshot(v1) == before


def test_a_version_released_while_it_was_being_edited_is_not_saved(client, editor, publisher, draft):
    client = as_user(client, editor)
    data = form_data(client.get(change_url(draft)))
    services.record_edit(draft, actor=editor)
    services.publish(draft, actor=publisher)
    data["pending_days"] = "30"
    before = snapshot(draft)
    assert client.post(change_url(draft), data).status_code == 403
    assert snapshot(draft) == before


def test_the_save_itself_refuses_a_version_that_is_no_longer_a_draft(client, editor, draft, v1, monkeypatch):
    """The second line of defence: even past the permission check, saving locks the row and
    refuses anything that is not a draft, with a message and no partial write."""
    from rules.admin import RuleSetAdmin

    client = as_user(client, editor)
    data = form_data(client.get(change_url(draft)))
    data["pending_days"] = "30"
    data["spend_tiers-1-bonus_points"] = "99"
    monkeypatch.setattr(RuleSetAdmin, "has_change_permission", lambda self, request, obj=None: True)
    services.record_edit(draft, actor=editor)
    services.publish(draft, actor=StaffFactory(username="other"))
    before = snapshot(draft)
    response = client.post(change_url(draft), data, follow=True)
    assert messages_of(response) == ["v2 is Published; clone it to change it."]
    assert snapshot(draft) == before


# --- Release actions ---------------------------------------------------------------------------


def action_names(response):
    return [name for name, _label in response.context["action_form"].fields["action"].choices if name]


def test_release_actions_need_the_publish_permission(client, editor, publisher, draft):
    editor_page = as_user(client, editor).get(reverse(CHANGELIST))
    assert action_names(editor_page) == ["clone_as_draft"]
    body = client.get(change_url(draft)).content.decode()
    assert "Clone as draft" in body and "Publish to all" not in body
    # Running them anyway changes nothing.
    before = snapshot(draft)
    run_action(client, "publish_to_all", draft)
    assert client.post(reverse("admin:rules_ruleset_release", args=[draft.pk, "publish"])).status_code == 403
    assert client.get(reverse("admin:rules_ruleset_gray_release", args=[draft.pk])).status_code == 403
    assert snapshot(draft) == before

    publisher_page = as_user(client, publisher).get(reverse(CHANGELIST))
    assert action_names(publisher_page) == ["start_gray_release", "widen_gray_release", "publish_to_all",
                                            "stop_gray_release", "roll_back"]
    response = run_action(client, "publish_to_all", draft)
    confirm = reverse("admin:rules_ruleset_release", args=[draft.pk, "publish"])
    assert response.redirect_chain[-1][0] == confirm  # the confirmation page, nothing done yet
    assert RuleSet.objects.get(pk=draft.pk).status == RuleSetStatus.DRAFT
    response = client.post(confirm, {"confirm": "1"}, follow=True)
    assert messages_of(response) == ["v2 is now published to all members."]
    draft.refresh_from_db()
    assert (draft.status, draft.published_by) == (RuleSetStatus.PUBLISHED, publisher)


def test_the_last_editor_sees_the_refusal_as_a_message(client, editor, draft):
    editor.groups.add(Group.objects.get(name=PUBLISHER_GROUP))
    client = as_user(client, editor)
    before = snapshot(draft)
    response = run_action(client, "publish_to_all", draft)
    assert response.status_code == 200 and "four-eyes rule" in response.content.decode()
    response = client.post(reverse("admin:rules_ruleset_release", args=[draft.pk, "publish"]),
                           {"confirm": "1"}, follow=True)
    assert messages_of(response) == ["Refused: Member 1 last edited v2; another person must release it."
                                     .replace("Member 1", str(editor))]
    response = client.post(reverse("admin:rules_ruleset_release", args=[draft.pk, "publish"]),
                           {"confirm": "1"}, follow=True)
    assert response.status_code == 200 and "another person must release it" in messages_of(response)[0]
    assert snapshot(draft) == before


def test_an_invalid_transition_is_a_message(client, publisher, draft, v1, editor):
    services.start_gray(draft, actor=publisher, percent=10)
    other = services.clone_as_draft(v1, actor=editor)
    client = as_user(client, publisher)
    response = client.post(reverse("admin:rules_ruleset_gray_release", args=[other.pk]),
                           {"percent": "5", "confirm": "1"}, follow=True)
    assert response.status_code == 200
    assert messages_of(response) == [
        "Refused: Another version is already in gray release; stop or publish it first."
    ]
    response = run_action(client, "stop_gray_release", v1)
    assert messages_of(response) == ["Refused: v1 is not in gray release."]
    response = client.post(reverse("admin:rules_ruleset_release", args=[v1.pk, "stop-gray"]),
                           {"confirm": "1"}, follow=True)
    assert messages_of(response) == ["Refused: v1 is not in gray release."]
    assert RuleSet.objects.get(pk=other.pk).status == RuleSetStatus.DRAFT


def test_gray_release_through_the_intermediate_form(client, publisher, draft):
    client = as_user(client, publisher)
    response = run_action(client, "start_gray_release", draft)
    assert response.redirect_chain[-1][0] == reverse("admin:rules_ruleset_gray_release", args=[draft.pk])
    assert 'name="percent"' in response.content.decode()
    url = reverse("admin:rules_ruleset_gray_release", args=[draft.pk])
    response = client.post(url, {"percent": "0"})
    assert "Choose a percentage above 0, at least one tier or one RFM segment." in response.content.decode()
    response = client.post(url, {"percent": "20", "tiers": ["gold"]})  # the confirmation page
    assert 'name="confirm"' in response.content.decode()
    assert RuleSet.objects.get(pk=draft.pk).status == RuleSetStatus.DRAFT
    response = client.post(url, {"percent": "20", "tiers": ["gold"], "confirm": "1"}, follow=True)
    assert messages_of(response) == ["v2 is in gray release: 20% of members + Gold."]
    draft.refresh_from_db()
    assert (draft.status, draft.gray_percent, draft.gray_tiers) == (RuleSetStatus.CANDIDATE, 20, ["gold"])

    # Widen: the form starts from the current cohort and refuses to narrow it.
    response = run_action(client, "widen_gray_release", draft)
    assert response.context["form"].initial == {"percent": 20, "tiers": ["gold"], "segments": []}
    response = client.post(url, {"percent": "10", "tiers": ["gold"]})
    assert "A gray release can only be widened" in response.content.decode()
    client.post(url, {"percent": "50", "tiers": ["gold", "silver"], "confirm": "1"})
    draft.refresh_from_db()
    assert (draft.gray_percent, draft.gray_tiers) == (50, ["gold", "silver"])
    assert [e[:2] for e in events(draft)[-2:]] == [(Action.GRAY_STARTED, "publisher"),
                                                   (Action.GRAY_WIDENED, "publisher")]


def test_stop_publish_and_roll_back_from_the_change_page(client, publisher, editor, draft, v1):
    client = as_user(client, publisher)
    services.start_gray(draft, actor=publisher, percent=10)
    body = client.get(change_url(draft)).content.decode()
    assert "Stop gray release" in body and "Widen gray release" in body and "Publish to all" in body
    client.post(reverse("admin:rules_ruleset_release", args=[draft.pk, "stop-gray"]), {"confirm": "1"})
    assert RuleSet.objects.get(pk=draft.pk).status == RuleSetStatus.RETIRED

    v3 = services.clone_as_draft(v1, actor=editor)
    response = client.post(reverse("admin:rules_ruleset_release", args=[v3.pk, "publish"]), {"confirm": "1"})
    assert response.status_code == 302 and response["Location"] == change_url(v3)
    assert "Roll back to the previous version" in client.get(change_url(v3)).content.decode()
    response = client.post(reverse("admin:rules_ruleset_release", args=[v3.pk, "roll-back"]),
                           {"confirm": "1"}, follow=True)
    assert messages_of(response) == ["Rolled back v3; v1 is published again."]
    assert response.redirect_chain[-1][0] == change_url(v1)
    assert RuleSet.objects.get(status=RuleSetStatus.PUBLISHED) == v1
    assert client.get(reverse("admin:rules_ruleset_release", args=[v1.pk, "clone"])).status_code == 405


def test_roll_back_action_only_on_the_published_version(client, publisher, draft):
    response = run_action(as_user(client, publisher), "roll_back", draft)
    assert messages_of(response) == ["Only the published version can be rolled back."]
    response = run_action(client, "roll_back", RuleSet.objects.get(version=1))
    assert messages_of(response) == ["Refused: There is no earlier published version to roll back to."]


def test_clone_from_the_change_page_opens_the_new_draft(client, editor, v1):
    client = as_user(client, editor)
    response = client.post(reverse("admin:rules_ruleset_release", args=[v1.pk, "clone"]))
    clone = RuleSet.objects.get(cloned_from=v1)
    assert response["Location"] == change_url(clone)
    assert (clone.status, clone.created_by, clone.tiers.count()) == (RuleSetStatus.DRAFT, editor, 3)
    response = run_action(client, "clone_as_draft", v1)
    assert messages_of(response)[-1] == "Created draft v3 from v1."


def test_actions_need_exactly_one_rule_set(client, publisher, draft, v1):
    response = run_action(as_user(client, publisher), "publish_to_all", draft, v1)
    assert messages_of(response) == ["Select exactly one rule set for this action."]
    assert RuleSet.objects.get(pk=draft.pk).status == RuleSetStatus.DRAFT


def test_the_publisher_cannot_edit(client, publisher, draft):
    client = as_user(client, publisher)
    response = client.get(change_url(draft))
    assert response.context["has_change_permission"] is False
    before = snapshot(draft)
    assert client.post(change_url(draft), {"name": "x"}).status_code == 403
    assert snapshot(draft) == before


# --- History -----------------------------------------------------------------------------------


def test_history_is_on_the_rule_set_page(client, editor, publisher, draft):
    services.record_edit(draft, actor=editor, detail="spend tiers")
    services.start_gray(draft, actor=publisher, percent=25)
    response = as_user(client, publisher).get(change_url(draft))
    history = next(i for i in response.context["inline_admin_formsets"] if i.formset.prefix == "events")
    rows = [(form.instance.get_action_display(), str(form.instance.actor), form.instance.detail)
            for form in history.formset.forms]
    assert rows == [("Gray release started", str(publisher), "25%"),
                    ("Edited", str(editor), "spend tiers"),
                    ("Cloned as draft", str(editor), "from v1")]
    body = response.content.decode()
    assert "Gray release started" in body and "Cloned as draft" in body and "from v1" in body
    events_page = client.get(reverse("admin:rules_rulesetevent_changelist"))
    assert events_page.status_code == 200 and "Gray release started" in events_page.content.decode()


def test_the_inline_tables_stay_consistent_with_the_database(client, editor, draft):
    """Deleting and adding inline rows in one save works with the unique keys."""
    client = as_user(client, editor)
    data = form_data(client.get(change_url(draft)))
    data["spend_tiers-0-DELETE"] = "on"
    data["spend_tiers-TOTAL_FORMS"] = "3"
    data.update({"spend_tiers-2-threshold": "500", "spend_tiers-2-bonus_points": "80"})
    assert client.post(change_url(draft), data).status_code == 302
    assert list(SpendTier.objects.filter(rule_set=draft).values_list("threshold", "bonus_points")) == [
        (Decimal("300.00"), 40), (Decimal("500.00"), 80)
    ]


def test_a_save_is_one_save_draft_call_with_the_changed_fields_and_rows(client, editor, draft):
    client = as_user(client, editor)
    data = form_data(client.get(change_url(draft)))
    data["pending_days"] = "10"
    data["spend_tiers-0-DELETE"] = "on"
    data["spend_tiers-1-bonus_points"] = "45"

    with patch("rules.services.save_draft", wraps=services.save_draft) as save_draft:
        assert client.post(change_url(draft), data).status_code == 302

    assert save_draft.call_count == 1
    kwargs = save_draft.call_args.kwargs
    assert (kwargs["actor"], kwargs["fields"]) == (editor, {"pending_days": 10})
    assert [(row.threshold, row.bonus_points) for row in kwargs["rows"]] == [(Decimal("300.00"), 45)]
    assert [row.threshold for row in kwargs["deleted"]] == [Decimal("100.00")]
    assert list(SpendTier.objects.filter(rule_set=draft).values_list("threshold", "bonus_points")) == [
        (Decimal("300.00"), 45)]
    assert events(draft)[-1] == (Action.EDITED, "editor", "pending days, spend tiers")


def test_deleting_a_row_alone_is_an_edit_of_its_table(client, editor, draft):
    client = as_user(client, editor)
    data = form_data(client.get(change_url(draft)))
    data["spend_tiers-1-DELETE"] = "on"

    assert client.post(change_url(draft), data).status_code == 302

    assert list(SpendTier.objects.filter(rule_set=draft).values_list("threshold", "bonus_points")) == [
        (Decimal("100.00"), 10)]
    assert events(draft)[-1] == (Action.EDITED, "editor", "spend tiers")


def test_the_rows_of_a_new_rule_set_are_saved_through_save_rows(client, editor):
    client = as_user(client, editor)
    data = form_data(client.get(reverse("admin:rules_ruleset_add")))
    data["name"] = "New"
    for index, (tier, qualify) in enumerate([("normal", "0"), ("silver", "2000"), ("gold", "10000")]):
        data.update({f"tiers-{index}-code": tier, f"tiers-{index}-name": tier,
                     f"tiers-{index}-rank": index + 1, f"tiers-{index}-multiplier": "1",
                     f"tiers-{index}-qualify_points": qualify})

    with patch("rules.services.save_rows", wraps=services.save_rows) as save_rows:
        assert client.post(reverse("admin:rules_ruleset_add"), data).status_code == 302

    rule_set = RuleSet.objects.get(name="New")
    assert save_rows.call_count == 1
    assert save_rows.call_args.args[0] == rule_set
    assert sorted(row.code for row in save_rows.call_args.args[1]) == ["gold", "normal", "silver"]


def test_the_preview_pages_are_wired_through_the_admin(client, editor, draft):
    client = as_user(client, editor)
    for name in ("try_order", "simulate"):
        assert client.get(reverse(f"admin:rules_ruleset_{name}", args=[draft.pk])).status_code == 200
    client.logout()
    response = client.get(reverse("admin:rules_ruleset_try_order", args=[draft.pk]))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
