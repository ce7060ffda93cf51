"""Channel import and stock sync (``catalog.channels``, ``catalog.services.channels``): CSV, XLSX
and JSON feeds mapped exactly, a dry run writes nothing, a bad row refuses the whole feed, an
import never touches points price or stock, the sync's arithmetic and its race with redemptions
(real threads), the scheduled runs, the feed folder and fetch limits, and the admin's dry-run
diff, confirm and stock sync."""

import io
import json
import os
from decimal import Decimal

import pytest

from catalog import services
from catalog.channel_errors import FeedChanged, FeedError, FeedInvalid
from catalog.channels import FileAdapter, JsonFeedAdapter, adapter_for
from catalog.models import Category, Channel, ChannelKind, Product, ProductKind, Redemption, StockMovement
from catalog.services.channels import (
    NEW_PRODUCT_POINTS_PRICE,
    import_channel,
    promised_units,
    run_scheduled_imports,
    run_scheduled_syncs,
    sync_channel_stock,
)
from tests.catalog.feeds import FeedServer, write_csv, write_xlsx
from tests.catalog.helpers import fund, make_product, stock
from tests.factories import MemberFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english", "feed_root")]

HEADER = ["sku", "name", "description", "image_url", "category", "cash_price", "stock"]


@pytest.fixture
def feed_root(settings, tmp_path):
    root = tmp_path / "feeds"
    root.mkdir()
    settings.CHANNEL_FEED_ROOT = root
    return root


@pytest.fixture
def drinks():
    parent = Category.objects.create(name="Drinks")
    return {"Drinks": parent, "Drinks / Tea": Category.objects.create(name="Tea", parent=parent)}


def channel_for(source, kind=ChannelKind.CSV, **fields):
    return Channel.objects.create(name=fields.pop("name", "Supplier A"), kind=kind, source=source,
                                  **fields)


def product_rows():
    """Every product column an import could touch, plus those it must never touch."""
    return list(Product.objects.order_by("id").values_list(
        "channel_sku", "name", "description", "image_url", "category__name", "cash_price",
        "points_price", "stock", "sold", "active", "kind", "stock_from_channel"))


# --------------------------------------------------------------------------- mapping


def test_a_csv_feed_with_a_bom_creates_products_off_sale_awaiting_their_points_price(feed_root, drinks):
    write_csv(feed_root / "a.csv", HEADER, [
        ["TEA-1", "Green tea", "Spring leaves", "https://cdn.example.com/tea.jpg", "Drinks / Tea",
         "12.50", "40"],
        ["CUP-9", "Cup", "", "", "Drinks", "", "7"],
    ], bom=True)
    channel = channel_for("a.csv")

    result = import_channel(channel, dry_run=False)

    assert result.applied and result.counts == {"create": 2, "update": 0, "unchanged": 0}
    assert [(row.row, row.sku, row.action) for row in result.rows] == [(2, "TEA-1", "create"),
                                                                       (3, "CUP-9", "create")]
    assert result.rows[0].changes == {
        "name": ("", "Green tea"), "description": ("", "Spring leaves"),
        "image_url": ("", "https://cdn.example.com/tea.jpg"), "category": ("", "Drinks / Tea"),
        "cash_price": ("", "12.50")}
    assert product_rows() == [
        ("TEA-1", "Green tea", "Spring leaves", "https://cdn.example.com/tea.jpg", "Tea",
         Decimal("12.50"), NEW_PRODUCT_POINTS_PRICE, 0, 0, False, ProductKind.PHYSICAL, True),
        ("CUP-9", "Cup", "", "", "Drinks", Decimal("0.00"), NEW_PRODUCT_POINTS_PRICE, 0, 0, False,
         ProductKind.PHYSICAL, True),
    ]
    assert all(product.channel_id == channel.pk for product in Product.objects.all())
    # No stock on import: the sync brings it (and the products start with none: no movement).
    assert StockMovement.objects.count() == 0
    channel.refresh_from_db()
    assert (channel.last_import_ok, channel.last_import_summary) == (
        True, "2 created, 0 updated, 0 unchanged")
    assert channel.last_import_at is not None


