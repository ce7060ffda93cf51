"""The auditors' page (mall.audit_admin): search, filter and export the trail, read only for
everybody; the auditor group's access comes from a post_migrate handler; the retention job
deletes what is past AUDIT_RETENTION_DAYS and nothing younger."""

import csv
import io
from datetime import timedelta

import pytest
from auditlog.context import set_actor
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone

from catalog.models import Category
from common import audit
from mall import audit_registry, jobs
from mall.console import linked_models
from points.services.reconciliation import AUDITOR_GROUP
from tests.factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:auditlog_logentry_changelist"


@pytest.fixture
def auditor(db):
    user = StaffFactory(username="auditor1", email="auditor@example.com")
    user.groups.add(Group.objects.get(name=AUDITOR_GROUP))
    return user


@pytest.fixture
def auditor_client(client, auditor):
    client.force_login(auditor)
    client.defaults.update(HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR="10.0.0.9")
    return client


@pytest.fixture
def trail(db):
    """Two records by two staff members from two addresses."""
    alice, bob = StaffFactory(username="alice", email="alice@corp.example"), StaffFactory(username="bob")
    tea = Category.objects.create(name="Oolong tea")
    member = MemberFactory(username="carol")
    with set_actor(alice, remote_addr="10.1.1.1"):
        adjusted = audit.record("points.adjustment", member, changes={"balance": (10, 40)},
                                message="compensation")
    with set_actor(bob, remote_addr="10.2.2.2"):
        stocked = audit.record("stock.adjustment", tea, changes={"stock": (5, 2)}, message="damaged")
    return {"alice": alice, "bob": bob, "adjusted": adjusted, "stocked": stocked, "tea": tea}


def rows_of(response):
    return list(response.context["cl"].result_list)


def test_the_auditor_group_reads_the_trail_by_a_post_migrate_handler_that_is_idempotent():
    group = Group.objects.get(name=AUDITOR_GROUP)
    assert group.permissions.filter(content_type__app_label="auditlog", codename="view_logentry").exists()
    before = LogEntry.objects.count(), group.permissions.count()
    audit_registry.after_migrate(sender=None)
    audit_registry.after_migrate(sender=None)
    assert (LogEntry.objects.count(), group.permissions.count()) == before


def test_the_retention_job_is_scheduled_like_the_other_jobs():
    from django_celery_beat.models import PeriodicTask

    from mall import tasks

    job = PeriodicTask.objects.get(task="mall.purge_audit_trail")
    assert job.enabled and (job.crontab.hour, job.crontab.minute) == ("4", "45")
    assert tasks.purge_audit_trail.name == "mall.purge_audit_trail"


def test_the_page_is_in_the_console_sidebar():
    assert "auditlog.logentry" in linked_models()


def test_the_auditor_searches_by_actor_object_address_and_event(auditor_client, trail):
    url = reverse(CHANGELIST)
    assert rows_of(auditor_client.get(url, {"q": "alice@corp.example"})) == [trail["adjusted"]]
    assert rows_of(auditor_client.get(url, {"q": "Oolong"})) == [trail["stocked"]]
    assert rows_of(auditor_client.get(url, {"q": "10.1.1.1"})) == [trail["adjusted"]]
    assert rows_of(auditor_client.get(url, {"q": "stock.adjustment"})) == [trail["stocked"]]
    page = auditor_client.get(url, {"event": "points.adjustment"})
    assert rows_of(page) == [trail["adjusted"]]
    body = page.content.decode()
    assert "Points adjustment" in body and "balance: 10 → 40" in body
    assert rows_of(auditor_client.get(url, {"actor": trail["bob"].pk})) == [trail["stocked"]]
    category = ContentType.objects.get_for_model(Category)
    assert rows_of(auditor_client.get(url, {"content_type__id__exact": category.pk})) == [trail["stocked"]]
    assert rows_of(auditor_client.get(url, {"action__exact": audit.Action.UPDATE, "q": "carol"})) == []
    detail = auditor_client.get(reverse("admin:auditlog_logentry_change", args=[trail["stocked"].pk]))
    assert detail.status_code == 200 and "5 → 2" in detail.content.decode()


