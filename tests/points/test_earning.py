"""points.services.earning: paid orders, refunds, behaviours and check-ins under the default rules."""

from datetime import timedelta
from decimal import Decimal
from unittest.mock import patch

import pytest
from django.conf import settings
from django.db.models import F
from django.utils.translation import gettext as _
from django.utils.translation import override

from points import services
from points.errors import IdempotencyConflict, InvalidArgument
from points.models import BehaviourRecord, CheckIn, Entry, EntryKind, Lot, Order, Refund
from points.policy import month_end_expiry
from points.services import earning
from rules import services as rule_services
from rules.errors import SameEditor
from rules.evaluator import UnknownAction
from rules.models import RuleSet, RuleSetStatus, TierRule
from tests.factories import MemberFactory, StaffFactory
from tests.points.ledger import T0, at, entries, totals
from tests.threads import failures, run_together

pytestmark = pytest.mark.django_db


def line(sku="sku-1", amount="100.00", categories=(), quantity=1):
    return {"sku": sku, "amount": Decimal(amount), "categories": list(categories), "quantity": quantity}


def pay(member, order_id="o-1", amount="100.00", lines=None, paid_at=T0, now=T0):
    lines = lines if lines is not None else [line(amount=amount)]
    with patch("django.utils.timezone.now", return_value=now):
        return earning.record_paid_order(member, order_id=order_id, amount=Decimal(amount),
                                         lines=lines, paid_at=paid_at, now=now)


def published_version() -> int:
    return RuleSet.objects.get(status=RuleSetStatus.PUBLISHED).version


def in_default_language(message, **params):
    with override(settings.LANGUAGE_CODE):
        return _(message) % params


# --------------------------------------------------------------------------- paid orders


def test_gold_member_imported_line_earns_235_pending_for_seven_days(ledger_invariants):
    member = MemberFactory(tier="gold")

    result = pay(member, lines=[line(amount="100.00", categories=["imported"])])

    assert (result.points, result.status) == (235, "pending")
    assert result.available_at == T0 + timedelta(days=7)
    entry = Entry.objects.get(pk=result.entry.pk)
    assert (entry.kind, entry.delta, entry.key, entry.reference) == (EntryKind.EARN, 235, "order:o-1", "o-1")
    assert entry.rule_version == str(published_version())
    assert entry.explanation == result.explanation
    assert entry.explanation["points"] == 235
    assert len(entry.explanation["lines"]) == 3  # the line, the spend tier, the total
    assert entry.reason == in_default_language("Points for order %(order_id)s", order_id="o-1")
    lot = Lot.objects.get(entry=entry)
    assert (lot.amount, lot.pending, lot.available_at) == (235, True, at(2026, 1, 17, 10))
    assert lot.expires_at == month_end_expiry(T0, months=12) == at(2027, 2, 1)
    order = Order.objects.get(external_id="o-1")
    assert (order.member, order.tier, order.amount, order.refunded_amount) == (
        member, "gold", Decimal("100.00"), Decimal("0"))
    assert order.paid_at == T0 and order.entry_id == entry.pk
    assert list(order.lines.values_list("sku", "categories", "amount", "quantity")) == [
        ("sku-1", ["imported"], Decimal("100.00"), 1)]
    assert totals(member)["pending"] == 235 and totals(member)["available"] == 0
    assert ledger_invariants() == []


@pytest.mark.parametrize(
    ("tier", "amounts", "points"),
    [("silver", ["99.99"], 119), ("normal", ["150.00", "150.00"], 340), ("normal", ["299.99"], 309),
     ("normal", ["300.00"], 340)],
)
def test_issue_examples(tier, amounts, points):
    member = MemberFactory(tier=tier)
    total = str(sum(Decimal(a) for a in amounts))
    result = pay(member, amount=total, lines=[line(f"s{i}", a) for i, a in enumerate(amounts)])
    assert result.points == points
    assert totals(member)["pending"] == points