def test_a_second_import_updates_field_by_field_and_never_points_price_or_stock(feed_root, drinks):
    write_csv(feed_root / "a.csv", HEADER, [
        ["TEA-1", "Green tea", "Spring leaves", "", "Drinks / Tea", "12.50", "40"],
        ["CUP-9", "Cup", "", "", "Drinks", "3", "7"],
    ])
    channel = channel_for("a.csv")
    import_channel(channel, dry_run=False)
    tea = Product.objects.get(channel_sku="TEA-1")
    # Staff own the points price, the stock and the sale: they set them.
    tea.points_price, tea.active = 500, True
    services.save_product(tea)
    services.adjust_stock(tea, 9, reason="counted", staff=None)
    movements_before = StockMovement.objects.count()

    write_csv(feed_root / "a.csv", HEADER, [
        ["TEA-1", "Green tea (new crop)", "Spring leaves", "", "Drinks", "13.00", "999"],
        ["CUP-9", "Cup", "", "", "Drinks", "3.00", "7"],
    ])
    result = import_channel(channel, dry_run=False)

    assert [(row.sku, row.action, row.product_id, row.changes) for row in result.rows] == [
        ("TEA-1", "update", tea.pk, {"name": ("Green tea", "Green tea (new crop)"),
                                     "category": ("Drinks / Tea", "Drinks"),
                                     "cash_price": ("12.50", "13.00")}),
        ("CUP-9", "unchanged", Product.objects.get(channel_sku="CUP-9").pk, {}),
    ]
    tea.refresh_from_db()
    assert (tea.name, tea.category.name, tea.cash_price) == (
        "Green tea (new crop)", "Drinks", Decimal("13.00"))
    assert (tea.points_price, tea.stock, tea.sold, tea.active) == (500, 9, 0, True)
    assert StockMovement.objects.count() == movements_before


def test_a_column_the_feed_lacks_is_left_as_it_is(feed_root, drinks):
    write_csv(feed_root / "a.csv", HEADER, [["TEA-1", "Green tea", "Leaves", "", "Drinks", "12.50", "1"]])
    channel = channel_for("a.csv")
    import_channel(channel, dry_run=False)
    write_csv(feed_root / "a.csv", ["SKU", "Name"], [["TEA-1", "Green tea"]])  # any case

    result = import_channel(channel, dry_run=False)

    assert result.counts == {"create": 0, "update": 0, "unchanged": 1}
    assert product_rows()[0][:6] == ("TEA-1", "Green tea", "Leaves", "", "Drinks", Decimal("12.50"))


def test_an_xlsx_feed_maps_exactly_with_numbers_as_the_sheet_holds_them(feed_root, drinks):
    write_xlsx(feed_root / "b.xlsx", ["name", "sku", "cash_price", "stock", "category", "ignored"], [
        ["Oolong", "OO-2", 12.5, 7, "Drinks / Tea", "x"],
        [None, None, None, None, None, None],  # an empty row is skipped
        ["Jasmine", 1002, 8, 3.0, None, "y"],
    ])
    channel = channel_for("b.xlsx", kind=ChannelKind.XLSX)

    result = import_channel(channel, dry_run=False)

    assert [(row.row, row.sku, row.action) for row in result.rows] == [(2, "OO-2", "create"),
                                                                       (4, "1002", "create")]
    assert product_rows() == [
        ("OO-2", "Oolong", "", "", "Tea", Decimal("12.50"), 1, 0, 0, False, "physical", True),
        ("1002", "Jasmine", "", "", None, Decimal("8.00"), 1, 0, 0, False, "physical", True),
    ]
    assert adapter_for(channel).read_stock() == {"OO-2": 7, "1002": 3}
    assert isinstance(adapter_for(channel), FileAdapter)


def test_a_json_http_feed_maps_exactly(drinks):
    body = json.dumps({"products": [
        {"sku": "J-1", "name": "Puer", "description": "Aged", "image_url": "http://img.example.com/p.png",
         "category": "Drinks / Tea", "cash_price": 19.9, "stock": 4, "colour": "brown"},
        {"sku": "J-2", "name": "Mug", "cash_price": "5", "stock": 0},
    ]}).encode()
    with FeedServer({"/feed.json": body}) as server:
        channel = channel_for(server.url("/feed.json"), kind=ChannelKind.JSON)
        assert isinstance(adapter_for(channel), JsonFeedAdapter)
        result = import_channel(channel, dry_run=False)
        figures = adapter_for(channel).read_stock()

    assert [(row.row, row.sku, row.action) for row in result.rows] == [
        (1, "J-1", "create"), (2, "J-2", "create")]
    assert product_rows() == [
        ("J-1", "Puer", "Aged", "http://img.example.com/p.png", "Tea", Decimal("19.90"), 1, 0, 0, False,
         "physical", True),
        ("J-2", "Mug", "", "", None, Decimal("5.00"), 1, 0, 0, False, "physical", True),
    ]
    assert figures == {"J-1": 4, "J-2": 0}


def test_a_json_feed_that_is_not_the_documented_shape_is_refused():
    with FeedServer({"/a": b"[1, 2]", "/b": b"{not json", "/c": b"oops"}, status={"/c": 503}) as server:
        codes = []
        for path in ("/a", "/b", "/c"):
            with pytest.raises(FeedError) as refused:
                import_channel(channel_for(server.url(path), kind=ChannelKind.JSON, name=path))
            codes.append((refused.value.code, refused.value.message))
    assert codes == [("feed_bad_format", "The feed has no “products” list."),
                     ("feed_bad_format", "The feed is not valid JSON."),
                     ("feed_unreachable", "The feed answered HTTP 503.")]


# --------------------------------------------------------------------------- dry run, bad rows


def everything():
    return (product_rows(), StockMovement.objects.count(), Category.objects.count(),
            list(Channel.objects.values_list("id", "last_import_at", "last_import_ok", "last_import_summary",
                                             "last_sync_at")))


