"""The audit trail's own contract (common.audit): a record names who, what, old -> new and from
where, and the database keeps it append-only for at least 183 days."""

from datetime import timedelta

import pytest
from auditlog.context import set_actor
from auditlog.models import LogEntry
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from common import audit

pytestmark = pytest.mark.django_db


def test_a_record_names_actor_object_changes_and_address(member, staff):
    with set_actor(staff, remote_addr="10.1.2.3"):
        entry = audit.record("test.change", member, changes={"nickname": ("old", "new")}, message="why")
    entry.refresh_from_db()
    assert entry.actor == staff and entry.actor_email == (staff.email or staff.username)
    assert entry.remote_addr == "10.1.2.3"
    assert entry.object_pk == str(member.pk) and entry.object_id == member.pk
    assert entry.changes == {"nickname": ["old", "new"]}
    assert entry.additional_data == {"event": "test.change"}
    assert entry.changes_text == "why"


def test_an_operation_on_a_model_and_an_access_record(member, staff):
    from mall.models import Member

    bulk = audit.record("test.import", Member, action=audit.Action.CREATE, actor=staff, data={"rows": 3})
    assert bulk.object_pk == "" and bulk.object_id is None and bulk.additional_data["rows"] == 3
    seen = audit.record_access(member, ["phone"], actor=staff)
    assert seen.action == LogEntry.Action.ACCESS
    assert seen.additional_data == {"event": "pii.view", "fields": ["phone"]}


def test_records_cannot_be_changed_or_deleted_while_young(member, staff):
    entry = audit.record("test.change", member, actor=staff)
    with pytest.raises(IntegrityError), transaction.atomic():
        LogEntry.objects.filter(pk=entry.pk).update(changes_text="rewritten")
    with pytest.raises(IntegrityError), transaction.atomic():
        LogEntry.objects.filter(pk=entry.pk).update(actor=None, changes_text="rewritten")
    with pytest.raises(IntegrityError), transaction.atomic():
        LogEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE auditlog_logentry SET timestamp = now() - interval '1 year' WHERE id = %s",
                       [entry.pk])
    assert LogEntry.objects.filter(pk=entry.pk, changes_text="").exists()


def test_old_records_can_be_purged_and_deleting_a_staff_account_keeps_who(member, staff):
    old = LogEntry.objects.create(
        content_type=audit.ContentType.objects.get_for_model(member), object_pk=str(member.pk),
        object_repr="x", action=audit.Action.UPDATE, timestamp=timezone.now() - timedelta(days=200),
    )
    LogEntry.objects.filter(pk=old.pk).delete()
    assert not LogEntry.objects.filter(pk=old.pk).exists()
    entry = audit.record("test.change", member, actor=staff)
    name = staff.email or staff.username
    staff.delete()
    entry.refresh_from_db()
    assert entry.actor_id is None and entry.actor_email == name
