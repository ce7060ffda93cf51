"""The check-in week on the home page: ``points.selectors.check_in_calendar`` and the card the
htmx check-in swaps in."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from points.selectors import check_in_calendar
from points.services import earning
from tests.factories import MemberFactory
from tests.pages.helpers import text
from tests.points.ledger import at

pytestmark = pytest.mark.django_db

WEDNESDAY = date(2026, 12, 2)


def test_the_week_runs_monday_to_sunday_with_checked_days_and_today(member):
    earning.check_in(member, now=at(2026, 11, 29, 23, 30))  # Sunday of the week before
    earning.check_in(member, now=at(2026, 11, 30, 0, 10))  # Monday, just after midnight in Shanghai
    earning.check_in(member, now=at(2026, 12, 1, 9))
    earning.check_in(MemberFactory(), now=at(2026, 12, 2, 9))  # someone else's today

    calendar = check_in_calendar(member, WEDNESDAY)

    assert [(d["day"], d["checked"], d["points"], d["today"], d["future"]) for d in calendar["days"]] == [
        (date(2026, 11, 30), True, 8, False, False),
        (date(2026, 12, 1), True, 10, False, False),
        (WEDNESDAY, False, 0, True, False),
        (date(2026, 12, 3), False, 0, False, True),
        (date(2026, 12, 4), False, 0, False, True),
        (date(2026, 12, 5), False, 0, False, True),
        (date(2026, 12, 6), False, 0, False, True),
    ]
    assert (calendar["checked_in_today"], calendar["streak"], calendar["next_points"],
            calendar["next_is_today"]) == (False, 3, 12, True)
    # Day 4 of the streak is today's check-in; the steps still to come after it:
    assert calendar["coming"] == [{"day": 5, "points": 15, "in_days": 2},
                                  {"day": 6, "points": 18, "in_days": 3},
                                  {"day": 7, "points": 20, "in_days": 4}]


def test_after_todays_check_in_the_next_reward_is_tomorrows(member):
    earning.check_in(member, now=at(2026, 12, 2, 8))

    calendar = check_in_calendar(member, WEDNESDAY)

    assert [d["checked"] for d in calendar["days"]] == [False, False, True, False, False, False, False]
    assert (calendar["checked_in_today"], calendar["streak"], calendar["points_today"],
            calendar["next_points"], calendar["next_is_today"]) == (True, 1, 5, 8, False)
    assert [step["day"] for step in calendar["coming"]] == [3, 4, 5, 6, 7]


def test_a_missed_day_restarts_the_reward(member):
    earning.check_in(member, now=at(2026, 11, 30, 9))  # Monday; Tuesday missed

    calendar = check_in_calendar(member, WEDNESDAY)

    assert (calendar["streak"], calendar["next_points"]) == (0, 5)
    assert calendar["days"][0]["checked"] and not calendar["days"][1]["checked"]


def test_the_home_page_shows_the_week_todays_reward_and_the_streak_rewards(member_client, member):
    earning.check_in(member, now=timezone.now() - timedelta(days=1))

    page = text(member_client.get("/"))

    today = timezone.localdate()
    assert page.count('class="week-day') == 7
    assert [name in page for name in ("Mon", "Sun")] == [True, True]
    assert f'data-day="{today.isoformat()}" aria-current="date"' in page
    assert "Check in today for 8 points" in page
    assert "3 days in a row: 10 points a day" in page
    assert "7 days in a row: a free draw in" in page  # the migrated streak lottery


def test_the_htmx_check_in_refreshes_the_week(member_client, member):
    response = member_client.post("/check-in/", HTTP_HX_REQUEST="true")

    page = text(response)
    today = timezone.localdate()
    assert page.startswith('<section class="card check-in" id="check-in">')
    assert f'class="week-day checked today" data-day="{today.isoformat()}"' in page
    assert "Check in tomorrow for 8 points" in page
    assert "Checked in · +5" in page