def test_a_dry_run_writes_nothing(feed_root, drinks):
    write_csv(feed_root / "a.csv", HEADER, [["TEA-1", "Green tea", "", "", "Drinks", "1", "5"]])
    channel = channel_for("a.csv")
    import_channel(channel, dry_run=False)
    write_csv(feed_root / "a.csv", HEADER, [["TEA-1", "Black tea", "", "", "Drinks", "1", "5"],
                                            ["NEW-1", "Kettle", "", "", "", "99.90", "2"]])
    before = everything()

    result = import_channel(channel)  # dry_run is the default

    assert not result.applied and result.dry_run
    assert [(row.sku, row.action, row.changes) for row in result.rows] == [
        ("TEA-1", "update", {"name": ("Green tea", "Black tea")}),
        ("NEW-1", "create", {"name": ("", "Kettle"), "description": ("", ""), "image_url": ("", ""),
                             "category": ("", ""), "cash_price": ("", "99.90")}),
    ]
    assert everything() == before


def test_a_feed_with_bad_rows_reports_every_one_and_imports_nothing(feed_root, drinks):
    write_csv(feed_root / "a.csv", HEADER, [["TEA-1", "Green tea", "", "", "Drinks", "1", "5"]])
    channel = channel_for("a.csv")
    import_channel(channel, dry_run=False)
    write_csv(feed_root / "a.csv", HEADER, [
        ["TEA-1", "Renamed", "", "", "Drinks", "1", "5"],           # fine, but not applied
        ["", "No sku", "", "", "", "1", "1"],                       # row 3
        ["OK-1", "Fine", "", "", "", "2", "1"],
        ["BAD-1", "", "", "ftp://x/y.png", "Snacks", "1.234", "1"],  # row 5: four errors
        ["TEA-1", "Twice", "", "", "", "-1", "1"],                  # row 6
        ["X" * 65, "Long", "", "", "", "abc", "1"],                 # row 7
    ])
    before = everything()

    with pytest.raises(FeedInvalid) as dry:
        import_channel(channel)
    with pytest.raises(FeedInvalid) as applied:
        import_channel(channel, dry_run=False)

    expected = [
        (3, "", "sku", "required"),
        (5, "BAD-1", "name", "required"),
        (5, "BAD-1", "image_url", "invalid_url"),
        (5, "BAD-1", "category", "unknown_category"),
        (5, "BAD-1", "cash_price", "invalid_price"),
        (6, "TEA-1", "sku", "duplicate_sku"),
        (6, "TEA-1", "cash_price", "invalid_price"),
        (7, "X" * 65, "sku", "too_long"),
        (7, "X" * 65, "cash_price", "invalid_price"),
    ]
    for refused in (dry, applied):
        assert [(e.row, e.sku, e.field, e.code) for e in refused.value.errors] == expected
        assert refused.value.message == "4 rows of the feed are invalid; nothing was imported."
        assert refused.value.code == "feed_invalid"
    assert dry.value.errors[3].message == (
        "There is no category “Snacks”; write it as “parent / child” or as a top-level name.")
    # Nothing imported; only the refused apply is recorded on the channel (the dry run wrote nothing).
    after = everything()
    assert after[:3] == before[:3]
    channel.refresh_from_db()
    assert channel.last_import_ok is False
    assert channel.last_import_summary.splitlines()[:3] == [
        "4 rows of the feed are invalid; nothing was imported.",
        "Row 3 (-), sku: The SKU is required.",
        "Row 5 (BAD-1), name: The name is required.",
    ]


def test_a_feed_without_its_required_columns_is_refused(feed_root):
    write_csv(feed_root / "a.csv", ["sku", "price"], [["A", "1"]])
    with pytest.raises(FeedError) as refused:
        import_channel(channel_for("a.csv"))
    assert (refused.value.code, refused.value.message) == ("feed_bad_header", "The feed has no name column.")
    with pytest.raises(FeedError) as refused:
        adapter_for(channel_for("a.csv", name="B")).read_stock()
    assert (refused.value.code, refused.value.message) == ("feed_bad_header", "The feed has no stock column.")


def test_confirming_a_preview_of_a_feed_that_changed_meanwhile_imports_nothing(feed_root):
    write_csv(feed_root / "a.csv", HEADER, [["A-1", "Apple", "", "", "", "1", "1"]])
    channel = channel_for("a.csv")
    preview = import_channel(channel)
    write_csv(feed_root / "a.csv", HEADER, [["A-1", "Apricot", "", "", "", "1", "1"]])

    with pytest.raises(FeedChanged):
        import_channel(channel, dry_run=False, expected_digest=preview.digest)
    assert Product.objects.count() == 0

    again = import_channel(channel)
    applied = import_channel(channel, dry_run=False, expected_digest=again.digest)
    assert applied.applied and list(Product.objects.values_list("name", flat=True)) == ["Apricot"]


