"""``GET /api/v1/me/``'s ``tier_progress``: the same numbers as the home page's tier card."""

import pytest

from mall.models import Member
from points import services as ledger
from tests.catalog.helpers import fund, make_product
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"


def test_progress_to_the_next_tier(member_api, member):
    fund(member, 800)
    fund(MemberFactory(), 5000)  # another member's earnings count for them only

    progress = member_api.get(ME).json()["tier_progress"]

    assert progress == {
        "tier": "normal", "tier_display": "Normal", "multiplier": "1", "next_tier": "silver",
        "next_tier_display": "Silver", "points_to_next": 1200, "progress_percent": 40,
        "exclusive_products": 0,
    }


def test_reversals_count_against_and_exclusive_products_are_counted(member_api, member):
    Member.objects.filter(pk=member.pk).update(tier="silver")
    entry = fund(member, 3000)
    ledger.reverse(entry, 1000, key="refund", reason="refund")
    make_product(name="Silver tea", visible_tiers=["silver"])
    make_product(name="Off sale", visible_tiers=["silver"], active=False)
    make_product(name="Gold wine", visible_tiers=["gold"])

    progress = member_api.get(ME).json()["tier_progress"]

    assert progress == {
        "tier": "silver", "tier_display": "Silver", "multiplier": "1.2", "next_tier": "gold",
        "next_tier_display": "Gold", "points_to_next": 8000, "progress_percent": 20,
        "exclusive_products": 1,
    }


def test_past_the_next_threshold_before_the_nightly_run_is_100_percent(member_api, member):
    fund(member, 2600)

    progress = member_api.get(ME).json()["tier_progress"]

    assert (progress["next_tier"], progress["points_to_next"], progress["progress_percent"]) == (
        "silver", 0, 100)


def test_at_the_top_there_is_no_next_tier(member_api, member):
    Member.objects.filter(pk=member.pk).update(tier="gold")

    progress = member_api.get(ME).json()["tier_progress"]

    assert progress == {
        "tier": "gold", "tier_display": "Gold", "multiplier": "1.5", "next_tier": None,
        "next_tier_display": None, "points_to_next": 0, "progress_percent": 100,
        "exclusive_products": 0,
    }
