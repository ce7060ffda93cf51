"""Lotteries in the admin: the lottery page with its prizes and the 100,000-draw simulation,
prize saves that never write stock, and the read-only draw list with its filters."""

from decimal import Decimal

import pytest
from django.urls import reverse

from catalog import services
from catalog.admin.lotteries import simulation_of
from catalog.errors import InvalidQuantity
from catalog.models import Draw, Lottery, Prize, PrizeKind
from tests.catalog.helpers import fund, make_product
from tests.factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = StaffFactory(username="boss", is_superuser=True)
    client.force_login(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def lottery():
    lottery = Lottery.objects.create(name="Spring draw", cost_points=10)
    Prize.objects.create(lottery=lottery, name="Top", kind=PrizeKind.POINTS, weight=1, points=100,
                         stock=3)
    Prize.objects.create(lottery=lottery, name="Thanks", kind=PrizeKind.NOTHING, weight=9)
    return lottery


def url(name, *args):
    return reverse(f"admin:catalog_{name}", args=args)


def test_the_lottery_page_shows_the_simulation(admin_client, lottery):
    response = admin_client.get(url("lottery_change", lottery.pk))
    assert response.status_code == 200
    text = response.content.decode()
    assert "Simulation of 100000 draws" in text
    assert "Expected prize cost per draw" in text


def test_the_simulation_counts_the_stock_and_values_products_at_their_price(lottery):
    product = make_product(points_price=500, stock=10)
    Prize.objects.create(lottery=lottery, name="Tea", kind=PrizeKind.PRODUCT, weight=1,
                         product=product, stock=2)
    result = simulation_of(lottery)
    wins = {name: won for name, _kind, _value, won in result["rows"]}
    assert wins["Top"] == 3 and wins["Tea"] == 2
    assert result["cost_points"] == Decimal("0.01")  # 1,300 points over 100,000 draws
    assert result["points_per_yuan"] == 100


def test_saving_a_prize_never_writes_its_stock(admin_client, lottery, member):
    top = Prize.objects.get(name="Top")
    thanks = Prize.objects.get(name="Thanks")
    data = {
        "name": lottery.name, "cost_points": "10", "daily_limit": "", "active": "on",
        "starts_at_0": "", "starts_at_1": "", "ends_at_0": "", "ends_at_1": "",
        "prizes-TOTAL_FORMS": "2", "prizes-INITIAL_FORMS": "2", "prizes-MIN_NUM_FORMS": "0",
        "prizes-MAX_NUM_FORMS": "1000",
    }
    for n, prize in enumerate([top, thanks]):
        data.update({f"prizes-{n}-id": prize.pk, f"prizes-{n}-lottery": lottery.pk,
                     f"prizes-{n}-name": prize.name, f"prizes-{n}-kind": prize.kind,
                     f"prizes-{n}-weight": "5", f"prizes-{n}-stock": "99",
                     f"prizes-{n}-points": prize.points or "", f"prizes-{n}-product": ""})
    Prize.objects.filter(pk=top.pk).update(stock=1)  # drawn meanwhile
    response = admin_client.post(url("lottery_change", lottery.pk), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    top.refresh_from_db()
    assert (top.weight, top.stock) == (5, 1)


def test_a_prize_with_fields_of_another_kind_is_a_form_error(admin_client):
    data = {
        "name": "New", "cost_points": "0", "daily_limit": "", "active": "on",
        "starts_at_0": "", "starts_at_1": "", "ends_at_0": "", "ends_at_1": "",
        "prizes-TOTAL_FORMS": "1", "prizes-INITIAL_FORMS": "0", "prizes-MIN_NUM_FORMS": "0",
        "prizes-MAX_NUM_FORMS": "1000", "prizes-0-name": "Bad", "prizes-0-kind": "points",
        "prizes-0-weight": "1", "prizes-0-stock": "", "prizes-0-points": "", "prizes-0-product": "",
    }
    response = admin_client.post(url("lottery_add"), data)
    assert response.status_code == 200  # the form again, with the error
    assert not Lottery.objects.filter(name="New").exists()


def test_the_draw_list_filters_by_lottery_and_prize_kind(admin_client, lottery, member):
    fund(member, 100)
    services.draw(member, lottery, key="k1")
    other = MemberFactory(established=True)
    fund(other, 100)
    services.draw(other, lottery, key="k2")
    response = admin_client.get(url("draw_changelist"), {"lottery__id__exact": lottery.pk})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 2
    response = admin_client.get(url("draw_changelist"), {"prize__kind": "coupon"})
    assert response.context["cl"].result_count == 0
    draw = Draw.objects.first()
    assert admin_client.get(url("draw_change", draw.pk)).status_code == 200
    assert admin_client.get(url("draw_add")).status_code == 403


def _change_data(lottery, prizes, **per_prize):
    data = {
        "name": lottery.name, "cost_points": str(lottery.cost_points), "daily_limit": "",
        "active": "on", "streak_days": "",
        "starts_at_0": "", "starts_at_1": "", "ends_at_0": "", "ends_at_1": "",
        "prizes-TOTAL_FORMS": str(len(prizes)), "prizes-INITIAL_FORMS": str(len(prizes)),
        "prizes-MIN_NUM_FORMS": "0", "prizes-MAX_NUM_FORMS": "1000",
    }
    for n, prize in enumerate(prizes):
        data.update({f"prizes-{n}-id": prize.pk, f"prizes-{n}-lottery": lottery.pk,
                     f"prizes-{n}-name": prize.name, f"prizes-{n}-kind": prize.kind,
                     f"prizes-{n}-weight": str(prize.weight), f"prizes-{n}-points": prize.points or "",
                     f"prizes-{n}-product": "", f"prizes-{n}-restock": per_prize.get(prize.name, "")})
    return data


def test_restocking_a_prize_adds_to_the_stock_draws_left(admin_client, lottery):
    top = Prize.objects.get(name="Top")
    thanks = Prize.objects.get(name="Thanks")
    Prize.objects.filter(pk=top.pk).update(stock=1)  # drawn meanwhile: the form said 3
    response = admin_client.post(url("lottery_change", lottery.pk),
                                 _change_data(lottery, [top, thanks], Top="5"), follow=True)
    assert response.status_code == 200
    top.refresh_from_db()
    assert top.stock == 6
    assert "Top: 6 in stock now." in response.content.decode()


def test_restocking_below_zero_or_an_unlimited_prize_is_refused(admin_client, lottery):
    top = Prize.objects.get(name="Top")
    thanks = Prize.objects.get(name="Thanks")
    response = admin_client.post(url("lottery_change", lottery.pk),
                                 _change_data(lottery, [top, thanks], Thanks="5"))
    assert response.status_code == 200 and "This prize has unlimited stock." in response.content.decode()
    response = admin_client.post(url("lottery_change", lottery.pk),
                                 _change_data(lottery, [top, thanks], Top="-4"), follow=True)
    assert "Stock cannot go below 0: 3 in stock, change -4." in response.content.decode()
    top.refresh_from_db()
    assert top.stock == 3


def test_the_restock_service_is_a_conditional_update(lottery):
    top = Prize.objects.get(name="Top")
    assert services.restock_prize(top, 2) == 5
    with pytest.raises(InvalidQuantity):
        services.restock_prize(top, -6)
    with pytest.raises(InvalidQuantity):
        services.restock_prize(top, 0)
    assert Prize.objects.get(pk=top.pk).stock == 5