# --------------------------------------------------------------------------- feed folder, limits


def test_a_path_outside_the_feed_folder_is_refused(feed_root, tmp_path):
    secret = tmp_path / "secret.csv"
    write_csv(secret, HEADER, [["S-1", "Secret", "", "", "", "1", "1"]])
    os.symlink(secret, feed_root / "link.csv")
    for source in ("../secret.csv", str(secret), "link.csv", "/etc/passwd"):
        with pytest.raises(FeedError) as refused:
            import_channel(channel_for(source, name=source))
        assert refused.value.code == "feed_outside_root", source
    assert Product.objects.count() == 0
    # Inside the folder, absolute or relative, in a subfolder: read.
    (feed_root / "sub").mkdir()
    write_csv(feed_root / "sub" / "ok.csv", HEADER, [["S-1", "Fine", "", "", "", "1", "1"]])
    assert import_channel(channel_for(str(feed_root / "sub" / "ok.csv"), name="abs")).counts["create"] == 1
    assert import_channel(channel_for("sub/../sub/ok.csv", name="rel")).counts["create"] == 1


def test_a_missing_file_and_a_feed_over_the_size_limit_are_refused(feed_root, settings):
    with pytest.raises(FeedError) as refused:
        import_channel(channel_for("nope.csv"))
    assert refused.value.code == "feed_unreachable"
    write_csv(feed_root / "big.csv", HEADER, [[f"S-{n}", "Name", "", "", "", "1", "1"] for n in range(100)])
    settings.CHANNEL_FEED_MAX_BYTES = 1000
    with pytest.raises(FeedError) as refused:
        import_channel(channel_for("big.csv", name="big"))
    assert (refused.value.code, refused.value.message) == ("feed_too_large",
                                                           "The feed is larger than 1000 bytes.")
    with FeedServer({"/big": b"{" + b" " * 2000 + b"}"}) as server:
        with pytest.raises(FeedError) as refused:
            import_channel(channel_for(server.url("/big"), kind=ChannelKind.JSON, name="http"))
    assert refused.value.code == "feed_too_large"


def test_a_slow_feed_times_out(settings):
    settings.CHANNEL_FEED_TIMEOUT = 0.3
    with FeedServer({"/slow": b'{"products": []}'}, delay={"/slow": 2}) as server:
        with pytest.raises(FeedError) as refused:
            import_channel(channel_for(server.url("/slow"), kind=ChannelKind.JSON))
    assert refused.value.code == "feed_unreachable"


def test_a_csv_that_is_not_utf8_and_an_xlsx_that_is_not_a_workbook_are_refused(feed_root):
    (feed_root / "gbk.csv").write_bytes("sku,name\nA,绿茶\n".encode("gbk"))
    (feed_root / "fake.xlsx").write_bytes(b"sku,name\n")
    messages = []
    for source, kind in (("gbk.csv", ChannelKind.CSV), ("fake.xlsx", ChannelKind.XLSX)):
        with pytest.raises(FeedError) as refused:
            import_channel(channel_for(source, kind=kind, name=source))
        messages.append((refused.value.code, refused.value.message))
    assert messages == [("feed_bad_format", "The CSV file is not UTF-8 text."),
                        ("feed_bad_format", "The file is not an XLSX workbook.")]


# --------------------------------------------------------------------------- stock sync


@pytest.fixture
def shop(feed_root):
    """A channel with four products: tea and a kettle (points + cash) take their stock from it,
    a mug does not, and a cup is marked but missing from the feed."""
    channel = channel_for("stock.csv")

    def product(sku, *, from_channel=True, **fields):
        return make_product(name=sku, channel=channel, channel_sku=sku, stock_from_channel=from_channel,
                            **fields)

    return {
        "channel": channel,
        "tea": product("TEA", points_price=10, stock=20),
        "kettle": product("KETTLE", points_price=10, cash_price=Decimal("5.00"), stock=5),
        "mug": product("MUG", from_channel=False, points_price=10, stock=3),
        "cup": product("CUP", points_price=10, stock=4),
    }


def redeem(product, quantity, key):
    member = MemberFactory(established=True)
    fund(member, 10_000)
    return services.redeem(member, product, quantity, key=key)


