"""The member's own data: profile, balance, entries and check-in. Exact bodies."""

from datetime import date, timedelta

import pytest

from mall.invite import invite_code
from mall.models import Member
from points import services
from points.models import Entry
from tests.factories import MemberFactory
from tests.points.ledger import T0, at, clock

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"
POINTS = "/api/v1/me/points/"
ENTRIES = "/api/v1/me/points/entries/"
CHECK_IN = "/api/v1/me/check-in/"


def error(code, message, fields=None):
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


# --------------------------------------------------------------------------- profile


def test_me_is_the_members_profile(member_api, member):
    Member.objects.filter(pk=member.pk).update(phone="13900001111", tier="gold", date_joined=T0)

    response = member_api.get(ME)

    assert response.status_code == 200
    assert response.json() == {
        "id": member.pk,
        "username": member.username,
        "nickname": member.nickname,
        "phone": "139****1111",  # masked (common.pii)
        "tier": "gold",
        "tier_name": "Gold",  # in the request's language (tests/tiers: the Chinese)
        "invite_code": invite_code(member),
        "joined": "2026-01-10T10:00:00+08:00",
        "unread_messages": 0,
        "tier_progress": {  # the top tier: nothing left to climb (tests/api/test_me_tier_progress.py)
            "tier": "gold", "tier_display": "Gold", "multiplier": "1.5", "next_tier": None,
            "next_tier_display": None, "points_to_next": 0, "progress_percent": 100,
            "exclusive_products": 0,
        },
    }


def test_me_invite_code_is_the_members_stored_referral_code(member_api, member):
    from referrals.models import Node

    code = member_api.get(ME).json()["invite_code"]

    assert code == Node.objects.get(member=member).invite_code
    assert member_api.get(ME).json()["invite_code"] == code  # stable


def test_patch_me_changes_the_nickname_stored_as_given(member_api, member):
    nickname = "<script>alert(1)</script>"

    response = member_api.patch(ME, {"nickname": nickname})

    assert response.status_code == 200
    assert response.json()["nickname"] == nickname
    member.refresh_from_db()
    assert member.nickname == nickname


def test_patch_me_refuses_a_long_nickname_a_nul_and_a_number(member_api, member):
    too_long = member_api.patch(ME, {"nickname": "x" * 65})
    nul = member_api.patch(ME, {"nickname": "a\x00b"})
    number = member_api.patch(ME, {"nickname": 7})

    assert too_long.status_code == 400
    assert too_long.json() == error("invalid", "The request has invalid fields.", {
        "nickname": ["Ensure this field has no more than 64 characters."]
    })
    assert nul.status_code == 400
    assert nul.json()["error"]["fields"] == {"nickname": ["Null characters are not allowed."]}
    assert number.status_code == 400
    assert number.json()["error"]["fields"] == {"nickname": ["Not a valid string."]}
    member.refresh_from_db()
    assert member.nickname.startswith("Member ")


def test_patch_me_counts_the_nickname_as_sent_before_trimming(member_api, member):
    # The schema says maxLength 64 of what the client sends; 64 letters and a space are 65.
    response = member_api.patch(ME, {"nickname": "x" * 64 + " "})

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "nickname": ["Ensure this field has no more than 64 characters."]}
    assert member_api.patch(ME, {"nickname": " " + "x" * 63}).json()["nickname"] == "x" * 63


