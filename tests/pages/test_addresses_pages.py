"""/addresses/: list, add, edit, delete and make default; only one's own; the account page
links to it, and the confirmation of physical goods offers the saved ones."""

import re

import pytest

from catalog import services
from catalog.models import Address
from tests.catalog.helpers import fund, make_product
from tests.factories import MemberFactory
from tests.pages.helpers import confirm_key, text

pytestmark = pytest.mark.django_db

HOME = {"recipient": "Li Lei", "phone": "13800138000", "region": "Shanghai Pudong",
        "detail": "1 Road"}


def test_account_page_links_to_the_addresses(member_client):
    assert 'href="/addresses/"' in text(member_client.get("/accounts/profile/"))


def test_add_list_edit_make_default_and_delete(member_client, member):
    assert "You have no saved addresses yet." in text(member_client.get("/addresses/"))

    added = member_client.post("/addresses/add/", HOME)
    assert added.status_code == 302 and added["Location"] == "/addresses/"
    second = member_client.post("/addresses/add/", {**HOME, "detail": "2 Road"})
    assert second.status_code == 302
    home, work = Address.objects.filter(member=member).order_by("id")
    assert home.is_default and not work.is_default

    page = text(member_client.get("/addresses/"))
    assert "1 Road" in page and "2 Road" in page
    assert f'action="/addresses/{work.pk}/default/"' in page
    assert f'action="/addresses/{home.pk}/default/"' not in page  # already the default

    edit = member_client.get(f"/addresses/{work.pk}/edit/")
    assert 'value="2 Road"' in text(edit)
    assert member_client.post(f"/addresses/{work.pk}/edit/",
                              {**HOME, "detail": "3 Road"}).status_code == 302
    work.refresh_from_db()
    assert work.detail == "3 Road"

    assert member_client.post(f"/addresses/{work.pk}/default/").status_code == 302
    work.refresh_from_db()
    assert work.is_default

    assert member_client.post(f"/addresses/{work.pk}/delete/").status_code == 302
    home.refresh_from_db()
    assert home.is_default
    assert list(Address.objects.filter(member=member)) == [home]


def test_invalid_phone_is_a_form_error(member_client):
    response = member_client.post("/addresses/add/", {**HOME, "phone": "12345"})
    assert response.status_code == 400
    assert "Enter a mobile number such as 13800138000." in text(response)
    assert not Address.objects.exists()


def test_someone_elses_address_is_404(member_client):
    theirs = services.add_address(MemberFactory(), **HOME)
    assert member_client.get(f"/addresses/{theirs.pk}/edit/").status_code == 404
    assert member_client.post(f"/addresses/{theirs.pk}/edit/", HOME).status_code == 404
    assert member_client.post(f"/addresses/{theirs.pk}/delete/").status_code == 404
    assert member_client.post(f"/addresses/{theirs.pk}/default/").status_code == 404
    assert Address.objects.filter(pk=theirs.pk).exists()
    assert "1 Road" not in text(member_client.get("/addresses/"))


def test_delete_needs_a_post(member_client, member):
    home = services.add_address(member, **HOME)
    assert member_client.get(f"/addresses/{home.pk}/delete/").status_code == 405


def test_adding_from_the_confirmation_goes_back_to_it(member_client, member):
    fund(member, 1000)
    product = make_product(points_price=10)
    page = text(member_client.get(f"/mall/{product.pk}/redeem/?quantity=2"))
    assert "Add a new address" in page
    link = f"/addresses/add/?next=%2Fmall%2F{product.pk}%2Fredeem%2F%3Fquantity%3D2"
    assert link in page

    form = text(member_client.get(link))
    assert f'name="next" value="/mall/{product.pk}/redeem/?quantity=2"' in form
    response = member_client.post("/addresses/add/", {**HOME, "next": f"/mall/{product.pk}/redeem/"})
    assert response["Location"] == f"/mall/{product.pk}/redeem/"
    # An outside next is ignored.
    outside = member_client.post("/addresses/add/", {**HOME, "next": "https://evil.example/"})
    assert outside["Location"] == "/addresses/"


def test_confirmation_preselects_the_default_and_redeems_to_the_chosen_one(member_client, member):
    fund(member, 1000)
    home = services.add_address(member, **HOME)
    work = services.add_address(member, **{**HOME, "detail": "2 Road"})
    product = make_product(points_price=10)

    page = text(member_client.get(f"/mall/{product.pk}/redeem/"))
    assert re.search(rf'name="address_id" value="{home.pk}"[^>]*checked', page)
    assert not re.search(rf'name="address_id" value="{work.pk}"[^>]*checked', page)
    key = confirm_key(member_client, product)
    response = member_client.post(f"/mall/{product.pk}/redeem/",
                                  {"key": key, "quantity": 1, "address_id": work.pk})
    assert response.status_code == 302
    redemption = product.redemptions.get()
    assert redemption.address == "Li Lei 13800138000\nShanghai Pudong 2 Road"


def test_confirmation_refuses_someone_elses_address(member_client, member):
    fund(member, 1000)
    services.add_address(member, **HOME)
    theirs = services.add_address(MemberFactory(), **HOME)
    product = make_product(points_price=10)
    response = member_client.post(f"/mall/{product.pk}/redeem/",
                                  {"key": confirm_key(member_client, product), "quantity": 1,
                                   "address_id": theirs.pk})
    assert response.status_code == 400
    assert "Choose one of your saved addresses." in text(response)
    assert not product.redemptions.exists()