def test_the_auditor_exports_the_filtered_list_and_the_export_is_recorded(auditor_client, auditor, trail):
    response = auditor_client.post(reverse(CHANGELIST) + "?event=stock.adjustment", {
        "action": "export_csv", "select_across": "1", "index": "0",
        "_selected_action": [trail["stocked"].pk]})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["time", "event", "operation"]
    assert len(rows) == 2
    assert rows[1][1] == "stock.adjustment" and rows[1][5] == "Oolong tea" and "stock: 5 → 2" in rows[1][8]
    export = LogEntry.objects.get(additional_data__event="audit.export")
    assert (export.actor, export.remote_addr, export.action) == (auditor, "10.0.0.9", LogEntry.Action.ACCESS)
    assert export.additional_data["rows"] == 1 and export.additional_data["query"] == "event=stock.adjustment"


def test_nobody_adds_changes_or_deletes_a_record_not_even_a_superuser(client, auditor_client, trail):
    root = MemberFactory(username="root", is_staff=True, is_superuser=True)
    entry = trail["stocked"]
    for user_client in (auditor_client, client):
        if user_client is client:
            client.force_login(root)
        assert user_client.get(reverse("admin:auditlog_logentry_add")).status_code == 403
        assert user_client.post(reverse("admin:auditlog_logentry_delete", args=[entry.pk]),
                                {"post": "yes"}).status_code == 403
        change = user_client.post(reverse("admin:auditlog_logentry_change", args=[entry.pk]),
                                  {"changes_text": "rewritten"})
        assert change.status_code in (200, 302, 403)
        entry.refresh_from_db()
        assert entry.changes_text == "damaged"
        listing = user_client.get(reverse(CHANGELIST))
        assert "delete_selected" not in listing.content.decode()


def test_staff_outside_the_auditor_group_cannot_see_the_trail(client, trail):
    client.force_login(StaffFactory())
    assert client.get(reverse(CHANGELIST)).status_code == 403
    response = client.post(reverse(CHANGELIST), {"action": "export_csv", "select_across": "1", "index": "0",
                                                 "_selected_action": [trail["stocked"].pk]})
    assert response.status_code == 403
    assert not LogEntry.objects.filter(additional_data__event="audit.export").exists()


def _aged(days, *, member):
    entry = audit.record("test.aged", member)
    # The trigger refuses updates, so an old record is written old (as the trail's own test does).
    return LogEntry.objects.create(
        content_type=entry.content_type, object_pk=entry.object_pk, object_repr="aged",
        action=audit.Action.UPDATE, timestamp=timezone.now() - timedelta(days=days))


def test_the_retention_job_deletes_only_records_past_the_retention(member, settings):
    settings.AUDIT_RETENTION_DAYS = 200
    old, older = _aged(201, member=member), _aged(400, member=member)
    kept = [_aged(199, member=member), _aged(190, member=member)]
    assert jobs.purge_audit_trail() == {"deleted": 2}
    assert not LogEntry.objects.filter(pk__in=[old.pk, older.pk]).exists()
    assert LogEntry.objects.filter(pk__in=[entry.pk for entry in kept]).count() == 2
    assert jobs.purge_audit_trail() == {"deleted": 0}  # idempotent


def test_the_retention_never_goes_below_the_183_days_the_database_keeps(member, settings):
    settings.AUDIT_RETENTION_DAYS = 30
    young, old = _aged(100, member=member), _aged(190, member=member)
    assert jobs.purge_audit_trail() == {"deleted": 1}
    assert LogEntry.objects.filter(pk=young.pk).exists() and not LogEntry.objects.filter(pk=old.pk).exists()


def test_the_purge_is_batched(member, settings, monkeypatch):
    monkeypatch.setattr(audit, "PURGE_BATCH", 2)
    for _ in range(5):
        _aged(400, member=member)
    assert audit.purge() == 5
    assert not LogEntry.objects.filter(object_repr="aged").exists()