def test_order_reported_after_its_cooling_off_is_available_at_once():
    member = MemberFactory()
    result = pay(member, paid_at=T0 - timedelta(days=8), now=T0)
    assert (result.points, result.status) == (110, "available")
    assert totals(member)["available"] == 110


def test_order_worth_zero_points_is_stored_without_an_entry():
    member = MemberFactory()
    result = pay(member, amount="0.50")
    assert (result.points, result.status, result.entry, result.available_at) == (0, "none", None, None)
    order = Order.objects.get(external_id="o-1")
    assert order.entry is None and order.lines.count() == 1
    assert entries(member) == []
    # And it replays as such.
    assert pay(member, amount="0.50").points == 0


def test_the_tier_at_payment_is_kept_on_the_order():
    member = MemberFactory(tier="silver")
    pay(member)
    member.tier = "gold"
    member.save()
    assert Order.objects.get(external_id="o-1").tier == "silver"


def test_same_order_again_returns_the_first_result_and_posts_nothing(ledger_invariants):
    member = MemberFactory(tier="gold")
    first = pay(member, lines=[line(categories=["imported"])])
    again = pay(member, lines=[line(categories=["imported"])], now=T0 + timedelta(days=40))
    assert (again.points, again.status, again.available_at, again.explanation) == (
        first.points, first.status, first.available_at, first.explanation)
    assert again.entry.pk == first.entry.pk
    assert Order.objects.count() == 1 and Entry.objects.count() == 1
    assert ledger_invariants() == []


@pytest.mark.parametrize(
    "change",
    [{"amount": "100.01", "lines": [line(amount="100.00")]},
     {"lines": [line(amount="90.00")]},
     {"lines": [line(categories=["seasonal"])]},
     {"paid_at": T0 + timedelta(seconds=1)}],
)
def test_same_order_with_other_content_is_a_conflict(change):
    member = MemberFactory()
    pay(member)
    with pytest.raises(IdempotencyConflict):
        pay(member, **change)
    with pytest.raises(IdempotencyConflict):
        pay(MemberFactory())
    assert Order.objects.count() == 1 and Entry.objects.count() == 1


@pytest.mark.parametrize(
    ("amount", "lines"),
    [(Decimal("-1.00"), [line()]), (Decimal("1.001"), [line()]), ("abc", [line()]), (1.5, [line()]),
     (Decimal("100"), [{"sku": "", "amount": Decimal("1")}]),
     (Decimal("100"), [{"sku": "a", "amount": Decimal("-1")}]),
     (Decimal("100"), [{"sku": "a", "amount": Decimal("1"), "quantity": 0}]),
     (Decimal("100"), "not lines"),
     (Decimal("100"), [line(amount="60.00"), line(amount="40.01")])],
)
def test_malformed_orders_are_refused_before_anything_is_written(amount, lines):
    member = MemberFactory()
    with pytest.raises(InvalidArgument):
        earning.record_paid_order(member, order_id="o-1", amount=amount, lines=lines, paid_at=T0)
    assert Order.objects.count() == 0 and Entry.objects.count() == 0


# --------------------------------------------------------------------------- refunds


def refund(amount, key, order_id="o-1"):
    return earning.record_refund(order_id=order_id, refund_amount=Decimal(amount), key=key)


