"""The reconciliation runs in the admin: a list with status, the mismatch rows, "run now"."""

from unittest import mock

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.urls import reverse

from points import services
from points.models import Account, ReconciliationRun
from points.services.reconciliation import AUDITOR_GROUP
from tests.factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:points_reconciliationrun_changelist"


@pytest.fixture
def auditor_client(client):
    auditor = StaffFactory()
    auditor.groups.add(Group.objects.get(name=AUDITOR_GROUP))
    client.force_login(auditor)
    return client


def broken_run():
    member = MemberFactory()
    services.earn(member, 10, key="e", reason="r")
    with connection.cursor() as cursor:  # a corrupted total, injected
        cursor.execute("UPDATE points_account SET available = 11 WHERE member_id = %s", [member.pk])
    return services.reconcile(), member


def test_the_auditor_group_reads_the_ledger_and_its_runs():
    group = Group.objects.get(name=AUDITOR_GROUP)
    codenames = set(group.permissions.values_list("codename", flat=True))
    assert {"view_account", "view_entry", "view_lot", "view_hold", "view_allocation", "view_refusal",
            "view_reconciliationrun", "run_reconciliation"} <= codenames
    assert not any(code.startswith(("add_", "change_", "delete_")) for code in codenames)


def test_runs_are_listed_with_their_status(auditor_client):
    clean = services.reconcile()
    run, _member = broken_run()
    body = auditor_client.get(reverse(CHANGELIST)).content.decode()
    assert f'action="{reverse("admin:points_reconciliationrun_run")}"' in body
    assert body.count("#c62828") == 1 and body.count("#2e7d32") == 1
    assert reverse("admin:points_reconciliationrun_change", args=[run.pk]) in body
    assert reverse("admin:points_reconciliationrun_change", args=[clean.pk]) in body
    assert auditor_client.get(reverse("admin:points_reconciliationrun_add")).status_code == 403


def test_a_run_page_lists_its_mismatches_with_links(auditor_client):
    run, member = broken_run()
    account = Account.objects.get(member=member)
    page = auditor_client.get(reverse("admin:points_reconciliationrun_change", args=[run.pk]))
    body = page.content.decode()
    assert reverse("admin:points_account_change", args=[account.pk]) in body
    assert reverse("admin:mall_member_change", args=[member.pk]) in body
    assert "<td>available</td><td>10</td><td>11</td>" in body
    assert "<td>total</td><td>10</td><td>11</td>" in body
    assert auditor_client.get(reverse("admin:points_account_change", args=[account.pk])).status_code == 200


def test_run_now_queues_the_job(auditor_client):
    with mock.patch("celery.current_app.send_task") as send_task:
        response = auditor_client.post(reverse("admin:points_reconciliationrun_run"), follow=True)
    send_task.assert_called_once_with("mall.reconcile_ledger")
    assert response.status_code == 200
    assert ReconciliationRun.objects.count() == 0  # the worker runs it, not the request
    assert auditor_client.get(reverse("admin:points_reconciliationrun_run")).status_code == 405


def test_run_now_needs_its_permission(client):
    staff = StaffFactory()
    client.force_login(staff)
    with mock.patch("celery.current_app.send_task") as send_task:
        assert client.post(reverse("admin:points_reconciliationrun_run")).status_code == 403
    send_task.assert_not_called()
    assert client.get(reverse(CHANGELIST)).status_code == 403
