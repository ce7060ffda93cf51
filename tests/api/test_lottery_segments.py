"""A lottery for some RFM segments: a member of one draws, anyone else is refused with
``not_in_segment`` (409 over the API) and nothing is written; the admin form sets the segments."""

import pytest
from django.urls import reverse

from catalog import services
from catalog.errors import NotInSegment
from catalog.models import Draw, Lottery, Prize, PrizeKind
from points.models import Entry
from rules.segments import Segment
from tests.api.test_lotteries import draw, error
from tests.catalog.helpers import fund
from tests.factories import MemberFactory, StaffFactory
from tests.points.ledger import totals

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(db):
    member = MemberFactory(established=True, segment=Segment.GENERAL_RETAIN)
    fund(member, 100)
    return member


@pytest.fixture
def lottery():
    lottery = Lottery.objects.create(name="VIP draw", cost_points=10,
                                     segments=[Segment.IMPORTANT_VALUE, Segment.IMPORTANT_KEEP])
    Prize.objects.create(lottery=lottery, name="20 points", kind=PrizeKind.POINTS, weight=1, points=20)
    return lottery


def test_a_member_outside_the_segments_is_refused_with_a_409(member, member_api, lottery):
    before = (totals(member), Entry.objects.count())
    response = draw(member_api, lottery.pk)
    assert (response.status_code, response.json()) == (
        409, error("not_in_segment", "This lottery is for other members."))
    assert (totals(member), Entry.objects.count()) == before and not Draw.objects.exists()


def test_a_member_of_a_segment_draws(member, member_api, lottery):
    member.segment = Segment.IMPORTANT_KEEP
    member.save(update_fields=["segment"])
    response = draw(member_api, lottery.pk)
    assert response.status_code == 201
    assert Draw.objects.get().member == member


def test_an_unscored_member_is_outside_and_a_lottery_without_segments_is_for_everyone(lottery):
    unscored = MemberFactory(established=True)
    fund(unscored, 100)
    with pytest.raises(NotInSegment):
        services.draw(unscored, lottery, key="u-1")
    lottery.segments = []
    lottery.save(update_fields=["segments"])
    assert services.draw(unscored, lottery, key="u-2").points_spent == 10


def test_the_admin_form_sets_the_segments(client, lottery):
    client.force_login(StaffFactory(is_superuser=True))
    url = reverse("admin:catalog_lottery_change", args=[lottery.pk])
    page = client.get(url).content.decode()
    assert 'name="segments" value="important_value"' in page
    prize = lottery.prizes.get()
    response = client.post(url, {
        "name": "VIP draw", "cost_points": "10", "daily_limit": "", "streak_days": "", "starts_at_0": "",
        "starts_at_1": "", "ends_at_0": "", "ends_at_1": "", "active": "on",
        "segments": ["general_value"],
        "prizes-TOTAL_FORMS": "1", "prizes-INITIAL_FORMS": "1", "prizes-MIN_NUM_FORMS": "0",
        "prizes-MAX_NUM_FORMS": "1000", "prizes-0-id": str(prize.pk), "prizes-0-lottery": str(lottery.pk),
        "prizes-0-name": "20 points", "prizes-0-kind": "points", "prizes-0-weight": "1",
        "prizes-0-points": "20", "prizes-0-product": "", "prizes-0-restock": "",
    })
    assert response.status_code == 302, response.context["adminform"].form.errors
    lottery.refresh_from_db()
    assert lottery.segments == ["general_value"]