def test_partial_refunds_add_up_and_never_reverse_more_than_earned(ledger_invariants):
    member = MemberFactory(tier="gold")
    pay(member, lines=[line(categories=["imported"])])  # 235 points on 100.00

    steps = [refund("40.00", "r1"), refund("40.00", "r2"), refund("40.00", "r3"), refund("10.00", "r4")]

    # floor(235 × 40/100) = 94; floor(235 × 80/100) = 188; then all of it (clamped at 100.00).
    assert [(s.points_reversed, s.reversed_total, s.refunded_amount) for s in steps] == [
        (94, 94, Decimal("40.00")), (94, 188, Decimal("80.00")), (47, 235, Decimal("100.00")),
        (0, 235, Decimal("100.00"))]
    assert [r.applied_amount for r in Refund.objects.order_by("id")] == [
        Decimal("40.00"), Decimal("40.00"), Decimal("20.00"), Decimal("0.00")]
    assert Order.objects.get().refunded_amount == Decimal("100.00")
    assert entries(member) == [("earn", 235, 235), ("reverse", -94, 141), ("reverse", -94, 47),
                               ("reverse", -47, 0)]
    assert totals(member) == {"available": 0, "pending": 0, "held": 0, "debt": 0, "lifetime_earned": 0,
                              "lifetime_spent": 0, "lifetime_expired": 0}
    assert Entry.objects.filter(kind="reverse").first().reason == in_default_language(
        "Refund of order %(order_id)s", order_id="o-1")
    assert ledger_invariants() == []


def test_small_partial_refund_rounds_down_to_nothing_then_catches_up():
    member = MemberFactory()
    pay(member, amount="10.00")  # 10 points
    assert refund("0.05", "r1").points_reversed == 0  # floor(10 × 0.05/10) = 0
    assert refund("0.95", "r2").points_reversed == 1  # floor(10 × 1.00/10) = 1
    assert totals(member)["pending"] == 9


def test_refund_beyond_the_order_amount_is_clamped_to_a_full_refund():
    member = MemberFactory()
    pay(member)  # 110 points
    result = refund("500.00", "r1")
    assert (result.points_reversed, result.refunded_amount) == (110, Decimal("100.00"))
    assert result.refund.applied_amount == Decimal("100.00")


def test_refund_after_the_points_were_spent_leaves_debt(ledger_invariants):
    member = MemberFactory()
    pay(member, paid_at=T0 - timedelta(days=8))  # 110 available at once
    with patch("django.utils.timezone.now", return_value=T0):
        services.spend(member, 100, key="spend-1", reason="mall")
        result = refund("100.00", "r1")
    assert result.points_reversed == 110
    assert totals(member)["available"] == 0 and totals(member)["debt"] == 100
    assert ledger_invariants() == []


def test_refund_is_idempotent_per_key():
    member = MemberFactory()
    pay(member)
    first = refund("50.00", "r1")
    again = refund("50.00", "r1")
    assert (again.points_reversed, again.refund.pk) == (first.points_reversed, first.refund.pk)
    assert first.points_reversed == 55
    assert Order.objects.get().refunded_amount == Decimal("50.00")
    with pytest.raises(IdempotencyConflict):
        refund("60.00", "r1")
    assert Entry.objects.filter(kind="reverse").count() == 1


def test_refund_of_an_unknown_order_or_a_zero_point_order():
    with pytest.raises(earning.OrderNotFound):
        refund("1.00", "r1", order_id="nope")
    member = MemberFactory()
    pay(member, amount="0.50")
    result = refund("0.50", "r2")
    assert (result.points_reversed, result.refunded_amount) == (0, Decimal("0.50"))


# --------------------------------------------------------------------------- behaviours


def behave(member, action, key, *, when=T0, photo=False):
    return earning.record_behaviour(member, action=action, occurred_at=when, photo=photo, key=key)


def test_share_earns_three_times_a_day_and_the_fourth_says_why(ledger_invariants):
    member = MemberFactory()
    results = [behave(member, "share", f"s{i}") for i in range(4)]
    assert [points for points, _reason in results] == [50, 50, 50, 0]
    assert results[0][1] == in_default_language("%(action)s: %(points)s", action="分享", points=50)
    assert results[3][1] == in_default_language("%(action)s: daily limit of %(limit)s reached",
                                                action="分享", limit=3)
    assert totals(member)["available"] == 150
    assert BehaviourRecord.objects.filter(member=member).count() == 4
    # The next local day starts again (T0 is 10:00; the next day begins 14 hours later).
    assert behave(member, "share", "s5", when=T0 + timedelta(hours=14))[0] == 50
    assert ledger_invariants() == []