def test_the_sync_subtracts_units_promised_to_open_redemptions_and_stops_at_zero(feed_root, shop):
    tea, kettle = shop["tea"], shop["kettle"]
    redeem(tea, 2, "open")                                           # created: promised
    services.fulfil(redeem(tea, 3, "shipped"), tracking_number="SF1")  # fulfilled: left the channel
    services.cancel(redeem(tea, 1, "cancelled"), reason="changed mind")  # back, not promised
    paying = redeem(kettle, 4, "paying")                             # awaiting payment: promised
    assert paying.status == "awaiting_payment"
    assert stock(tea) == (15, 5) and stock(kettle) == (1, 4)
    assert promised_units([tea.pk, kettle.pk]) == {tea.pk: 2, kettle.pk: 4}
    write_csv(feed_root / "stock.csv", ["sku", "stock"], [["TEA", "10"], ["KETTLE", "3"], ["MUG", "50"]])

    result = sync_channel_stock(shop["channel"])

    # tea: 10 at the channel - 2 promised = 8; kettle: 3 - 4 promised, floored at 0.
    assert [(c.sku, c.channel_stock, c.promised, c.before, c.after) for c in result.changed] == [
        ("TEA", 10, 2, 15, 8), ("KETTLE", 3, 4, 1, 0)]
    assert (result.unchanged, result.missing) == (0, ["CUP"])
    assert stock(tea) == (8, 5) and stock(kettle) == (0, 4)
    assert stock(shop["mug"]) == (3, 0) and stock(shop["cup"]) == (4, 0)  # not synced / not in the feed
    assert list(StockMovement.objects.filter(reason__startswith="Channel sync").order_by("id").values_list(
        "product__channel_sku", "delta", "stock_after", "reason")) == [
        ("TEA", -7, 8, "Channel sync: Supplier A has 10, 2 promised to open redemptions"),
        ("KETTLE", -1, 0, "Channel sync: Supplier A has 3, 4 promised to open redemptions"),
    ]
    channel = Channel.objects.get(pk=shop["channel"].pk)
    assert channel.last_sync_ok is True
    assert channel.last_sync_summary == (
        "2 products changed, 0 unchanged, 1 not in the feed\nNot in the feed: CUP")

    # Again with the same figures: nothing to change, no movement.
    again = sync_channel_stock(shop["channel"])
    assert (again.changed, again.unchanged) == ([], 2)
    assert StockMovement.objects.filter(reason__startswith="Channel sync").count() == 2

    # The kettle's payment lapses: its 4 units are back in stock and no longer promised.
    services.cancel(paying, reason="unpaid")
    assert stock(kettle) == (4, 0)
    sync_channel_stock(shop["channel"])
    assert stock(kettle) == (3, 0)


def test_a_stock_feed_with_a_bad_row_syncs_nothing(feed_root, shop):
    write_csv(feed_root / "stock.csv", ["sku", "stock"], [["TEA", "10"], ["KETTLE", "-2"], ["MUG", "1.5"],
                                                          ["TEA", "3"]])
    with pytest.raises(FeedInvalid) as refused:
        sync_channel_stock(shop["channel"])
    assert [(e.row, e.sku, e.field, e.code) for e in refused.value.errors] == [
        (3, "KETTLE", "stock", "invalid_stock"), (4, "MUG", "stock", "invalid_stock"),
        (5, "TEA", "sku", "duplicate_sku")]
    assert stock(shop["tea"]) == (20, 0)
    assert not StockMovement.objects.filter(reason__startswith="Channel sync").exists()
    assert Channel.objects.get(pk=shop["channel"].pk).last_sync_ok is False


# --------------------------------------------------------------------------- scheduled runs


def test_the_scheduled_runs_skip_inactive_channels_and_one_failing_channel_does_not_stop_the_rest(feed_root):
    write_csv(feed_root / "good.csv", HEADER, [["G-1", "Good", "", "", "", "1", "6"]])
    broken = channel_for("missing.csv", name="Broken", import_on_schedule=True, sync_on_schedule=True)
    good = channel_for("good.csv", name="Good", import_on_schedule=True, sync_on_schedule=True)
    channel_for("good.csv", name="Off", active=False, import_on_schedule=True, sync_on_schedule=True)
    channel_for("good.csv", name="Manual")  # not on a schedule

    from catalog import tasks

    assert tasks.import_channels() == {"channels": 1, "failed": 1}
    assert run_scheduled_imports() == {"channels": 1, "failed": 1}  # again: nothing new
    assert list(Product.objects.values_list("channel__name", "channel_sku", "stock")) == [("Good", "G-1", 0)]
    assert tasks.sync_channel_stock() == {"channels": 1, "failed": 1}
    assert run_scheduled_syncs() == {"channels": 1, "failed": 1}
    assert list(Product.objects.values_list("stock", flat=True)) == [6]
    results = {c.name: (c.last_import_ok, c.last_sync_ok) for c in Channel.objects.all()}
    assert results == {"Broken": (False, False), "Good": (True, True), "Off": (None, None),
                       "Manual": (None, None)}
    broken.refresh_from_db()
    assert broken.last_import_summary.startswith("The feed file ")
    good.refresh_from_db()
    assert good.last_import_summary == "0 created, 0 updated, 1 unchanged"


def test_an_unexpected_failure_is_recorded_and_the_next_channel_still_runs(feed_root, monkeypatch):
    write_csv(feed_root / "good.csv", HEADER, [["G-1", "Good", "", "", "", "1", "6"]])
    first = channel_for("good.csv", name="A", import_on_schedule=True)
    channel_for("good.csv", name="B", import_on_schedule=True)
    from catalog.services import channels as service

    real = service.import_channel

    def flaky(channel, **kwargs):
        if channel.pk == first.pk:
            raise RuntimeError("disk on fire")
        return real(channel, **kwargs)

    monkeypatch.setattr(service, "import_channel", flaky)
    assert run_scheduled_imports() == {"channels": 1, "failed": 1}
    first.refresh_from_db()
    assert (first.last_import_ok, first.last_import_summary) == (False, "disk on fire")
    assert Product.objects.filter(channel__name="B").count() == 1


