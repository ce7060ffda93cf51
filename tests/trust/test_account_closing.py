"""Closing an account (issue 16, PIPL's right to deletion): mall.services.accounts.close_account,
the page (/accounts/close/) and the API (POST /api/v1/me/close/)."""

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.core.cache import cache
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from catalog import services as catalog_services
from catalog.models import Address, ProductKind, Redemption, RedemptionStatus
from common.errors import InvalidFields
from mall.errors import AccountClosed, HeldPoints, OpenRedemptions
from mall.models import Member
from mall.services import accounts, members
from points import services as ledger
from points.models import Account, Entry, EntryKind
from referrals.errors import InvalidInviteCode
from referrals.models import Node
from referrals.services import tree
from tests.catalog.helpers import make_product
from tests.factories import MemberFactory

PASSWORD = "pass-for-tests-1"
TOKEN, REFRESH = "/api/v1/auth/token/", "/api/v1/auth/token/refresh/"
ME, CLOSE = "/api/v1/me/", "/api/v1/me/close/"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def rich_member():
    """A member with personal data everywhere it can be: the row, a saved address, a shipped
    redemption's address, points available and pending, and an invite code in use."""
    member = MemberFactory(established=True, phone="13900001111", email="ann@example.com",
                           first_name="Ann", last_name="Lee", nickname="Annie", external_id="shop-77")
    ledger.earn(member, 500, key=f"fund:{member.pk}", reason="test")
    ledger.earn(member, 80, key=f"pending:{member.pk}", reason="test",
                available_at=timezone.now() + timedelta(days=7))
    address = catalog_services.add_address(member, recipient="Ann Lee", phone="13900001111",
                                           region="Shanghai Pudong", detail="1 Century Avenue")
    product = make_product(kind=ProductKind.PHYSICAL, points_price=100)
    redemption = catalog_services.redeem(member, product, key=f"r:{member.pk}", saved_address=address)
    catalog_services.fulfil(redemption, tracking_number="SF123")
    tree.ensure_nodes([member.pk])
    return member


def test_closing_forfeits_the_points_erases_personal_data_and_frees_the_username(
        rich_member, ledger_invariants):
    member = rich_member
    old_username, pk = member.username, member.pk
    code_before = Node.objects.get(member_id=pk).invite_code
    invitee = members.register(username="friend1", password="friend-pass-12345",
                               invite_code=code_before).member

    closing = accounts.close_account(member, password=PASSWORD)

    # The ledger: one forfeit entry takes everything left (400 available + 80 pending), total 0.
    account = Account.objects.get(member_id=pk)
    assert (account.available, account.pending, account.held, account.debt) == (0, 0, 0, 0)
    forfeit = Entry.objects.get(account=account, kind=EntryKind.FORFEIT)
    assert forfeit.delta == -480 and forfeit.balance_after == 0 and closing.forfeited == 480
    assert forfeit.explanation == {"available": 400, "pending": 80, "debt_written_off": 0}
    assert Entry.objects.filter(account=account).count() == 4  # earn, earn, spend, forfeit: all kept
    assert ledger_invariants() == []
    run = ledger.reconcile()  # every check, the lifetime totals and allocations included
    assert run.mismatch_count == 0, run.mismatches

    # No personal data remains on the row, the addresses or the redemptions.
    row = Member.objects.get(pk=pk)
    assert row.username.startswith(f"closed-{pk}-") and row.username != old_username
    assert (row.phone, row.email, row.first_name, row.last_name, row.nickname, row.external_id) == (
        None, "", "", "", "", None)
    assert not row.has_usable_password() and not row.is_active
    assert row.closed_at is not None and row.tokens_valid_after is not None
    assert not Address.objects.filter(member_id=pk).exists()
    shipped = Redemption.objects.get(member_id=pk)
    assert shipped.address == "" and shipped.shipping_address_id is None
    assert shipped.tracking_number == "SF123"  # not personal: the order stays for the books
    # The invite code binds no one any more; the invitee keeps their inviter.
    assert Node.objects.get(member_id=pk).invite_code != code_before
    assert Node.objects.get(member_id=invitee.pk).inviter_id == pk
    with pytest.raises(InvalidInviteCode):
        members.register(username="friend2", password="friend-pass-12345", invite_code=code_before)

    # The old username (any case) can register again, as a new member.
    again = members.register(username=old_username.upper(), password="another-pass-9876",
                             phone="13900001111").member
    assert again.pk != pk

    # The audit record names the event, not the person.
    record = LogEntry.objects.filter(additional_data__event="account.close").get()
    assert record.object_pk == str(pk)
    text = f"{record.object_repr} {record.changes} {record.additional_data} {record.actor_email}"
    for personal in ("Annie", "13900001111", "ann@example.com", "Century", old_username):
        assert personal not in text
    assert record.additional_data["forfeited_points"] == 480