def test_review_with_photo_earns_26_available_at_once_with_the_book_expiry():
    member = MemberFactory()
    with patch("django.utils.timezone.now", return_value=T0):
        assert behave(member, "review", "r1", photo=True)[0] == 26
        assert behave(member, "review", "r2")[0] == 20
    entry = Entry.objects.get(key="behaviour:r1")
    assert entry.rule_version == str(published_version())
    assert entry.explanation["points"] == 26
    lot = Lot.objects.get(entry=entry)
    assert (lot.pending, lot.expires_at) == (False, at(2027, 2, 1))


def test_daily_cap_of_500_pays_the_part_up_to_the_cap():
    member = MemberFactory()
    earned = [behave(member, "invite", f"i{i}")[0] for i in range(4)]  # 400
    earned.append(behave(member, "share", "s1")[0])  # 450
    earned.append(behave(member, "review", "r1", photo=True)[0])  # 476
    points, reason = behave(member, "share", "s2")  # 24 of 50
    assert earned + [points] == [100, 100, 100, 100, 50, 26, 24]
    assert reason.endswith(in_default_language(
        "daily cap of %(cap)s reached: %(points)s of %(wanted)s", cap=500, points=24, wanted=50))
    assert behave(member, "invite", "i5")[0] == 0
    assert totals(member)["available"] == 500


def test_register_earns_once():
    member = MemberFactory()
    assert behave(member, "register", "reg-1")[0] == 200
    points, reason = behave(member, "register", "reg-2", when=T0 + timedelta(days=3))
    assert points == 0
    assert reason == in_default_language(
        "%(action)s: already earned %(limit)s time(s), the most allowed", action="注册", limit=1)


def test_behaviour_is_idempotent_per_key_and_unknown_actions_write_nothing():
    member = MemberFactory()
    assert behave(member, "share", "k1") == behave(member, "share", "k1")
    assert Entry.objects.count() == 1 and BehaviourRecord.objects.count() == 1
    with pytest.raises(IdempotencyConflict):
        behave(member, "review", "k1")
    with pytest.raises(UnknownAction):
        behave(member, "dance", "k2")
    assert Entry.objects.count() == 1 and BehaviourRecord.objects.count() == 1


def test_limits_count_the_local_day_of_the_event():
    member = MemberFactory()
    late = at(2026, 1, 10, 23, 59)
    for i in range(3):
        assert behave(member, "share", f"a{i}", when=late)[0] == 50
    assert behave(member, "share", "b0", when=at(2026, 1, 11, 0, 1))[0] == 50
    assert list(BehaviourRecord.objects.order_by("id").values_list("day", flat=True)) == [
        late.date()] * 3 + [at(2026, 1, 11).date()]


@pytest.mark.django_db(transaction=True)
def test_concurrent_shares_cannot_both_pass_the_daily_limit(ledger_invariants):
    member = MemberFactory()
    outcomes = run_together(6, lambda i: behave(member, "share", f"c{i}")[0])
    errors = failures(outcomes)
    results = [outcome for outcome in outcomes if not isinstance(outcome, Exception)]

    assert errors == []
    assert sorted(results) == [0, 0, 0, 50, 50, 50]
    assert totals(member)["available"] == 150
    assert ledger_invariants() == []


# --------------------------------------------------------------------------- check-in


def check_in_at(member, when):
    with patch("django.utils.timezone.now", return_value=when):
        return earning.check_in(member)


def test_check_in_streak_rises_and_repeats_the_last_step(ledger_invariants):
    member = MemberFactory()
    results = [check_in_at(member, at(2026, 1, 1, 9) + timedelta(days=d)) for d in range(9)]
    assert [r.points for r in results] == [5, 8, 10, 12, 15, 18, 20, 20, 20]
    assert [r.streak for r in results] == list(range(1, 10))
    assert totals(member)["available"] == 128
    entry = Entry.objects.get(key=f"check-in:{member.pk}:2026-01-01")
    assert (entry.delta, entry.rule_version) == (5, str(published_version()))
    assert ledger_invariants() == []