def test_the_jobs_are_scheduled_by_migration_and_their_tasks_exist(db):
    from celery import current_app
    from django_celery_beat.models import PeriodicTask

    import catalog.tasks  # noqa: F401  (registers the tasks)

    jobs = {task.task: (task.crontab.minute, task.crontab.hour, task.crontab.timezone.key, task.enabled)
            for task in PeriodicTask.objects.select_related("crontab").filter(
                task__in=["catalog.import_channels", "catalog.sync_channel_stock"])}
    assert jobs == {"catalog.import_channels": ("0", "3", "Asia/Shanghai", True),
                    "catalog.sync_channel_stock": ("*/15", "*", "Asia/Shanghai", True)}
    assert set(jobs) <= set(current_app.tasks)


def test_the_database_keeps_one_product_per_channel_sku_and_stock_from_channel_physical(feed_root):
    from django.db import IntegrityError, transaction

    channel = channel_for("a.csv")
    make_product(name="A", channel=channel, channel_sku="A-1")
    for fields in ({"channel": channel, "channel_sku": "A-1"},
                   {"channel": channel, "channel_sku": ""},
                   {"stock_from_channel": True},
                   {"channel": channel, "channel_sku": "C-1", "stock_from_channel": True,
                    "kind": ProductKind.PRIVILEGE}):
        with pytest.raises(IntegrityError), transaction.atomic():
            Product.objects.create(name="B", points_price=1, **fields)
    assert Product.objects.count() == 1



# --------------------------------------------------------------------------- the race with redemptions


@pytest.mark.django_db(transaction=True)
def test_syncs_racing_redemptions_never_oversell_nor_undo_a_redemption(feed_root, ledger_invariants):
    from tests.threads import failures, run_together

    channel = channel_for("stock.csv")
    tea = make_product(name="Tea", channel=channel, channel_sku="TEA", stock_from_channel=True, stock=0,
                       points_price=10)
    cup = make_product(name="Cup", channel=channel, channel_sku="CUP", stock_from_channel=True, stock=0,
                       points_price=10)
    write_csv(feed_root / "stock.csv", ["sku", "stock"], [["TEA", "20"], ["CUP", "10"]])
    sync_channel_stock(channel)
    assert stock(tea) == (20, 0) and stock(cup) == (10, 0)
    # The channel sold goods elsewhere: the syncs racing the redemptions read 15 and 8.
    figures = {tea.pk: 15, cup.pk: 8}
    write_csv(feed_root / "stock.csv", ["sku", "stock"], [["TEA", "15"], ["CUP", "8"]])
    # Fewer buyers than units before the race, so every first sync has a change to make.
    buyers = [MemberFactory(established=True) for _ in range(24)]
    for member in buyers:
        fund(member, 100)
    first_movement = StockMovement.objects.order_by("-id").values_list("id", flat=True).first()

    def call(i):
        if i < 16:
            return services.redeem(buyers[i], tea, key=f"tea-{i}")
        if i < 24:
            return services.redeem(buyers[i], cup, key=f"cup-{i}")
        return sync_channel_stock(channel)

    results = run_together(32, call)
    refused = failures(results)
    assert all(type(error).__name__ == "OutOfStock" for error in refused), refused
    sync_channel_stock(channel)  # and once more after the race

    for product, start in ((tea, 20), (cup, 10)):
        figure = figures[product.pk]
        running, open_units = start, 0
        rows = StockMovement.objects.filter(product=product, id__gt=first_movement).order_by("id")
        synced = 0
        for delta, stock_after, redemption_id in rows.values_list("delta", "stock_after", "redemption_id"):
            running += delta
            assert stock_after == running  # no lost update: every movement continues the last
            if redemption_id is not None:
                open_units -= delta
            else:
                synced += 1
                # What the sync saw: exactly the redemptions committed before it.
                assert stock_after == max(0, figure - open_units)
        assert synced >= 1
        redeemed = Redemption.objects.filter(product=product).count()
        assert redeemed == open_units
        # Never oversold: stock + promised is the channel's figure (or every unit is promised).
        assert stock(product) == (max(0, figure - redeemed), redeemed)
        assert redeemed <= start
    assert len(refused) == 24 - Redemption.objects.count()
    assert ledger_invariants() == []


# --------------------------------------------------------------------------- admin


CATALOG_MANAGER = "商品管理 / Catalog manager"
AUDITOR = "审计 / Auditor"


def staff_client(client, group, username):
    from django.contrib.auth.models import Group

    from tests.factories import StaffFactory

    user = StaffFactory(username=username)
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def manager_client(client):
    return staff_client(client, CATALOG_MANAGER, "manager")


