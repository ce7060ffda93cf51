"""One pagination rule for every list of the API (common.pagination, issue 8 §4), as the OpenAPI
schema states it: ``page`` is a whole number from 1 (no empty value; 404 otherwise),
``page_size`` a whole number from 1 to 100 (no empty value; 400 naming it otherwise)."""

import pytest

pytestmark = pytest.mark.django_db

LISTS = ["/api/v1/me/points/entries/", "/api/v1/products/", "/api/v1/redemptions/",
         "/api/v1/me/team/rewards/", "/api/v1/lotteries/", "/api/v1/me/recommendations/"]
EMPTY_PAGE = {"count": 0, "next": None, "previous": None, "results": []}


@pytest.fixture(autouse=True)
def _no_open_lottery():
    """The streak lottery of catalog 0011 is open: close it, so every list starts empty."""
    from catalog.models import Lottery

    Lottery.objects.update(active=False)


def error(code, message, fields=None):
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("page", ["", "0", "-1", "last", "1.0", "１", " 1", "1 ", "+1", "0x1", "2",
                                  "99999999999999999999999", "9" * 5000])
def test_a_page_that_is_not_a_page_is_404_on_every_list(member_api, path, page):
    response = member_api.get(path, {"page": page})
    assert (response.status_code, response.json()) == (404, error("not_found", "Invalid page."))


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("page_size", ["", "0", "101", "１０", "10.0", "9" * 5000])
def test_a_page_size_out_of_range_is_400_on_every_list(member_api, path, page_size):
    response = member_api.get(path, {"page_size": page_size})
    assert (response.status_code, response.json()) == (400, error(
        "invalid", "The request has invalid fields.",
        {"page_size": ["Enter a whole number from 1 to 100."]}))


@pytest.mark.parametrize("path", LISTS)
def test_the_first_page_is_the_default(member_api, path):
    assert member_api.get(path).json() == member_api.get(path, {"page": "1"}).json() == EMPTY_PAGE
    assert member_api.get(path, {"page": "01", "page_size": "100"}).json() == EMPTY_PAGE


@pytest.mark.parametrize("path", ["/api/v1/products/{}/", "/api/v1/redemptions/{}/",
                                  "/api/v1/redemptions/{}/cancel/"])
def test_an_id_of_absurd_length_is_404(member_api, path):
    method = member_api.post if path.endswith("cancel/") else member_api.get
    response = method(path.format("9" * 5000))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
