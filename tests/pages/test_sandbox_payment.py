"""Points + cash on the pages: the confirmation shows both parts and sends the member to the
provider's page; the sandbox's Pay / Fail buttons post a signed callback; the member lands on
the redemption page. And the confirmation never shows a negative remainder."""

import re
from decimal import Decimal

import pytest

from catalog.models import Payment, Redemption
from catalog.services import payments
from tests.catalog.helpers import fund, make_product
from tests.factories import MemberFactory
from tests.pages.helpers import address_id, confirm_key, messages_of, text
from tests.points.ledger import totals

pytestmark = pytest.mark.django_db


@pytest.fixture
def cherries():
    return make_product(name="Cherries", points_price=1500, cash_price=Decimal("9.90"), stock=5)


def start(member_client, member, product, quantity=1):
    key = confirm_key(member_client, product, quantity)
    return member_client.post(f"/mall/{product.pk}/redeem/",
                              {"key": key, "quantity": quantity, "address_id": address_id(member)})


def test_confirmation_shows_points_and_cash(member_client, member, cherries):
    fund(member, 5000)
    address_id(member)
    page = text(member_client.get(f"/mall/{cherries.pk}/redeem/?quantity=2"))
    assert '<strong data-testid="total">3000 points + ¥19.80</strong>' in page
    assert "Confirm and pay" in page
    assert '<dd data-testid="after">2,000</dd>' in page


def test_pay_through_the_sandbox(member_client, member, cherries, ledger_invariants):
    fund(member, 5000)
    response = start(member_client, member, cherries)

    payment = Payment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/pay/sandbox/{payment.reference}/"
    assert payment.redemption.status == "awaiting_payment"
    assert totals(member)["held"] == 1500

    cashier = member_client.get(response["Location"])
    page = text(cashier)
    assert cashier.status_code == 200
    assert '<strong data-testid="amount">¥9.90</strong>' in page
    assert "1500 points + ¥9.90" in page
    assert 'value="pay"' in page and 'value="fail"' in page

    # The redemption page meanwhile offers to pay.
    detail = text(member_client.get(f"/redemptions/{payment.redemption_id}/"))
    assert "Awaiting payment" in detail and f'href="/pay/sandbox/{payment.reference}/"' in detail
    assert "1500 points + ¥9.90" in detail

    paid = member_client.post(response["Location"], {"action": "pay"}, follow=True)
    assert paid.redirect_chain == [(f"/redemptions/{payment.redemption_id}/", 302)]
    assert messages_of(paid) == ["Paid ¥9.90. Your redemption is confirmed."]
    redemption = Redemption.objects.get()
    assert redemption.status == "created" and redemption.entry.kind == "capture"
    assert totals(member)["available"] == 3500 and totals(member)["held"] == 0
    assert "Pay now" not in text(paid)
    assert "1500 points + ¥9.90" in text(member_client.get("/redemptions/"))

    # Paying again changes nothing; the buttons are gone.
    member_client.post(response["Location"], {"action": "pay"})
    assert totals(member)["available"] == 3500
    assert 'value="pay"' not in text(member_client.get(response["Location"]))
    assert ledger_invariants() == []


def test_fail_through_the_sandbox(member_client, member, cherries):
    fund(member, 5000)
    location = start(member_client, member, cherries)["Location"]
    failed = member_client.post(location, {"action": "fail"}, follow=True)
    assert messages_of(failed) == ["The payment failed; your points are back in your account."]
    assert Redemption.objects.get().status == "cancelled"
    assert totals(member)["available"] == 5000


def test_after_the_release_paying_is_refused(member_client, member, cherries):
    fund(member, 5000)
    location = start(member_client, member, cherries)["Location"]
    payments.release_unpaid(Payment.objects.get().expires_at)
    response = member_client.post(location, {"action": "pay"}, follow=True)
    assert messages_of(response) == ["This payment has expired; the redemption was cancelled."]
    assert Redemption.objects.get().status == "cancelled"


def test_the_cashier_is_the_members_own(member_client, member, cherries):
    other = MemberFactory(established=True)
    fund(other, 5000)
    from catalog import services

    theirs = services.redeem(other, cherries, key="theirs", address="x").payment
    assert member_client.get(f"/pay/sandbox/{theirs.reference}/").status_code == 404
    assert member_client.post(f"/pay/sandbox/{theirs.reference}/",
                              {"action": "pay"}).status_code == 404
    assert member_client.get("/pay/sandbox/nope/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "pending"


def test_an_unknown_action_is_a_400(member_client, member, cherries):
    fund(member, 5000)
    location = start(member_client, member, cherries)["Location"]
    response = member_client.post(location, {"action": "steal"})
    assert response.status_code == 400
    assert Payment.objects.get().status == "pending"


def test_not_enough_points_says_how_many_and_disables_the_button(member_client, member):
    fund(member, 100)
    tea = make_product(name="Tea", points_price=120)
    page = text(member_client.get(f"/mall/{tea.pk}/redeem/?quantity=2"))
    assert "Not enough points: 140 more needed" in page
    assert re.search(r'data-testid="confirm-redeem"\s*disabled', page)
    assert "After redeeming" not in page
    assert ">-140<" not in page


def test_enough_points_leaves_the_button_enabled(member_client, member):
    fund(member, 1000)
    tea = make_product(name="Tea", points_price=120)
    page = text(member_client.get(f"/mall/{tea.pk}/redeem/"))
    assert "Not enough points" not in page
    assert not re.search(r'data-testid="confirm-redeem"\s*disabled', page)


def test_an_unpaid_redemption_can_be_cancelled_from_its_page(member_client, member, cherries):
    fund(member, 5000)
    start(member_client, member, cherries)
    redemption = Redemption.objects.get()
    assert 'data-testid="cancel"' in text(member_client.get(f"/redemptions/{redemption.pk}/"))
    assert member_client.get(f"/redemptions/{redemption.pk}/cancel/").status_code == 200
    member_client.post(f"/redemptions/{redemption.pk}/cancel/", {"reason": ""})
    redemption.refresh_from_db()
    assert redemption.status == "cancelled" and totals(member)["available"] == 5000
