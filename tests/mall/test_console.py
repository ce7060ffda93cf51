"""The staff console's frame (django-unfold): the sidebar grouped by job, each link shown only to
staff who may open it, every registered admin reachable from it, the landing page = 报表 with
figures equal to raw SQL, and the theme's own words in Chinese."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import RequestFactory

from mall import console
from tests.factories import StaffFactory
from tests.mall.test_reports import ledger, reporter, shop  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


def _sidebar(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return console.navigation(request)


def test_the_sidebar_is_grouped_by_job_in_the_operators_order(admin_user):
    from django.utils import translation

    with translation.override("zh-hans"):
        titles = [str(group["title"]) for group in _sidebar(admin_user)]
    assert titles == ["报表", "积分规则", "商城", "会员", "推广", "运营活动", "系统"]
    system = [item["link"] for item in _sidebar(admin_user)[-1]["items"]]
    assert "/admin/django_celery_beat/periodictask/" in system  # celery's tables live under 系统
    first = _sidebar(admin_user)[0]["items"][0]
    assert first["link"] == "/admin/reports/"


def test_every_registered_admin_is_in_the_sidebar():
    registered = {f"{model._meta.app_label}.{model._meta.model_name}" for model in admin.site._registry}
    assert registered - console.linked_models() == console.REACHED_FROM_THEIR_PAGE
    assert console.linked_models() - registered == set()  # and no link leads nowhere


def test_staff_see_only_the_links_they_may_open():
    clerk = StaffFactory(username="clerk")
    clerk.user_permissions.add(Permission.objects.get(codename="view_member", content_type__app_label="mall"))
    groups = [group for group in _sidebar(clerk) if group["items"]]
    assert [[item["link"] for item in group["items"]] for group in groups] == [["/admin/mall/member/"]]


def test_the_customer_service_group_sees_members_and_redemptions(db):
    agent = StaffFactory(username="agent")
    agent.groups.add(Group.objects.get(name="客服 / Customer service"))
    links = {item["link"] for group in _sidebar(agent) for item in group["items"]}
    assert {"/admin/mall/member/", "/admin/catalog/redemption/"} <= links
    assert "/admin/rules/ruleset/" not in links and "/admin/reports/" not in links


def test_the_landing_page_is_the_dashboard_with_the_ledgers_figures(reporter):  # noqa: F811
    body = reporter.get("/admin/", **ZH).content.decode()
    assert 'id="dashboard"' in body and "数据看板" in body
    with connection.cursor() as cursor:
        cursor.execute("SELECT SUM(available), SUM(pending), SUM(held), "
                       "SUM(available + pending + held - debt) FROM points_account")
        available, pending, held, outstanding = cursor.fetchone()
    cards = dict(re.findall(r'<div class="label">([^<]+)</div><div class="value">([^<]+)</div>', body))
    assert cards["可用"] == f"{available:,}" and cards["冻结中"] == f"{held:,}"
    assert cards["待生效"] == f"{pending:,}" and cards["未兑付余额"] == f"{outstanding:,}"
    for key in ("flow", "liability", "expiry", "monthly", "members", "products", "play"):
        assert f'id="report-{key}"' in body
    assert "/admin/reports/?start=" in body  # the CSV links go to the reports page


def test_staff_without_the_reports_land_on_their_jobs(client):
    clerk = StaffFactory(username="clerk")
    clerk.user_permissions.add(Permission.objects.get(codename="view_member", content_type__app_label="mall"))
    client.force_login(clerk)
    body = client.get("/admin/", **ZH).content.decode()
    assert 'id="report-flow"' not in body and "您可以在这里做什么" in body
    assert 'href="/admin/mall/member/"' in body


def test_the_theme_speaks_chinese(admin_client):
    body = admin_client.get("/admin/rules/ruleset/", **ZH).content.decode()
    for english in ("Search apps and models", "Staff console", "Points rules", "Campaigns", "Dashboards"):
        assert english not in body, english
    assert "搜索功能和数据" in body and "运营后台" in body and "运营活动" in body
