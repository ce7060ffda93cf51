"""The points history in plain words: entries under month headings, plain labels instead of
ledger kinds, amounts with thousands separators and a sign, each entry's details folded in a
<details>, filters and pagination kept."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.translation import override, pgettext

from catalog import services as catalog_services
from points import services as ledger
from points.models import Entry
from tests.catalog.helpers import fund, make_product
from tests.factories import StaffFactory
from tests.pages.helpers import text
from tests.points.ledger import at, clock

pytestmark = pytest.mark.django_db

JARGON = ("冻结", "解冻", "冲正")


def labels(page) -> list[str]:
    return re.findall(r'data-testid="label">([^<]*)<', page)


def months_of(page) -> list[str]:
    return re.findall(r'data-testid="month">([^<]*)<', page)


def make_two_months(member):
    with clock(at(2026, 11, 20, 12)):
        ledger.earn(member, 1_288_000, key="big", reason="大奖", expires_at=at(2027, 11, 30))
    with clock(at(2026, 12, 1, 9)):
        ledger.spend(member, 1_200, key="tea", reason="买茶")


def test_entries_are_grouped_by_month_in_english(member_client, member):
    make_two_months(member)

    page = text(member_client.get("/points/"))

    assert months_of(page) == ["December 2026", "November 2026"]
    assert labels(page) == ["Used", "Earned"]
    assert 'data-testid="amount">-1,200<' in page
    assert 'data-testid="amount">+1,288,000<' in page
    assert "Balance 1,286,800" in page
    assert "Valid until 2027-11-30" in page


def test_entries_are_grouped_by_month_in_chinese(member):
    make_two_months(member)
    client = Client()  # the site's default language: Chinese
    client.force_login(member)

    page = text(client.get("/points/"))

    assert months_of(page) == ["2026年12月", "2026年11月"]
    assert "+1,288,000" in page and "-1,200" in page
    for word in JARGON:
        assert word not in page


def test_chinese_labels_are_plain_words(member):
    with override("zh-hans"):
        if pgettext("points history", "Used") == "Used":
            pytest.skip("the Chinese catalog does not have the history labels compiled yet")
    fund(member, 100, key="f", available_at=timezone.now() + timedelta(days=7))
    fund(member, 50, key="g")
    client = Client()
    client.force_login(member)

    page = text(client.get("/points/"))

    assert labels(page) == ["获得", "待生效"]


def test_each_kind_has_a_plain_label(member_client, member):
    now = timezone.now()
    earned = ledger.earn(member, 500, key="e", reason="gift")
    fund(member, 40, key="p", available_at=now + timedelta(days=7))
    product = make_product(name="Tea", points_price=120)
    redemption = catalog_services.redeem(member, product, key="r1", address="Road 1")
    catalog_services.cancel(redemption, reason="changed my mind")
    hold = ledger.hold(member, 30, key="h", ttl=timedelta(minutes=10))
    ledger.release(hold, key="hr")
    hold = ledger.hold(member, 20, key="h2", ttl=timedelta(minutes=10))
    ledger.capture(hold, key="hc")
    ledger.reverse(earned, 100, key="rv", reason="order refunded")
    ledger.adjust(member, -5, key="adj", reason="correction", staff=StaffFactory())

    page = text(member_client.get("/points/"))

    assert labels(page) == ["Adjusted", "Taken back", "Used", "In use", "Returned", "In use",
                            "Refunded", "Used", "Pending", "Earned"]
    # A hold and a release change no total: they name their points, unsigned.
    assert re.findall(r'data-testid="amount">([^<]*)<', page) == [
        "-5", "-100", "-20", "20", "30", "30", "+120", "-120", "+40", "+500"]
    for jargon in ("Hold", "Release", "Reverse", "Capture"):
        assert f">{jargon}<" not in page
    # The spend and its refund link to the redemption.
    assert page.count(f'href="/redemptions/{redemption.pk}/"') == 2


def test_the_chinese_page_has_no_ledger_jargon_in_labels_and_filter(member):
    product = make_product(name="Tea", points_price=120)
    fund(member, 500)
    redemption = catalog_services.redeem(member, product, key="r1", address="Road 1")
    catalog_services.cancel(redemption, reason="不要了")
    hold = ledger.hold(member, 30, key="h", ttl=timedelta(minutes=10))
    ledger.release(hold, key="hr")
    client = Client()
    client.force_login(member)

    page = text(client.get("/points/"))

    # The stored reasons are the ledger's own text (reason_text renders them); the page's words:
    words = " ".join(labels(page)) + re.search(r"<select.*?</select>", page, re.S).group(0)
    for word in (*JARGON, "生效"):
        assert word not in words


def test_each_entry_folds_out_its_explanation(member_client, member):
    from points.services import earning

    earning.check_in(member)
    fund(member, 70, key="gift")

    page = text(member_client.get("/points/"))

    assert page.count('<details class="entry-details">') == 2
    entry = Entry.objects.get(account__member=member, reference="check-in")
    assert "How it was computed" in page
    assert entry.explanation["lines"] == ["连续签到第 1 天：5"]  # stored in the site's language
    assert "<li>check-in day 1: 5</li>" in page  # shown in the reader's
    assert page.count("Valid until") == 2  # both credited lots with the default expiry


def test_pending_points_say_when_they_become_usable(member_client, member):
    when = timezone.now() + timedelta(days=7)
    fund(member, 40, key="p", available_at=when)

    page = text(member_client.get("/points/"))

    assert labels(page) == ["Pending"]
    assert f"Usable from {timezone.localdate(when).isoformat()}" in page


def test_filters_and_pagination_keep_working_with_the_months(member_client, member):
    for n in range(23):
        fund(member, 1000 + n, key=f"f{n}")
    product = make_product(name="Tea", points_price=120)
    catalog_services.redeem(member, product, key="r1", address="Road 1")

    first = member_client.get("/points/?kind=earn")
    second = member_client.get("/points/?kind=earn&page=2")
    spends = member_client.get("/points/?kind=spend")

    assert len(labels(text(first))) == 20 and set(labels(text(first))) == {"Earned"}
    assert 'href="?kind=earn&amp;page=2"' in text(first)
    assert labels(text(second)) == ["Earned"] * 3
    assert "+1,002" in text(second)
    assert labels(text(spends)) == ["Used"]
    assert '<option value="spend" selected>Used in the mall</option>' in text(spends)


def test_the_page_reads_its_entries_details_in_a_constant_number_of_queries(member_client, member):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count_queries():
        with CaptureQueriesContext(connection) as captured:
            assert member_client.get("/points/").status_code == 200
        return len(captured)

    for n in range(3):
        fund(member, 10 + n, key=f"a{n}")
    count_queries()  # the first request also notes the member active
    few = count_queries()
    for n in range(12):
        fund(member, 20 + n, key=f"b{n}")
    hold = ledger.hold(member, 30, key="h", ttl=timedelta(minutes=10))
    ledger.release(hold, key="hr")

    assert count_queries() == few
