"""catalog.services.payments: points + cash redemptions wait for the provider's callback with
their points held; paid -> captured and on as usual, failed or timed out -> everything back."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog import services
from catalog.errors import AmountMismatch, PaymentExpired, PaymentNotFound
from catalog.models import (
    Payment,
    PaymentStatus,
    ProductKind,
    Redemption,
    RedemptionStatus,
    StockMovement,
)
from catalog.services import payments
from points.models import Entry, Hold
from tests.catalog.helpers import fund, make_product, stock
from tests.factories import MemberFactory
from tests.points.ledger import totals
from tests.threads import run_together

pytestmark = [pytest.mark.django_db]

CASH = Decimal("9.90")


@pytest.fixture
def cherries(db):
    return make_product(name="Cherries", points_price=1500, cash_price=CASH, stock=5)


def redeem_cash(member, product, quantity=1, key="p1", **kwargs):
    kwargs.setdefault("address", "1 Road, Shanghai")
    return services.redeem(member, product, quantity, key=key, **kwargs)


def test_points_and_cash_holds_points_and_takes_stock(member, cherries, ledger_invariants):
    fund(member, 5000)
    redemption = redeem_cash(member, cherries, 2)

    redemption.refresh_from_db()
    assert redemption.status == RedemptionStatus.AWAITING_PAYMENT
    assert (redemption.points, redemption.cash, redemption.entry_id) == (3000, Decimal("19.80"), None)
    payment = redemption.payment
    assert payment.status == PaymentStatus.PENDING
    assert payment.amount == Decimal("19.80") and payment.provider == "sandbox"
    assert len(payment.reference) == 32
    now = timezone.now()
    assert now + timedelta(minutes=14) < payment.expires_at <= now + timedelta(minutes=15)
    assert payment.hold.amount == 3000 and payment.hold.status == "held"
    assert (totals(member)["available"], totals(member)["held"]) == (2000, 3000)
    assert stock(cherries) == (3, 2)
    assert not Entry.objects.filter(kind="spend").exists()
    assert ledger_invariants() == []


def test_timeout_follows_settings(member, cherries, settings):
    settings.PAYMENT_TIMEOUT_MINUTES = 3
    fund(member, 5000)
    payment = redeem_cash(member, cherries).payment
    assert payment.expires_at - payment.created_at == timedelta(minutes=3)


def test_paid_callback_captures_and_goes_on(member, cherries, ledger_invariants,
                                            django_capture_on_commit_callbacks):
    fund(member, 5000)
    redemption = redeem_cash(member, cherries)
    with django_capture_on_commit_callbacks(execute=True):
        payment = services.confirm_payment(redemption.payment.reference, paid=True, amount="9.90")

    assert payment.status == PaymentStatus.PAID and payment.paid_at is not None
    redemption.refresh_from_db()
    assert redemption.status == RedemptionStatus.CREATED  # physical goods: waiting to ship
    assert redemption.entry.kind == "capture" and redemption.entry.delta == -1500
    assert Hold.objects.get(pk=payment.hold_id).status == "captured"
    assert totals(member)["available"] == 3500 and totals(member)["held"] == 0
    assert totals(member)["lifetime_spent"] == 1500
    assert ledger_invariants() == []

    # A replayed callback changes nothing and answers the same.
    again = services.confirm_payment(payment.reference, paid=True, amount=Decimal("9.90"))
    assert again.status == PaymentStatus.PAID and again.paid_at == payment.paid_at
    # ... and a late "failed" does not undo it.
    assert services.confirm_payment(payment.reference, paid=False, amount="9.90").status == "paid"
    assert Entry.objects.filter(account__member=member).count() == 3  # earn, hold, capture
    assert ledger_invariants() == []

    # Paid physical goods can be cancelled like points-only ones: the captured points come back.
    services.cancel(redemption, reason="changed my mind")
    assert totals(member)["available"] == 5000
    assert ledger_invariants() == []


def test_paid_coupon_gets_its_codes_when_paid(member, ledger_invariants):
    fund(member, 5000)
    coupon = make_product(name="Voucher", kind=ProductKind.COUPON, points_price=100,
                          cash_price=Decimal("1.00"), codes=["A1", "A2"])
    redemption = services.redeem(member, coupon, key="c1")
    assert redemption.status == RedemptionStatus.AWAITING_PAYMENT
    assert not redemption.codes.exists()

    services.confirm_payment(redemption.payment.reference, paid=True, amount="1.00")

    redemption.refresh_from_db()
    assert redemption.status == RedemptionStatus.FULFILLED and redemption.fulfilled_at
    assert list(redemption.codes.values_list("code", flat=True)) == ["A1"]
    assert ledger_invariants() == []


def test_failed_callback_releases_everything(member, cherries, ledger_invariants):
    fund(member, 5000)
    redemption = redeem_cash(member, cherries, 2)
    payment = services.confirm_payment(redemption.payment.reference, paid=False, amount="19.80")

    assert payment.status == PaymentStatus.FAILED
    redemption.refresh_from_db()
    assert redemption.status == RedemptionStatus.CANCELLED and redemption.cancel_reason
    assert totals(member)["available"] == 5000 and totals(member)["held"] == 0
    assert stock(cherries) == (5, 0)
    assert StockMovement.objects.filter(redemption=redemption).order_by("id").last().delta == 2
    # The same "failed" again: same outcome; a "paid" now is refused.
    assert services.confirm_payment(payment.reference, paid=False, amount="19.80").status == "failed"
    with pytest.raises(PaymentExpired):
        services.confirm_payment(payment.reference, paid=True, amount="19.80")
    assert ledger_invariants() == []


def test_stored_cancel_reason_is_in_the_default_language(member, cherries, settings):
    from django.utils import translation

    settings.LANGUAGE_CODE = "zh-hans"
    fund(member, 5000)
    redemption = redeem_cash(member, cherries)
    with translation.override("en"):
        payments.release_unpaid(redemption.payment.expires_at)
    redemption.refresh_from_db()
    with translation.override("zh-hans"):
        expected = translation.gettext("Not paid in time")  # 未按时支付 (msgid in /tmp/tr_pay.py)
    assert redemption.cancel_reason == expected


def test_amount_mismatch_and_unknown_reference_are_refused(member, cherries):
    fund(member, 5000)
    redemption = redeem_cash(member, cherries)
    with pytest.raises(AmountMismatch):
        services.confirm_payment(redemption.payment.reference, paid=True, amount="0.01")
    with pytest.raises(AmountMismatch):
        services.confirm_payment(redemption.payment.reference, paid=True, amount="abc")
    with pytest.raises(PaymentNotFound):
        services.confirm_payment("nope", paid=True, amount="9.90")
    assert Payment.objects.get().status == PaymentStatus.PENDING


def test_release_unpaid_after_the_deadline_only(member, cherries, ledger_invariants):
    fund(member, 5000)
    redemption = redeem_cash(member, cherries)
    payment = redemption.payment

    assert payments.release_unpaid(payment.expires_at - timedelta(seconds=1)) == 0
    assert payments.release_unpaid(payment.expires_at) == 1
    assert payments.release_unpaid(payment.expires_at) == 0  # idempotent

    payment.refresh_from_db()
    redemption.refresh_from_db()
    assert payment.status == PaymentStatus.EXPIRED
    assert redemption.status == RedemptionStatus.CANCELLED
    assert Hold.objects.get(pk=payment.hold_id).status == "released"
    assert totals(member)["available"] == 5000 and stock(cherries) == (5, 0)
    with pytest.raises(PaymentExpired):
        services.confirm_payment(payment.reference, paid=True, amount="9.90")
    assert ledger_invariants() == []


def test_paid_after_the_deadline_before_the_job_is_honoured(member, cherries):
    fund(member, 5000)
    redemption = redeem_cash(member, cherries)
    Payment.objects.filter(pk=redemption.payment.pk).update(expires_at=timezone.now() - timedelta(1))
    assert services.confirm_payment(redemption.payment.reference, paid=True,
                                    amount="9.90").status == "paid"
    assert payments.release_unpaid() == 0


def test_awaiting_payment_counts_against_the_limit_and_welcome_offer_comes_back(cherries):
    member = MemberFactory(established=True)
    fund(member, 5000)
    cherries.per_member_limit = 1
    services.save_product(cherries)
    redemption = redeem_cash(member, cherries)
    from catalog.errors import LimitReached

    with pytest.raises(LimitReached):
        redeem_cash(member, cherries, key="p2")
    payments.release_unpaid(redemption.payment.expires_at)
    assert redeem_cash(member, cherries, key="p3").status == RedemptionStatus.AWAITING_PAYMENT


def test_same_key_returns_the_same_awaiting_redemption(member, cherries):
    fund(member, 5000)
    first = redeem_cash(member, cherries)
    assert redeem_cash(member, cherries).pk == first.pk
    assert Payment.objects.count() == 1 and Hold.objects.count() == 1


def test_points_only_products_are_unchanged(member):
    fund(member, 500)
    tea = make_product(points_price=100)
    redemption = services.redeem(member, tea, key="t1", address="x")
    assert redemption.status == RedemptionStatus.CREATED
    assert not Payment.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_callback_and_release_job_racing_have_exactly_one_outcome(ledger_invariants):
    outcomes = []
    for round_ in range(4):
        member = MemberFactory(established=True)
        fund(member, 5000, key=f"fund-race-{round_}")
        product = make_product(name=f"Cherries {round_}", points_price=1500, cash_price=CASH,
                               stock=1)
        redemption = services.redeem(member, product, key=f"race{round_}", address="x")
        payment = redemption.payment
        Payment.objects.filter(pk=payment.pk).update(
            expires_at=timezone.now() - timedelta(seconds=1))

        def call(i, reference=payment.reference):
            if i == 0:
                return services.confirm_payment(reference, paid=True, amount="9.90")
            return payments.release_unpaid()

        results = run_together(2, call)
        payment.refresh_from_db()
        redemption.refresh_from_db()
        if payment.status == PaymentStatus.PAID:
            assert results[1] == 0
            assert redemption.status == RedemptionStatus.CREATED
            assert totals(member)["available"] == 3500 and stock(product) == (0, 1)
        else:
            assert payment.status == PaymentStatus.EXPIRED
            assert isinstance(results[0], PaymentExpired) and results[1] == 1
            assert redemption.status == RedemptionStatus.CANCELLED
            assert totals(member)["available"] == 5000 and stock(product) == (1, 0)
        assert totals(member)["held"] == 0
        outcomes.append(payment.status)
        assert ledger_invariants() == []
    assert Redemption.objects.filter(status=RedemptionStatus.AWAITING_PAYMENT).count() == 0


def test_cancelling_an_unpaid_redemption_releases_it(member, cherries, staff, ledger_invariants):
    from catalog.errors import InvalidTransition

    fund(member, 5000)
    redemption = redeem_cash(member, cherries)
    with pytest.raises(InvalidTransition):
        services.fulfil(redemption, staff=staff, tracking_number="SF1")

    services.cancel(redemption, reason="changed my mind")

    redemption.refresh_from_db()
    assert redemption.status == RedemptionStatus.CANCELLED
    assert redemption.cancel_reason == "changed my mind"
    assert redemption.payment.status == PaymentStatus.EXPIRED
    assert totals(member)["available"] == 5000 and stock(cherries) == (5, 0)
    with pytest.raises(PaymentExpired):
        services.confirm_payment(redemption.payment.reference, paid=True, amount="9.90")
    assert payments.release_unpaid(redemption.payment.expires_at) == 0
    assert ledger_invariants() == []


def test_the_release_job_is_scheduled_and_calls_the_service(member, cherries):
    from django_celery_beat.models import PeriodicTask

    from catalog import tasks

    job = PeriodicTask.objects.select_related("crontab").get(
        name="Release unpaid redemptions (every minute)")
    assert (job.task, job.crontab.minute, job.crontab.hour, job.enabled) == (
        "catalog.release_unpaid_redemptions", "*", "*", True)
    fund(member, 5000)
    redemption = redeem_cash(member, cherries)
    Payment.objects.filter(pk=redemption.payment.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    assert tasks.release_unpaid_redemptions() == 1
