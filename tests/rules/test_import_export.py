"""Import/export of the rule tables: CSV and XLSX, keyed by (version, key), drafts only, a dry-run
preview before anything is written, all or nothing, and an import counts as an edit."""

import io
from decimal import Decimal
from unittest.mock import patch

import openpyxl
import pytest
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from rules import services
from rules.models import RuleSet, RuleSetEvent, SpendTier, TierRule
from rules.resources import TierRuleResource
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

CSV, XLSX = "0", "1"  # the admin's format choices, in RuleTableAdmin.formats order


@pytest.fixture
def editor():
    user = StaffFactory(username="editor")
    user.groups.add(Group.objects.get(name="规则编辑 / Rule editor"))
    return user


@pytest.fixture
def publisher():
    user = StaffFactory(username="publisher")
    user.groups.add(Group.objects.get(name="规则发布 / Rule publisher"))
    return user


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def draft(editor):
    """v2, cloned from the published default rule set by someone else."""
    return services.clone_as_draft(RuleSet.objects.get(version=1), actor=StaffFactory(username="author"))


def url(model, name):
    return reverse(f"admin:rules_{model._meta.model_name}_{name}")


def upload(client, model, content, *, name="rules.csv", file_format=CSV):
    return client.post(url(model, "import"), {
        "resource": "0", "format": file_format,
        "import_file": SimpleUploadedFile(name, content.encode() if isinstance(content, str) else content),
    })


def confirm(client, model, preview):
    return client.post(url(model, "process_import"), preview.context["confirm_form"].initial, follow=True)


def tiers(rule_set):
    rows = TierRule.objects.filter(rule_set=rule_set)
    return sorted(rows.values_list("code", "multiplier", "qualify_points"))


def history(rule_set):
    return list(RuleSetEvent.objects.filter(rule_set=rule_set).order_by("id")
                .values_list("action", "actor__username", "detail"))


def export(client, model, file_format, query=""):
    form = client.get(url(model, "export") + query).context["form"]
    data = {"format": file_format, "resource": "0"}
    data.update({name: "on" for name, field in form.fields.items() if name not in ("format", "resource",
                                                                                     "export_items")})
    return client.post(url(model, "export") + query, data)