def admin_path(view, channel=None):
    from django.urls import reverse

    return reverse(f"admin:catalog_channel_{view}", args=[channel.pk] if channel else [])


def test_the_manager_previews_an_import_then_confirms_it(feed_root, drinks, manager_client):
    write_csv(feed_root / "a.csv", HEADER, [["TEA-1", "Green tea", "", "", "Drinks", "1", "5"]])
    channel = channel_for("a.csv")
    import_channel(channel, dry_run=False)
    write_csv(feed_root / "a.csv", HEADER, [["TEA-1", "Black tea", "", "", "Drinks", "1", "5"],
                                            ["NEW-1", "Kettle", "", "", "", "99.90", "2"]])
    page = manager_client.get(admin_path("change", channel))
    assert admin_path("import", channel) in page.content.decode()
    assert admin_path("sync", channel) in page.content.decode()
    before = everything()

    preview = manager_client.get(admin_path("import", channel))

    assert preview.status_code == 200
    body = preview.content.decode()
    assert "Preview (nothing written yet): 1 to create, 1 to update, 0 unchanged." in body
    assert '<tr data-action="update">' in body and "<del>Green tea</del> → Black tea" in body
    assert '<tr data-action="create">' in body and "cash price: 99.90" in body
    assert everything() == before  # the preview wrote nothing
    digest = preview.context["result"].digest

    done = manager_client.post(admin_path("import", channel), {"digest": digest})

    assert done.status_code == 302 and done.url == admin_path("change", channel)
    assert list(Product.objects.order_by("id").values_list("channel_sku", "name", "active")) == [
        ("TEA-1", "Black tea", False), ("NEW-1", "Kettle", False)]
    from django.contrib.messages import get_messages

    assert [str(m) for m in get_messages(done.wsgi_request)] == [
        "Imported from Supplier A: 1 created, 1 updated, 0 unchanged."]


def test_a_confirm_after_the_feed_changed_shows_the_new_preview_and_imports_nothing(
        feed_root, manager_client):
    write_csv(feed_root / "a.csv", HEADER, [["A-1", "Apple", "", "", "", "1", "1"]])
    channel = channel_for("a.csv")
    digest = manager_client.get(admin_path("import", channel)).context["result"].digest
    write_csv(feed_root / "a.csv", HEADER, [["A-1", "Apricot", "", "", "", "1", "1"]])

    page = manager_client.post(admin_path("import", channel), {"digest": digest})

    assert page.status_code == 200
    assert Product.objects.count() == 0
    body = page.content.decode()
    assert "The feed changed since the preview; nothing was imported." in body
    assert "name: Apricot" in body
    assert page.context["result"].digest != digest


def test_the_admin_shows_every_bad_row_and_offers_no_confirm(feed_root, manager_client):
    write_csv(feed_root / "a.csv", HEADER, [["A-1", "", "", "", "", "1", "1"],
                                            ["A-2", "Pear", "", "", "", "x", "1"]])
    channel = channel_for("a.csv")
    before = everything()

    page = manager_client.get(admin_path("import", channel))

    body = page.content.decode()
    assert page.status_code == 200
    assert "2 rows of the feed are invalid; nothing was imported." in body
    assert [(e.row, e.field, e.code) for e in page.context["errors"]] == [
        (2, "name", "required"), (3, "cash_price", "invalid_price")]
    assert "<td>2</td><td>A-1</td><td>name</td>" in body
    assert 'data-testid="confirm-import"' not in body
    assert everything() == before
    # A forged confirm of a bad feed imports nothing either (and records the refusal).
    manager_client.post(admin_path("import", channel), {"digest": "x"})
    assert Product.objects.count() == 0
    assert Channel.objects.get(pk=channel.pk).last_import_ok is False


def test_the_manager_syncs_stock_from_the_admin(feed_root, manager_client):
    channel = channel_for("stock.csv")
    tea = make_product(name="Tea", channel=channel, channel_sku="TEA", stock_from_channel=True, stock=2)
    write_csv(feed_root / "stock.csv", ["sku", "stock"], [["TEA", "12"]])

    confirm = manager_client.get(admin_path("sync", channel))
    assert "1 product takes its stock from this channel." in confirm.content.decode()
    assert stock(tea) == (2, 0)  # the confirmation page changes nothing
    done = manager_client.post(admin_path("sync", channel))

    assert done.status_code == 302
    assert stock(tea) == (12, 0)
    movement = StockMovement.objects.get(product=tea, reason__startswith="Channel sync")
    assert (movement.delta, movement.staff.username) == (10, "manager")
    from django.contrib.messages import get_messages

    assert [str(m) for m in get_messages(done.wsgi_request)] == [
        "Stock synced from Supplier A: 1 products changed, 0 unchanged, 0 not in the feed."]


