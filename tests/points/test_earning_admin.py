"""Admin views of earning: paid orders (read-only, lines and refunds inline) and entries'
rule version and explanation."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils.html import escape

from points.services import earning
from tests.factories import MemberFactory
from tests.points.ledger import T0

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(MemberFactory(username="root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def order(db):
    member = MemberFactory(tier="gold", username="buyer")
    earning.record_paid_order(
        member, order_id="o-42", amount=Decimal("100.00"), paid_at=T0,
        lines=[{"sku": "mango-<b>", "amount": Decimal("100.00"), "categories": ["imported"]}],
    )
    earning.record_refund(order_id="o-42", refund_amount=Decimal("40.00"), key="r-1")
    return member.orders.get()


def test_paid_orders_are_listed_read_only(admin_client, order):
    response = admin_client.get(reverse("admin:points_order_changelist"), {"q": "buyer"})
    assert response.status_code == 200
    content = response.content.decode()
    assert "o-42" in content and "40.00" in content and "235" in content
    assert admin_client.get(reverse("admin:points_order_add")).status_code == 403


def test_paid_order_page_shows_lines_refunds_entry_and_explanation(admin_client, order):
    response = admin_client.get(reverse("admin:points_order_change", args=[order.pk]))
    assert response.status_code == 200
    content = response.content.decode()
    assert "mango-&lt;b&gt;" in content  # escaped
    assert reverse("admin:points_entry_change", args=[order.entry_id]) in content
    assert "r-1" in content and "94" in content
    assert content.count("<li>") >= 3
    assert response.context["adminform"].form.fields == {}  # nothing editable


def test_entry_page_shows_rule_version_and_explanation_lines(admin_client, order):
    response = admin_client.get(reverse("admin:points_entry_change", args=[order.entry_id]))
    assert response.status_code == 200
    content = response.content.decode()
    for line in order.entry.explanation["lines"]:
        assert f"<li>{escape(line)}</li>" in content
    assert order.entry.rule_version in content


@pytest.mark.parametrize("name", ["points_behaviourrecord", "points_checkin"])
def test_behaviour_and_check_in_changelists(admin_client, name):
    member = MemberFactory()
    earning.record_behaviour(member, action="share", occurred_at=T0, key="b-1")
    earning.check_in(member, now=T0)
    assert admin_client.get(reverse(f"admin:{name}_changelist")).status_code == 200