def test_old_credentials_and_tokens_are_refused_after_closing(rich_member):
    api = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    username = rich_member.username
    pair = api.post(TOKEN, {"username": username, "password": PASSWORD}).json()

    response = api.post(CLOSE, {"password": PASSWORD}, HTTP_AUTHORIZATION=f"Bearer {pair['access']}")

    assert response.status_code == 200
    assert response.json()["forfeited_points"] == 480
    me = api.get(ME, HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    # Inactive before revoked: simplejwt checks the member first.
    assert me.status_code == 401 and me.json()["error"]["code"] == "user_inactive"
    assert Member.objects.get(pk=rich_member.pk).tokens_valid_after is not None
    assert api.post(REFRESH, {"refresh": pair["refresh"]}).status_code == 401
    assert api.post(TOKEN, {"username": username, "password": PASSWORD}).status_code == 401
    assert api.post(TOKEN, {"username": "13900001111", "password": PASSWORD}).status_code == 401


def test_a_second_close_is_refused_cleanly(rich_member):
    accounts.close_account(rich_member, password=PASSWORD)
    entries = Entry.objects.count()

    with pytest.raises(AccountClosed):
        accounts.close_account(Member.objects.get(pk=rich_member.pk), password=PASSWORD)
    with pytest.raises(AccountClosed):
        accounts.close_account(rich_member, password=PASSWORD)  # the caller's object knows it too
    assert Entry.objects.count() == entries


def test_an_order_awaiting_shipment_blocks_closing_and_nothing_changes(member, ledger_invariants):
    ledger.earn(member, 300, key="fund", reason="test")
    product = make_product(kind=ProductKind.PHYSICAL, points_price=100)
    address = catalog_services.add_address(member, recipient="Bo", phone="13700001111",
                                           region="Beijing", detail="2 Main St")
    open_one = catalog_services.redeem(member, product, key="open", saved_address=address)
    assert open_one.status == RedemptionStatus.CREATED

    with pytest.raises(OpenRedemptions) as refused:
        accounts.close_account(member, password=PASSWORD)

    assert refused.value.code == "account_has_open_redemptions"
    row = Member.objects.get(pk=member.pk)
    assert row.closed_at is None and row.is_active and row.username == member.username
    assert Address.objects.filter(member=member).count() == 1
    assert not Entry.objects.filter(kind=EntryKind.FORFEIT).exists()
    assert ledger_invariants() == []
    # Once it is shipped, the account closes.
    catalog_services.fulfil(open_one, tracking_number="YT1")
    left = Account.objects.get(member=member).available
    assert accounts.close_account(member, password=PASSWORD).forfeited == left > 0


def test_held_points_block_closing(member, ledger_invariants):
    ledger.earn(member, 300, key="fund", reason="test")
    ledger.hold(member, 120, key="checkout-hold", reference="order:9", ttl=timedelta(hours=1))

    with pytest.raises(HeldPoints) as refused:
        accounts.close_account(member, password=PASSWORD)

    assert refused.value.code == "account_has_held_points"
    assert Member.objects.get(pk=member.pk).closed_at is None
    assert Account.objects.get(member=member).available == 180
    assert ledger_invariants() == []


def test_a_wrong_password_closes_nothing(member):
    with pytest.raises(InvalidFields) as refused:
        accounts.close_account(member, password="not-it")
    assert "password" in refused.value.fields
    assert Member.objects.get(pk=member.pk).closed_at is None


def test_a_member_without_points_and_debt_is_written_off(member, ledger_invariants):
    # Without any account: nothing to forfeit, no entry.
    assert accounts.close_account(member, password=PASSWORD).entry_id is None

    other = MemberFactory()
    entry = ledger.earn(other, 100, key="e", reason="test")
    ledger.spend(other, 100, key="s", reason="test")
    ledger.reverse(entry, key="take-back", reason="refund")  # the earning taken back: debt 100
    assert Account.objects.get(member=other).debt == 100

    closing = accounts.close_account(other, password=PASSWORD)

    account = Account.objects.get(member=other)
    assert account.debt == 0 and account.total == 0
    assert Entry.objects.get(pk=closing.entry_id).delta == 100  # the write-off
    assert ledger_invariants() == []


def test_closing_drops_staff_rights_and_two_factor_devices(staff):
    TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    accounts.close_account(staff, password=PASSWORD)
    row = Member.objects.get(pk=staff.pk)
    assert not row.is_staff and not row.is_superuser
    assert not TOTPDevice.objects.filter(user_id=staff.pk).exists()


def test_the_page_closes_the_account_with_the_password_and_signs_out(client, member):
    ledger.earn(member, 50, key="fund", reason="test")
    client.force_login(member)

    page = client.get("/accounts/close/", HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200 and "Your 50 points are forfeited." in page.content.decode()
    assert 'href="/accounts/close/"' in client.get("/accounts/profile/").content.decode()

    unconfirmed = client.post("/accounts/close/", {"password": PASSWORD})
    wrong = client.post("/accounts/close/", {"password": "nope", "confirm": "on"},
                        HTTP_ACCEPT_LANGUAGE="en")
    assert unconfirmed.status_code == 400 and wrong.status_code == 400
    assert "The password is not correct." in wrong.content.decode()
    assert Member.objects.get(pk=member.pk).closed_at is None

    done = client.post("/accounts/close/", {"password": PASSWORD, "confirm": "on"})

    assert done.status_code == 302 and done["Location"] == "/accounts/login/"
    assert Member.objects.get(pk=member.pk).closed_at is not None
    assert client.get("/accounts/profile/").status_code == 302  # signed out


def test_the_page_shows_a_refusal_as_a_message(client, member):
    ledger.earn(member, 300, key="fund", reason="test")
    ledger.hold(member, 10, key="h", ttl=timedelta(hours=1))
    client.force_login(member)

    response = client.post("/accounts/close/", {"password": PASSWORD, "confirm": "on"},
                           HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 409
    assert "held by an open order or auction bid" in response.content.decode()


def test_the_api_refusals_are_machine_readable(member):
    from rest_framework_simplejwt.tokens import RefreshToken

    api = APIClient(HTTP_ACCEPT_LANGUAGE="en",
                    HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(member).access_token}")
    ledger.earn(member, 300, key="fund", reason="test")
    ledger.hold(member, 10, key="h", ttl=timedelta(hours=1))

    held = api.post(CLOSE, {"password": PASSWORD})
    wrong = api.post(CLOSE, {"password": "nope"})
    missing = api.post(CLOSE, {})

    assert held.status_code == 409 and held.json()["error"]["code"] == "account_has_held_points"
    assert wrong.status_code == 400 and "password" in wrong.json()["error"]["fields"]
    assert missing.status_code == 400
    assert APIClient().post(CLOSE, {"password": PASSWORD}).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_closing_racing_a_redemption_lets_only_one_through(ledger_invariants):
    # Real threads on PostgreSQL: the closing locks the member row first, as the redemption does
    # (points.services.lock_objects' order), so either the redemption lands first and blocks the
    # closing, or the closing lands first and the redemption finds no points left.
    for round_ in range(3):
        member = MemberFactory(established=True)
        ledger.earn(member, 300, key=f"fund:{member.pk}", reason="test")
        product = make_product(kind=ProductKind.PHYSICAL, points_price=100, name=f"Tea {round_}")

        def act(i, member=member, product=product):
            if i == 0:
                return accounts.close_account(Member.objects.get(pk=member.pk), password=PASSWORD)
            return catalog_services.redeem(Member.objects.get(pk=member.pk), product, key=f"race:{member.pk}",
                                           address="Somewhere 1")

        from tests.threads import run_together

        closing, redemption = run_together(2, act)

        closed = Member.objects.get(pk=member.pk).closed_at is not None
        redeemed = Redemption.objects.filter(member_id=member.pk).exists()
        assert closed != redeemed, (closing, redemption)
        if closed:
            assert Account.objects.get(member_id=member.pk).total == 0
            assert not isinstance(closing, Exception)
        else:
            assert isinstance(closing, OpenRedemptions)
        assert ledger_invariants() == []