def test_the_auditor_sees_channels_but_cannot_import_or_sync(feed_root, client):
    write_csv(feed_root / "a.csv", HEADER, [["A-1", "Apple", "", "", "", "1", "1"]])
    channel = channel_for("a.csv")
    auditor = staff_client(client, AUDITOR, "auditor")
    assert auditor.get(admin_path("changelist")).status_code == 200
    page = auditor.get(admin_path("change", channel))
    assert page.status_code == 200 and admin_path("import", channel) not in page.content.decode()
    for view in ("import", "sync"):
        assert auditor.get(admin_path(view, channel)).status_code == 403
        assert auditor.post(admin_path(view, channel), {"digest": ""}).status_code == 403
    assert Product.objects.count() == 0


def test_the_channel_form_refuses_a_path_outside_the_feed_folder(feed_root, manager_client):
    data = {"name": "Outside", "kind": ChannelKind.CSV, "source": "../../etc/passwd", "active": "on"}
    page = manager_client.post(admin_path("add"), data)
    assert page.status_code == 200
    assert "The feed path must be inside the feed folder" in page.content.decode()
    page = manager_client.post(admin_path("add"), {**data, "source": "file:///etc/passwd"})
    assert "Use an http or https URL, or a file path." in page.content.decode()
    assert not Channel.objects.exists()
    done = manager_client.post(admin_path("add"), {**data, "source": " supplier/feed.csv "})
    assert done.status_code == 302
    assert Channel.objects.get().source == "supplier/feed.csv"


def test_the_product_form_checks_the_channel_fields(feed_root, manager_client):
    from django.urls import reverse

    channel = channel_for("a.csv")
    make_product(name="Taken", channel=channel, channel_sku="A-1")
    base = {"name": "New", "kind": ProductKind.PHYSICAL, "points_price": "10", "cash_price": "0",
            "sort_order": "0", "active": "on",
            "images-TOTAL_FORMS": "0", "images-INITIAL_FORMS": "0",
            "stock_movements-TOTAL_FORMS": "0", "stock_movements-INITIAL_FORMS": "0"}
    url = reverse("admin:catalog_product_add")
    cases = [
        ({"channel": channel.pk}, "channel_sku", "A product from a channel needs its channel SKU."),
        ({"channel_sku": "X"}, "channel", "Choose the channel this SKU belongs to."),
        ({"stock_from_channel": "on"}, "stock_from_channel",
         "Only a product from a channel can take its stock from it."),
        ({"channel": channel.pk, "channel_sku": "C", "stock_from_channel": "on",
          "kind": ProductKind.PRIVILEGE},
         "stock_from_channel", "Only physical goods take their stock from a channel (a coupon's stock is its "
         "codes)."),
        ({"channel": channel.pk, "channel_sku": "A-1"}, None,
         "This channel already has a product with this SKU."),
    ]
    for extra, field, message in cases:
        page = manager_client.post(url, {**base, **extra})
        assert page.status_code == 200, extra
        form = page.context["adminform"].form
        errors = form.errors.get(field or "__all__", [])
        assert any(message in error for error in errors), (extra, form.errors)
    assert Product.objects.count() == 1
    done = manager_client.post(url, {**base, "channel": channel.pk, "channel_sku": "B-2",
                                     "stock_from_channel": "on", "image_url": "https://x.example.com/a.png"})
    assert done.status_code == 302, done.context["adminform"].form.errors if done.context else ""
    assert Product.objects.filter(channel_sku="B-2", stock_from_channel=True).count() == 1


def test_the_demo_catalog_sets_up_a_channel_to_try_an_import_on(feed_root):
    from django.core.management import call_command

    call_command("load_demo_catalog", stdout=io.StringIO())
    call_command("load_demo_catalog", stdout=io.StringIO())  # again: the same channel, the same file
    channel = Channel.objects.get()
    assert (channel.name, channel.kind, channel.source, channel.import_on_schedule) == (
        "演示供应商", ChannelKind.CSV, "demo-supplier.csv", False)
    products = Product.objects.count()
    preview = import_channel(channel)
    assert [(row.sku, row.action, row.changes["category"][1]) for row in preview.rows] == [
        ("DS-1001", "create", "水果 / 进口水果"), ("DS-1002", "create", "水果 / 进口水果"),
        ("DS-2001", "create", "水果 / 应季水果")]
    assert adapter_for(channel).read_stock() == {"DS-1001": 40, "DS-1002": 25, "DS-2001": 60}
    assert Product.objects.count() == products  # set up, not imported


def test_staff_find_a_channels_products_in_the_product_list(feed_root, manager_client):
    from django.urls import reverse

    channel = channel_for("a.csv")
    make_product(name="From the channel", channel=channel, channel_sku="SKU-77")
    make_product(name="Our own")
    url = reverse("admin:catalog_product_changelist")
    by_channel = manager_client.get(url, {"channel__id__exact": channel.pk})
    assert [p.name for p in by_channel.context["cl"].result_list] == ["From the channel"]
    by_sku = manager_client.get(url, {"q": "SKU-77"})
    assert [p.name for p in by_sku.context["cl"].result_list] == ["From the channel"]
