from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from mall.models import Member
from points.models import Entry, Lot
from points.selectors import balance


def test_load_demo_is_idempotent(db):
    call_command("load_demo")
    counts = (Member.objects.count(), Entry.objects.count(), Lot.objects.count())
    call_command("load_demo")
    assert (Member.objects.count(), Entry.objects.count(), Lot.objects.count()) == counts
    admin = Member.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("admin-demo-123")
    alice = Member.objects.get(username="alice")
    # The hand-made postings (the month of shop activity is tests/mall/test_demo_console.py).
    assert sum(Entry.objects.filter(key__startswith="demo:alice:").values_list("delta", flat=True)) == (
        1200 + 300 - 200)
    bob = Member.objects.get(username="bob")
    assert balance(bob).available >= 500
    # demo:bob:order-1, his tea-shop order's points and its rebate are pending.
    assert Lot.objects.filter(account__member=bob, pending=True).count() == 3
    from referrals.models import RewardRecord

    # 8% of 168.00 = 1,344 points of budget: bob 30% back, alice 10% as the owner, 30% as inviter.
    assert sorted(RewardRecord.objects.filter(order__external_id="D-R1001").values_list(
        "kind", "beneficiary__username", "points")) == [
        ("buyer_rebate", "bob", 403), ("direct", "alice", 403), ("merchant_rebate", "alice", 134)]
    assert alice.referral.direct_count == 2
    # The recommendations job ran once: the demo's redemptions have neighbours and popularity.
    from catalog.models import ProductNeighbour, SegmentPopularity

    assert ProductNeighbour.objects.exists() and SegmentPopularity.objects.filter(segment="").exists()
    # The RFM scoring ran once (before the recommendations): every member has a segment.
    from mall.rfm_models import RfmRun

    run = RfmRun.objects.get()
    assert run.members_scored == Member.objects.filter(is_active=True, is_staff=False).count() > 0
    assert not Member.objects.filter(is_active=True, is_staff=False, segment="").exists()
    assert SegmentPopularity.objects.exclude(segment="").exists()


def test_periodic_jobs_are_created_by_migration(db):
    jobs = {
        task.task: (task.crontab.minute, task.crontab.hour, task.crontab.day_of_month, task.enabled)
        for task in PeriodicTask.objects.select_related("crontab").filter(task__startswith="points.")
    }
    assert jobs == {
        "points.activate_due": ("5", "*", "*", True),
        "points.expire_due": ("10", "0", "1", True),
        "points.release_stale_holds": ("*/5", "*", "*", True),
    }


def test_tasks_call_the_services(member, eager_tasks):
    """Each scheduled task queues its chunks (run here, eagerly), which call the services."""
    from datetime import timedelta

    from django.utils import timezone

    from points import services, tasks
    from points.models import Hold

    services.earn(member, 40, key="t-pending", reason="r",
                  available_at=timezone.now() - timedelta(seconds=1))
    # available_at in the past: the lot is already available; make one pending and due.
    assert tasks.activate_due()["chunks"] == 1  # one account: one chunk
    assert not Entry.objects.filter(kind="activate").exists()
    services.earn(member, 30, key="t-expire", reason="r",
                  expires_at=timezone.now() + timedelta(microseconds=1))
    assert tasks.expire_due()["chunks"] == 1
    assert list(Entry.objects.filter(kind="expire").values_list("delta", flat=True)) == [-30]
    services.hold(member, 10, key="t-hold", ttl=timedelta(microseconds=1))
    assert tasks.release_stale_holds() == {"chunks": 1}
    assert Hold.objects.get().status == "expired"
    assert balance(member).available == 40


def test_programme_jobs_are_scheduled_by_migration_and_their_tasks_exist(db):
    from celery import current_app

    import mall.tasks  # noqa: F401  (registers the tasks)

    jobs = {
        task.task: (task.crontab.minute, task.crontab.hour, task.crontab.timezone.key, task.enabled)
        for task in PeriodicTask.objects.select_related("crontab").filter(task__startswith="mall.")
    }
    assert jobs == {
        "mall.expiry_reminders": ("0", "9", "Asia/Shanghai", True),
        "mall.win_back": ("0", "10", "Asia/Shanghai", True),
        "mall.reevaluate_tiers": ("30", "1", "Asia/Shanghai", True),
        "mall.reconcile_ledger": ("0", "3", "Asia/Shanghai", True),
        "mall.prune": ("30", "4", "Asia/Shanghai", True),
        "mall.award_due_badges": ("30", "2", "Asia/Shanghai", True),
        "mall.materialise_reports": ("20", "0", "Asia/Shanghai", True),
        "mall.rfm": ("40", "0", "Asia/Shanghai", True),
        "mall.purge_audit_trail": ("45", "4", "Asia/Shanghai", True),  # mall.audit_registry, after migrate
    }
    assert set(jobs) <= set(current_app.tasks)


def test_closing_due_auctions_is_scheduled_every_minute(db):
    from celery import current_app

    import catalog.tasks  # noqa: F401  (registers the task)

    task = PeriodicTask.objects.select_related("crontab").get(task="catalog.close_due_auctions")
    assert (task.crontab.minute, task.crontab.hour, task.enabled) == ("*", "*", True)
    assert task.task in current_app.tasks


def test_recommendations_are_computed_nightly(db):
    from celery import current_app

    import catalog.tasks  # noqa: F401  (registers the task)

    task = PeriodicTask.objects.select_related("crontab").get(task="catalog.recommendations")
    assert (task.crontab.minute, task.crontab.hour, task.crontab.timezone.key, task.enabled) == (
        "0", "1", "Asia/Shanghai", True)
    assert task.task in current_app.tasks


def test_member_job_tasks_call_the_jobs(db, eager_tasks):
    from mall import tasks

    assert tasks.expiry_reminders() == {"chunks": 1}  # no account: one chunk of everything
    assert tasks.win_back() == {"members": 0, "granted": 0, "messages": 0}


def test_load_demo_makes_a_supplier_with_a_partly_received_order(db):
    from catalog.models import Product, PurchaseOrder, StockMovement

    call_command("load_demo")
    call_command("load_demo")
    order = PurchaseOrder.objects.get(note="demo:purchase-1")
    assert (order.supplier.name, order.status) == ("优选供应链", "partly_received")
    assert sorted(order.lines.values_list("product__name", "quantity", "received", "defective")) == [
        ("海南贵妃芒 2.5kg", 20, 0, 0), ("进口车厘子礼盒 1kg", 30, 20, 1)]
    assert Product.objects.filter(supplier=order.supplier).count() == 4
    # The 19 accepted boxes came in once, through a receipt's stock movement.
    assert list(StockMovement.objects.filter(receipt__order=order).values_list("delta", flat=True)) == [19]