def test_export_csv(editor_client, draft):
    response = export(editor_client, TierRule, CSV, f"?rule_set__id__exact={draft.pk}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = sorted(response.content.decode("utf-8-sig").splitlines())
    assert lines == ["2,gold,3,金卡会员,Gold,1.50,10000", "2,normal,1,普通会员,Normal,1.00,0",
                     "2,silver,2,银卡会员,Silver,1.20,2000",
                     "version,code,rank,name,name_en,multiplier,qualify_points"]


def test_export_xlsx(editor_client, draft):
    response = export(editor_client, SpendTier, XLSX, f"?rule_set__id__exact={draft.pk}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = [tuple(cell.value for cell in row) for row in sheet.iter_rows()]
    assert rows[0] == ("version", "threshold", "bonus_points")
    assert sorted(rows[1:]) == [(2, 100, 10), (2, 300, 40)]


def test_import_previews_with_a_dry_run_then_imports_on_confirm(editor_client, editor, draft):
    before = tiers(draft)
    content = "version,code,multiplier,qualify_points\n2,gold,1.80,12000\n2,silver,1.20,2000\n"
    preview = upload(editor_client, TierRule, content)
    assert preview.status_code == 200
    result = preview.context["result"]
    assert not result.has_errors() and not result.has_validation_errors()
    assert [row.import_type for row in result.rows] == ["update", "skip"]
    assert "confirm_form" in preview.context and "import-preview-table" in preview.content.decode()
    # The dry run wrote nothing.
    assert tiers(draft) == before
    assert history(draft) == [("cloned", "author", "from v1")]

    done = confirm(editor_client, TierRule, preview)
    assert done.status_code == 200
    assert tiers(draft) == [("gold", Decimal("1.80"), 12000), ("normal", Decimal("1.00"), 0),
                            ("silver", Decimal("1.20"), 2000)]
    draft.refresh_from_db()
    assert draft.updated_by == editor  # so the importer cannot release it
    assert history(draft)[-1] == ("edited", "editor", "import: 1 row(s) of tiers (rules.csv)")


def test_imported_rows_are_written_through_save_rows(editor_client, draft):
    preview = upload(editor_client, SpendTier, "version,threshold,bonus_points\n2,500,80\n2,300,45\n")

    with patch("rules.services.save_rows", wraps=services.save_rows) as save_rows:
        confirm(editor_client, SpendTier, preview)

    assert [(call.args[0].version, [(row.threshold, row.bonus_points) for row in call.args[1]])
            for call in save_rows.call_args_list] == [
        (2, [(Decimal("500"), 80)]), (2, [(Decimal("300"), 45)])]
    assert sorted(draft.spend_tiers.values_list("threshold", "bonus_points")) == [
        (Decimal("100.00"), 10), (Decimal("300.00"), 45), (Decimal("500.00"), 80)]
    assert history(draft)[-1] == ("edited", "editor", "import: 2 row(s) of spend tiers (rules.csv)")


def test_an_import_adds_new_keys(editor_client, draft):
    preview = upload(editor_client, SpendTier, "version,threshold,bonus_points\n2,500,80\n2,300.00,40\n")
    assert [row.import_type for row in preview.context["result"].rows] == ["new", "skip"]
    confirm(editor_client, SpendTier, preview)
    assert sorted(draft.spend_tiers.values_list("threshold", "bonus_points")) == [
        (Decimal("100.00"), 10), (Decimal("300.00"), 40), (Decimal("500.00"), 80)
    ]


@pytest.mark.parametrize(
    ("bad_row", "error"),
    [
        ("1,gold,1.80,12000", "v1 is Published: only drafts can be imported into"),
        ("9,gold,1.80,12000", "There is no rule set v9."),
        ("x,gold,1.80,12000", "Enter the version number of a draft rule set."),
        ("2,gold,11,12000", "Ensure this value is less than or equal to 10."),
        ("2,Platinum!,2,50000", "Use 1-16 lower-case letters, digits or _, starting with a letter."),
        ("2,platinum,2,50000", "This field cannot be blank."),  # a new tier needs its name and rank
    ],
)
def test_a_bad_row_imports_nothing(editor_client, draft, bad_row, error):
    before_draft, before_v1 = tiers(draft), tiers(RuleSet.objects.get(version=1))
    content = f"version,code,multiplier,qualify_points\n2,silver,1.30,3000\n{bad_row}\n"
    preview = upload(editor_client, TierRule, content)
    result = preview.context["result"]
    assert result.has_validation_errors()
    assert [row.number for row in result.invalid_rows] == [2]
    assert "confirm_form" not in preview.context
    assert error in preview.content.decode()
    assert tiers(draft) == before_draft
    assert tiers(RuleSet.objects.get(version=1)) == before_v1
    assert history(draft) == [("cloned", "author", "from v1")]


def test_a_version_released_between_preview_and_confirm_imports_nothing(editor_client, draft, publisher):
    preview = upload(editor_client, TierRule, "version,code,multiplier,qualify_points\n2,gold,1.80,12000\n")
    assert "confirm_form" in preview.context
    services.publish(draft, actor=publisher)
    before, events = tiers(draft), RuleSetEvent.objects.count()
    done = confirm(editor_client, TierRule, preview)
    assert [str(m) for m in get_messages(done.wsgi_request)] == [
        "Nothing was imported: the file has rows in error; import it again to see them."
    ]
    assert tiers(draft) == before and RuleSetEvent.objects.count() == events


def test_xlsx_round_trip_into_a_draft(editor_client, editor, draft):
    exported = export(editor_client, SpendTier, XLSX, "?rule_set__id__exact=1")
    book = openpyxl.load_workbook(io.BytesIO(exported.content))
    sheet = book.active
    for row in sheet.iter_rows(min_row=2):
        row[0].value = draft.version
        if row[1].value == 300:
            row[2].value = 45
    buffer = io.BytesIO()
    book.save(buffer)
    preview = upload(editor_client, SpendTier, buffer.getvalue(), name="tiers.xlsx", file_format=XLSX)
    assert [row.import_type for row in preview.context["result"].rows] == ["skip", "update"]
    confirm(editor_client, SpendTier, preview)
    assert sorted(draft.spend_tiers.values_list("threshold", "bonus_points")) == [
        (Decimal("100.00"), 10), (Decimal("300.00"), 45)
    ]
    assert history(draft)[-1] == ("edited", "editor", "import: 1 row(s) of spend tiers (tiers.xlsx)")


def test_import_needs_the_editor_permissions(client, publisher):
    client.force_login(publisher)
    assert client.get(url(TierRule, "import")).status_code == 403
    assert client.get(url(TierRule, "export")).status_code == 200
    changelist = client.get(url(TierRule, "changelist"))
    assert changelist.context["has_import_permission"] is False


def test_every_table_has_an_import_and_export_link_on_the_rule_set_page(editor_client, draft):
    body = editor_client.get(reverse("admin:rules_ruleset_change", args=[draft.pk])).content.decode()
    for name in ("tierrule", "categorybonus", "spendtier", "behaviourrule", "checkinstep"):
        assert f"/admin/rules/{name}/?rule_set__id__exact={draft.pk}" in body


def test_the_resource_keeps_nothing_from_a_dry_run_outside_the_admin(draft, editor):
    import tablib

    dataset = tablib.Dataset(headers=["version", "code", "multiplier", "qualify_points"])
    dataset.append([2, "gold", "2.00", 20000])
    before = tiers(draft)
    result = TierRuleResource().import_data(dataset, dry_run=True, user=editor)
    assert not result.has_errors() and not result.has_validation_errors()
    assert tiers(draft) == before
    result = TierRuleResource().import_data(dataset, dry_run=False, user=editor)
    assert ("gold", Decimal("2.00"), 20000) in tiers(draft)
    assert history(draft)[-1] == ("edited", "editor", "import: 1 row(s) of tiers")