def test_a_missed_day_restarts_the_streak():
    member = MemberFactory()
    days = [1, 2, 3, 5, 6]  # the 4th is missed
    results = [check_in_at(member, at(2026, 1, d, 8)) for d in days]
    assert [(r.streak, r.points) for r in results] == [(1, 5), (2, 8), (3, 10), (1, 5), (2, 8)]


def test_second_check_in_the_same_day_posts_nothing():
    member = MemberFactory()
    first = check_in_at(member, at(2026, 1, 10, 0, 0))
    again = check_in_at(member, at(2026, 1, 10, 23, 59))
    assert (first.points, first.streak, first.already_checked_in) == (5, 1, False)
    assert (again.points, again.streak, again.already_checked_in) == (5, 1, True)
    assert CheckIn.objects.count() == 1 and Entry.objects.count() == 1


def test_check_in_days_are_local_days_in_shanghai():
    member = MemberFactory()
    # 23:59 and 00:01 Shanghai time are 15:59 and 16:01 UTC of the same UTC day.
    before = check_in_at(member, at(2026, 1, 10, 23, 59))
    after = check_in_at(member, at(2026, 1, 11, 0, 1))
    assert (before.day.isoformat(), after.day.isoformat()) == ("2026-01-10", "2026-01-11")
    assert (before.already_checked_in, after.already_checked_in) == (False, False)
    assert (after.streak, after.points) == (2, 8)


# --------------------------------------------------------------------------- rule versions


def test_roll_back_restores_the_previous_version_for_new_events_only():
    editor, publisher = StaffFactory(), StaffFactory()
    member = MemberFactory()
    v1 = RuleSet.objects.get(status=RuleSetStatus.PUBLISHED)
    before = pay(member, order_id="o-1", amount="50.00")

    draft = rule_services.clone_as_draft(v1, actor=editor)
    # Every tier ×2 (a higher tier never earns a lower multiplier: publishing checks the table).
    TierRule.objects.filter(rule_set=draft).update(multiplier=F("multiplier") * 2)
    rule_services.record_edit(draft, actor=editor, detail="every tier ×2")
    with pytest.raises(SameEditor):
        rule_services.publish(draft, actor=editor)
    rule_services.publish(draft, actor=publisher)
    during = pay(member, order_id="o-2", amount="50.00")
    check = check_in_at(member, T0)

    rule_services.roll_back(actor=publisher)
    after = pay(member, order_id="o-3", amount="50.00")

    assert [before.points, during.points, after.points] == [50, 100, 50]
    versions = dict(Order.objects.values_list("external_id", "entry__rule_version"))
    assert versions == {"o-1": str(v1.version), "o-2": str(draft.version), "o-3": str(v1.version)}
    assert Entry.objects.get(pk=during.entry.pk).explanation["version"] == draft.version
    assert CheckIn.objects.get().entry.rule_version == str(draft.version)
    assert check.points == 5
    # A replay of the order earned under the retired version still answers with what it earned.
    assert pay(member, order_id="o-2", amount="50.00").points == 100


def test_expiry_months_zero_means_never():
    editor, publisher = StaffFactory(), StaffFactory()
    v1 = RuleSet.objects.get(status=RuleSetStatus.PUBLISHED)
    draft = rule_services.clone_as_draft(v1, actor=editor)
    RuleSet.objects.filter(pk=draft.pk).update(expiry_months=0)
    rule_services.record_edit(draft, actor=editor)
    rule_services.publish(draft, actor=publisher)
    member = MemberFactory()
    result = pay(member)
    assert Lot.objects.get(entry=result.entry).expires_at is None
