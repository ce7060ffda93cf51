"""The fulfilment queue's high-value flag: members of ``HIGH_VALUE_SEGMENTS`` (重要价值) are a
priority like the top tier's, following their segment as the nightly scoring moves it."""

from django.urls import reverse

from catalog import selectors
from catalog import services as catalog_services
from catalog.models import Redemption
from mall.models import Member
from rules.segments import HIGH_VALUE_SEGMENTS, Segment
from tests.catalog.helpers import fund, make_product
from tests.factories import MemberFactory
from tests.points.ledger import at, clock


def test_high_value_segment_members_come_first(admin_client):
    assert selectors.high_value_segments() == ["important_value"] == list(HIGH_VALUE_SEGMENTS)
    valuable = MemberFactory(username="valuable", segment=Segment.IMPORTANT_VALUE)
    keep = MemberFactory(username="keep", segment=Segment.IMPORTANT_KEEP)
    plain = MemberFactory(username="plain")
    for member in (valuable, keep, plain):
        fund(member, 1000)
    parcel = make_product(name="Parcel")

    def redeem(member, key, day):
        with clock(at(2026, 6, day, 10)):
            return catalog_services.redeem(member, parcel, key=key, address="Road 1")

    old_plain, old_keep = redeem(plain, "p1", 1), redeem(keep, "p2", 2)
    new_valuable = redeem(valuable, "p3", 3)
    url = reverse("admin:catalog_redemption_changelist")
    rows = admin_client.get(url).context["cl"].result_list
    assert list(rows) == [new_valuable, old_plain, old_keep]
    assert [r.priority for r in rows] == [True, False, False]
    assert list(admin_client.get(url, {"priority": "yes"}).context["cl"].result_list) == [new_valuable]
    # Scored out of the segment (the nightly run): no longer a priority.
    Member.objects.filter(pk=valuable.pk).update(segment=Segment.IMPORTANT_KEEP)
    assert not any(r.priority for r in selectors.with_priority(Redemption.objects.all()))