def test_patch_me_refuses_fields_a_member_cannot_change(member_api, member):
    # Refused, not ignored (tests/api/test_me_patch.py has the rest of the contract).
    response = member_api.patch(ME, {"tier": "gold", "username": "boss", "nickname": "Neo"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "read_only_field"
    assert set(response.json()["error"]["fields"]) == {"tier", "username"}
    member.refresh_from_db()
    assert (member.tier, member.nickname) == ("normal", member.nickname)
    assert member.nickname != "Neo"


def test_authenticated_use_records_last_activity_at_most_every_five_minutes(member_api, member):
    with clock(T0):
        member_api.get(ME)
    member.refresh_from_db()
    assert member.last_active_at == T0

    with clock(T0 + timedelta(minutes=4)):
        member_api.get(POINTS)
    member.refresh_from_db()
    assert member.last_active_at == T0

    with clock(T0 + timedelta(minutes=6)):
        member_api.get(ME)
    member.refresh_from_db()
    assert member.last_active_at == T0 + timedelta(minutes=6)


def test_unauthenticated_requests_are_401_everywhere(api):
    for method, url in [("get", ME), ("patch", ME), ("get", POINTS), ("get", ENTRIES),
                        ("post", CHECK_IN)]:
        response = getattr(api, method)(url)
        assert response.status_code == 401, url
        assert response.json() == error("not_authenticated",
                                        "Authentication credentials were not provided.")


def test_session_signed_in_member_can_use_the_api_but_writes_need_csrf(member):
    from rest_framework.test import APIClient

    client = APIClient(HTTP_ACCEPT_LANGUAGE="en", enforce_csrf_checks=True)
    client.force_login(member)

    assert client.get(ME).json()["id"] == member.pk
    response = client.post(CHECK_IN)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


# --------------------------------------------------------------------------- balance


def test_points_balance_with_expiring_months(member_api, member):
    other = MemberFactory()
    with clock(T0):
        services.earn(member, 120, key="a", reason="r", expires_at=at(2026, 12, 1))   # Nov 2026
        services.earn(member, 30, key="b", reason="r", expires_at=at(2026, 3, 15))    # Mar 2026
        services.earn(member, 50, key="c", reason="r", expires_at=at(2026, 3, 31))    # Mar 2026
        services.earn(member, 40, key="d", reason="r", expires_at=services.NEVER)
        services.earn(member, 60, key="e", reason="r", available_at=T0 + timedelta(days=7),
                      expires_at=at(2027, 6, 1))                                     # past 12 months
        services.hold(member, 10, key="h", ttl=timedelta(minutes=30))                 # 10 of Mar
        services.earn(other, 999, key="o", reason="r", expires_at=at(2026, 2, 1))

        response = member_api.get(POINTS)

    assert response.status_code == 200
    assert response.json() == {
        "available": 230,
        "pending": 60,
        "held": 10,
        "debt": 0,
        "expiring": [{"month": "2026-03", "points": 70}, {"month": "2026-11", "points": 120}],
    }


def test_points_balance_of_a_member_without_an_account_is_zero(member_api):
    assert member_api.get(POINTS).json() == {
        "available": 0, "pending": 0, "held": 0, "debt": 0, "expiring": [],
    }


def test_points_balance_shows_debt(member_api, member):
    with clock(T0):
        earned = services.earn(member, 50, key="e", reason="r", expires_at=at(2027, 1, 1))
        services.spend(member, 40, key="s", reason="r")
        services.reverse(earned, key="x", reason="refund")

        body = member_api.get(POINTS).json()

    assert body == {"available": 0, "pending": 0, "held": 0, "debt": 40, "expiring": []}


# --------------------------------------------------------------------------- entries


def make_history(member):
    """Seven entries over three days, oldest first: earns on 1/10, spends on 1/11, earns on 1/12."""
    made = []
    for day, specs in ((10, [("earn", 100), ("earn", 20)]),
                       (11, [("spend", 30), ("spend", 5)]),
                       (12, [("earn", 7), ("earn", 8), ("earn", 9)])):
        with clock(at(2026, 1, day, 12)):
            for kind, points in specs:
                key = f"{member.pk}-{len(made)}"
                if kind == "earn":
                    made.append(services.earn(member, points, key=key, reason=f"earn {points}",
                                              expires_at=at(2027, 1, 1)))
                else:
                    made.append(services.spend(member, points, key=key, reason=f"spend {points}"))
    return made


def test_entries_are_the_members_own_newest_first_with_exact_fields(member_api, member):
    made = make_history(member)
    make_history(MemberFactory())  # another member's entries never show

    response = member_api.get(ENTRIES)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 7
    assert (body["next"], body["previous"]) == (None, None)
    assert [row["id"] for row in body["results"]] == [entry.pk for entry in reversed(made)]
    assert body["results"][0] == {
        "id": made[-1].pk, "delta": 9, "kind": "earn", "reason": "earn 9", "balance_after": 109,
        "created_at": "2026-01-12T12:00:00+08:00", "explanation": [],
        "label": "earned", "label_display": "Earned", "available_at": "2026-01-12T12:00:00+08:00",
        "expires_at": "2027-01-01T00:00:00+08:00", "redemption": None,
    }
    assert body["results"][3] == {
        "id": made[3].pk, "delta": -5, "kind": "spend", "reason": "spend 5", "balance_after": 85,
        "created_at": "2026-01-11T12:00:00+08:00", "explanation": [],
        "label": "used", "label_display": "Used", "available_at": None, "expires_at": None,
        "redemption": None,
    }


def test_entries_paginate(member_api, member):
    made = make_history(member)

    first = member_api.get(ENTRIES, {"page_size": 3}).json()
    last = member_api.get(ENTRIES, {"page_size": 3, "page": 3}).json()

    assert first["count"] == 7
    assert [row["id"] for row in first["results"]] == [e.pk for e in reversed(made[-3:])]
    assert first["previous"] is None
    assert first["next"] == "http://testserver/api/v1/me/points/entries/?page=2&page_size=3"
    assert [row["id"] for row in last["results"]] == [made[0].pk]
    assert last["next"] is None
    past_the_end = member_api.get(ENTRIES, {"page": 4, "page_size": 3})
    assert past_the_end.status_code == 404
    assert past_the_end.json() == error("not_found", "Invalid page.")


def test_entries_page_size_defaults_to_20_and_goes_up_to_100(member_api, member):
    with clock(T0):
        for n in range(105):
            services.earn(member, 1, key=f"k{n}", reason="r", expires_at=at(2027, 1, 1))

    assert len(member_api.get(ENTRIES).json()["results"]) == 20
    assert len(member_api.get(ENTRIES, {"page_size": 100}).json()["results"]) == 100


@pytest.mark.parametrize("page_size", ["0", "101", "ten", "-1", "5.0", ""])
def test_entries_page_size_out_of_range_is_400(member_api, page_size):
    response = member_api.get(ENTRIES, {"page_size": page_size})

    assert response.status_code == 400
    assert response.json() == error("invalid", "The request has invalid fields.", {
        "page_size": ["Enter a whole number from 1 to 100."]
    })


def test_entries_filter_by_kind_and_local_date_range(member_api, member):
    made = make_history(member)

    spends = member_api.get(ENTRIES, {"kind": "spend"}).json()
    from_11th = member_api.get(ENTRIES, {"date_from": "2026-01-11"}).json()
    on_11th_earns = member_api.get(ENTRIES, {"date_from": "2026-01-11", "date_to": "2026-01-11",
                                             "kind": "earn"}).json()
    up_to_10th = member_api.get(ENTRIES, {"date_to": "2026-01-10"}).json()

    assert [row["id"] for row in spends["results"]] == [made[3].pk, made[2].pk]
    assert [row["id"] for row in from_11th["results"]] == [e.pk for e in reversed(made[2:])]
    assert on_11th_earns["count"] == 0
    assert [row["id"] for row in up_to_10th["results"]] == [made[1].pk, made[0].pk]


def test_entries_local_day_boundary_is_shanghai_midnight(member_api, member):
    with clock(at(2026, 1, 11, 0, 30)):  # 2026-01-10 16:30 UTC
        entry = services.earn(member, 5, key="late", reason="r", expires_at=at(2027, 1, 1))

    assert member_api.get(ENTRIES, {"date_to": "2026-01-10"}).json()["count"] == 0
    assert [row["id"] for row in member_api.get(ENTRIES, {"date_from": "2026-01-11"})
            .json()["results"]] == [entry.pk]


def test_entries_bad_filters_are_400_field_errors(member_api):
    response = member_api.get(ENTRIES, {"kind": "steal", "date_from": "yesterday",
                                        "date_to": "01/12/2026"})

    assert response.status_code == 400
    assert response.json() == error("invalid", "The request has invalid fields.", {
        "kind": ["Select a valid choice. steal is not one of the available choices."],
        "date_from": ["Enter a valid date."],
        "date_to": ["Enter a valid date."],
    })


def test_entries_show_the_explanation_lines_of_an_earning(member_api, member):
    with clock(T0):
        services.earn(member, 15, key="x", reason="review", expires_at=at(2027, 1, 1),
                      rule_version="3",
                      explanation={"version": 3, "points": 15, "lines": ["review 10", "photo +50%"]})

    row = member_api.get(ENTRIES).json()["results"][0]

    assert (row["reason"], row["explanation"]) == ("review", ["review 10", "photo +50%"])


def test_another_members_entries_are_never_visible(member_api, member, token_for):
    other = MemberFactory()
    with clock(T0):
        services.earn(other, 500, key="theirs", reason="theirs", expires_at=at(2027, 1, 1))

    assert member_api.get(ENTRIES).json() == {"count": 0, "next": None, "previous": None,
                                              "results": []}
    assert member_api.get(POINTS).json()["available"] == 0
    # The other member sees theirs with their own token.
    from rest_framework.test import APIClient

    theirs = APIClient(HTTP_AUTHORIZATION=f"Bearer {token_for(other)}").get(ENTRIES).json()
    assert [row["reason"] for row in theirs["results"]] == ["theirs"]


# --------------------------------------------------------------------------- check-in


def test_check_in_twice_the_same_day_earns_once(member_api, member):
    with clock(T0):
        first = member_api.post(CHECK_IN)
        second = member_api.post(CHECK_IN)

    assert first.status_code == 200
    assert first.json() == {"points": 5, "streak": 1, "day": "2026-01-10", "already_checked_in": False}
    assert second.status_code == 200
    assert second.json() == {"points": 5, "streak": 1, "day": "2026-01-10", "already_checked_in": True}
    assert list(Entry.objects.filter(account__member=member).values_list("kind", "delta")) == [
        ("earn", 5)
    ]


def test_check_in_on_consecutive_days_builds_a_streak(member_api, member):
    results = []
    for day in (10, 11, 12):
        with clock(at(2026, 1, day, 9)):
            results.append(member_api.post(CHECK_IN).json())

    assert [(r["streak"], r["day"]) for r in results] == [
        (1, "2026-01-10"), (2, "2026-01-11"), (3, "2026-01-12")
    ]
    assert all(r["points"] > 0 for r in results)
    with clock(at(2026, 1, 12, 10)):
        assert member_api.get(POINTS).json()["available"] == sum(r["points"] for r in results)


def test_check_in_day_is_the_shanghai_calendar_day(member_api):
    with clock(at(2026, 1, 11, 0, 5)):  # 16:05 UTC on the 10th
        body = member_api.post(CHECK_IN).json()

    assert body["day"] == str(date(2026, 1, 11))


def test_entries_empty_filters_are_ignored(member_api, member):
    made = make_history(member)

    body = member_api.get(ENTRIES, {"kind": "", "date_from": "", "date_to": ""}).json()

    assert body["count"] == len(made)
