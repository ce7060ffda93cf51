"""Import/export of products and coupon codes: CSV and XLSX, a dry-run preview before anything is
written, row errors shown, all or nothing, and writes through catalog.services."""

import io
from decimal import Decimal
from unittest.mock import patch

import openpyxl
import pytest
import tablib
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog import services
from catalog.errors import DuplicateCodes
from catalog.models import Category, CouponCode, Product, ProductKind, StockMovement
from catalog.resources import CouponCodeResource, ProductResource
from tests.catalog.helpers import fund, make_product, stock
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

CSV, XLSX = "0", "1"  # the admin's format choices, in CatalogImportMixin.formats order
HEADER = "id,name,kind,category,points_price,cash_price,stock,per_member_limit,visible_tiers,active\n"


@pytest.fixture
def manager():
    user = StaffFactory(username="manager")
    user.groups.add(Group.objects.get(name="商品管理 / Catalog manager"))
    return user


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def fruit():
    parent = Category.objects.create(name="水果")
    return Category.objects.create(name="进口水果", parent=parent)


def url(model, name, query=""):
    return reverse(f"admin:catalog_{model._meta.model_name}_{name}") + query


def upload(client, model, content, *, name="products.csv", file_format=CSV, **extra):
    return client.post(url(model, "import"), {
        "resource": "0", "format": file_format,
        "import_file": SimpleUploadedFile(name, content.encode() if isinstance(content, str) else content),
        **extra,
    })


def confirm(client, model, preview):
    data = {key: value for key, value in preview.context["confirm_form"].initial.items() if value is not None}
    return client.post(url(model, "process_import"), data, follow=True)


def products():
    return sorted(Product.objects.values_list("name", "kind", "points_price", "cash_price", "stock",
                                              "per_member_limit", "active"))


def texts(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- Products ----------------------------------------------------------------------------------


def test_product_import_previews_with_a_dry_run_then_creates_and_updates_on_confirm(
    manager_client, manager, fruit, django_capture_on_commit_callbacks
):
    tea = make_product(name="Tea", points_price=100, stock=10)
    before = products()
    content = HEADER + (
        f"{tea.pk},Green tea,physical,,120,0,999,,,1\n"
        ",Cherries,physical,水果 / 进口水果,1500,9.90,50,2,\"silver,gold\",true\n"
        ",满50减5,coupon,,300,,,,,1\n"
    )
    with patch("catalog.resources.services.save_product", wraps=services.save_product) as save, \
            patch("catalog.cache.invalidate") as invalidate, django_capture_on_commit_callbacks(execute=True):
        preview = upload(manager_client, Product, content)
    assert preview.status_code == 200
    result = preview.context["result"]
    assert not result.has_errors() and not result.has_validation_errors()
    assert [row.import_type for row in result.rows] == ["update", "new", "new"]
    assert "confirm_form" in preview.context and "import-preview-table" in preview.content.decode()
    assert save.call_count == 3  # the dry run goes through the service...
    assert products() == before  # ...and rolls back
    assert not invalidate.called  # nothing committed, nothing to invalidate

    with patch("catalog.cache.invalidate") as invalidate, django_capture_on_commit_callbacks(execute=True):
        done = confirm(manager_client, Product, preview)
    assert texts(done) == ["Import finished: 2 new, 1 updated, 0 deleted and 0 skipped products."]
    assert invalidate.called
    assert products() == [
        ("Cherries", "physical", 1500, Decimal("9.90"), 50, 2, True),
        ("Green tea", "physical", 120, Decimal("0.00"), 10, None, True),  # the stock of an update is ignored
        ("满50减5", "coupon", 300, Decimal("0.00"), 0, None, True),
    ]
    cherries = Product.objects.get(name="Cherries")
    assert (cherries.category, cherries.visible_tiers) == (fruit, ["silver", "gold"])
    initial = StockMovement.objects.get(product=cherries)
    assert (initial.delta, initial.stock_after, initial.staff) == (50, 50, manager)
    assert StockMovement.objects.filter(product=tea).count() == 1  # only its own initial stock
    assert LogEntry.objects.filter(user=manager).count() == 3


def test_an_unchanged_row_is_skipped(manager_client):
    tea = make_product(name="Tea", points_price=100, stock=10)
    preview = upload(manager_client, Product, HEADER + f"{tea.pk},Tea,physical,,100,0.00,10,,,1\n")
    assert [row.import_type for row in preview.context["result"].rows] == ["skip"]


@pytest.mark.parametrize(
    ("bad_row", "error"),
    [
        ("999999,Ghost,physical,,100,0,0,,,1", "There is no product #999999; leave the id empty to create"),
        (",Apple,physical,水果 / 梨,100,0,0,,,1", "There is no category “水果 / 梨”"),
        (",Apple,physical,,0,0,0,,,1", "Ensure this value is greater than or equal to 1."),
        (",Apple,physical,,1.5,0,0,,,1", "Enter a whole number."),
        (",Apple,physical,,abc,0,0,,,1", "Enter a number."),
        (",Apple,physical,,100,-1,0,,,1", "Ensure this value is greater than or equal to 0."),
        (",Apple,physical,,100,0,-4,,,1", "Stock cannot be negative."),
        (",Apple,fruit,,100,0,0,,,1", "Value &#x27;fruit&#x27; is not a valid choice."),
        (",Apple,physical,,100,0,0,,platinum,1", "Unknown tier(s): platinum"),
        (",Apple,physical,,100,0,0,,,maybe", "Enter 1 or 0 (true or false)."),
        (",,physical,,100,0,0,,,1", "This field cannot be blank."),
        (",Coupon,coupon,,100,0,5,,,1", "A new coupon starts with no stock: import its codes."),
    ],
)
def test_a_bad_row_imports_nothing(manager_client, fruit, bad_row, error):
    tea = make_product(name="Tea", points_price=100, stock=10)
    before, movements = products(), StockMovement.objects.count()
    content = HEADER + f"{tea.pk},Tea,physical,,110,0,10,,,1\n,Pear,physical,,90,0,5,,,1\n{bad_row}\n"
    preview = upload(manager_client, Product, content)
    result = preview.context["result"]
    assert result.has_validation_errors() and not result.has_errors()
    assert [row.number for row in result.invalid_rows] == [3]
    assert "confirm_form" not in preview.context
    assert error in preview.content.decode()
    assert products() == before and StockMovement.objects.count() == movements


def test_a_row_that_turns_bad_between_preview_and_confirm_imports_nothing(manager_client):
    tea = make_product(name="Tea", points_price=100, stock=10)
    content = HEADER + f",Pear,physical,,90,0,5,,,1\n{tea.pk},Tea,physical,,110,,,,,1\n"
    preview = upload(manager_client, Product, content)
    assert "confirm_form" in preview.context
    StockMovement.objects.all().delete()
    Product.objects.filter(pk=tea.pk).delete()  # gone before the confirmation
    done = confirm(manager_client, Product, preview)
    assert texts(done) == ["Nothing was imported: the file has rows in error; import it again to see them."]
    assert products() == []


def test_xlsx_round_trip(manager_client, fruit):
    make_product(name="Cherries", category=fruit, points_price=1500, cash_price=Decimal("9.90"), stock=50)
    exported = export(manager_client, Product, XLSX)
    book = openpyxl.load_workbook(io.BytesIO(exported.content))
    sheet = book.active
    header = [cell.value for cell in sheet[1]]
    row = sheet[2]
    row[header.index("points_price")].value = 1400
    row[header.index("stock")].value = 1  # ignored for an existing product
    sheet.append([None, "Kiwi", "physical", "水果 / 进口水果", 800, 0, 3, 0, None, None, None, None, 1, 0,
                  "新西兰"])
    buffer = io.BytesIO()
    book.save(buffer)
    preview = upload(manager_client, Product, buffer.getvalue(), name="products.xlsx", file_format=XLSX)
    result = preview.context["result"]
    assert [row.import_type for row in result.rows] == ["update", "new"], [
        error.traceback for row in result.rows for error in row.errors]
    confirm(manager_client, Product, preview)
    assert products() == [
        ("Cherries", "physical", 1400, Decimal("9.90"), 50, None, True),
        ("Kiwi", "physical", 800, Decimal("0.00"), 3, None, True),
    ]
    assert Product.objects.get(name="Kiwi").category == fruit


def test_the_resource_keeps_nothing_from_a_dry_run_outside_the_admin(manager):
    dataset = tablib.Dataset(headers=["id", "name", "kind", "points_price", "stock"])
    dataset.append(["", "Tea", "physical", 100, 7])
    result = ProductResource().import_data(dataset, dry_run=True, user=manager)
    assert not result.has_errors() and not result.has_validation_errors()
    assert products() == []
    ProductResource().import_data(dataset, dry_run=False, user=manager)
    assert products() == [("Tea", "physical", 100, Decimal("0.00"), 7, None, True)]


def test_import_needs_add_and_change_permission(client):
    viewer = StaffFactory(username="viewer")
    viewer.groups.add(Group.objects.get(name="客服 / Customer service"))
    client.force_login(viewer)
    assert client.get(url(Product, "import")).status_code == 403
    assert client.get(url(Product, "export")).status_code == 200


# --- Export ------------------------------------------------------------------------------------


def export(client, model, file_format, query=""):
    form = client.get(url(model, "export", query)).context["form"]
    data = {"format": file_format, "resource": "0"}
    data.update({name: "on" for name in form.fields if name not in ("format", "resource", "export_items")})
    return client.post(url(model, "export", query), data)


def test_export_products_csv(manager_client, fruit):
    cherries = make_product(name="Cherries", category=fruit, points_price=1500, cash_price=Decimal("9.90"),
                            stock=50, per_member_limit=2, visible_tiers=["gold"])
    response = export(manager_client, Product, CSV)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines == [
        "id,name,kind,category,points_price,cash_price,stock,sold,per_member_limit,visible_tiers,"
        "sale_starts_at,sale_ends_at,active,sort_order,description",
        f"{cherries.pk},Cherries,physical,水果 / 进口水果,1500,9.90,50,0,2,gold,,,1,0,",
    ]


def test_export_products_xlsx(manager_client, member):
    fund(member, 5000)
    tea = make_product(name="Tea", points_price=100, stock=5)
    services.redeem(member, tea, 2, key="t1")
    response = export(manager_client, Product, XLSX)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    rows = [tuple(cell.value for cell in row) for row in openpyxl.load_workbook(io.BytesIO(response.content))
            .active.iter_rows()]
    assert rows[0][:8] == ("id", "name", "kind", "category", "points_price", "cash_price", "stock", "sold")
    assert rows[1][:8] == (tea.pk, "Tea", "physical", None, 100, 0, 3, 2)


# --- Coupon codes ------------------------------------------------------------------------------


@pytest.fixture
def coupon():
    return make_product(name="满50减5", kind=ProductKind.COUPON, points_price=300, codes=["OLD-1"])


def codes(product):
    return list(CouponCode.objects.filter(product=product).order_by("id").values_list("code", flat=True))


def test_coupon_code_import_previews_then_adds_codes_and_stock(manager_client, manager, coupon,
                                                               django_capture_on_commit_callbacks):
    form = manager_client.get(url(CouponCode, "import", f"?product={coupon.pk}"))
    assert form.context["form"].initial["product"] == str(coupon.pk)
    with patch("catalog.resources.services.import_coupon_codes",
               wraps=services.import_coupon_codes) as service:
        preview = upload(manager_client, CouponCode, "code\nA-1\n A-2 \nA-3\n", name="codes.csv",
                         product=coupon.pk)
    result = preview.context["result"]
    assert not result.has_errors() and not result.has_validation_errors()
    assert [row.import_type for row in result.rows] == ["new", "new", "new"]
    assert service.call_args.args == (coupon, ["A-1", "A-2", "A-3"])  # the dry run asks the service too
    assert codes(coupon) == ["OLD-1"] and stock(coupon) == (1, 0)

    with patch("catalog.cache.invalidate") as invalidate, django_capture_on_commit_callbacks(execute=True):
        done = confirm(manager_client, CouponCode, preview)
    assert texts(done) == ["Imported 3 coupon codes into “满50减5”."]
    assert invalidate.called
    assert codes(coupon) == ["OLD-1", "A-1", "A-2", "A-3"] and stock(coupon) == (4, 0)
    movement = StockMovement.objects.filter(product=coupon).latest("id")
    assert (movement.delta, movement.stock_after, movement.staff) == (3, 4, manager)
    log = LogEntry.objects.get(user=manager)
    assert (log.object_id, log.get_change_message()) == (str(coupon.pk), "Imported 3 coupon codes.")


def test_a_bare_list_of_codes_without_a_header(manager_client, coupon):
    preview = upload(manager_client, CouponCode, "B-1\nB-2\n", name="codes.txt", product=coupon.pk)
    assert [row.import_type for row in preview.context["result"].rows] == ["new", "new"]
    confirm(manager_client, CouponCode, preview)
    assert codes(coupon) == ["OLD-1", "B-1", "B-2"]


@pytest.mark.parametrize(("content", "bad_rows", "error"), [
    ("code\nA-1\nA-2\nA-1\n", [3], "This code is already in row 1 of the file."),
    ("code\nA-1\nOLD-1\n", [2], "This code has already been imported."),
    ("code\nA-1\n   \n", [2], "Enter a code."),
    ("code\nA-1\n" + "X" * 65 + "\n", [2], "A code has at most 64 characters."),
])
def test_bad_codes_import_nothing(manager_client, coupon, content, bad_rows, error):
    preview = upload(manager_client, CouponCode, content, name="codes.csv", product=coupon.pk)
    result = preview.context["result"]
    assert result.has_validation_errors()
    assert [row.number for row in result.invalid_rows] == bad_rows
    assert error in preview.content.decode()
    assert "confirm_form" not in preview.context
    assert codes(coupon) == ["OLD-1"] and stock(coupon) == (1, 0)


def test_codes_imported_elsewhere_between_preview_and_confirm_import_nothing(manager_client, coupon):
    preview = upload(manager_client, CouponCode, "code\nC-1\nC-2\n", name="codes.csv", product=coupon.pk)
    assert "confirm_form" in preview.context
    other = make_product(name="满100减15", kind=ProductKind.COUPON, codes=["C-2"])
    done = confirm(manager_client, CouponCode, preview)
    assert texts(done) == ["Nothing was imported: the file has rows in error; import it again to see them."]
    assert codes(coupon) == ["OLD-1"] and stock(coupon) == (1, 0) and codes(other) == ["C-2"]


def test_a_service_refusal_is_shown_and_imports_nothing(manager, coupon):
    dataset = tablib.Dataset(headers=["code"])
    dataset.append(["D-1"])
    with patch("catalog.resources.services.import_coupon_codes",
               side_effect=DuplicateCodes("Codes already in the database: D-1")):
        result = CouponCodeResource(product=coupon).import_data(dataset, dry_run=False, user=manager)
    assert result.has_errors()
    assert [str(error.error) for error in result.base_errors] == ["Codes already in the database: D-1"]
    assert codes(coupon) == ["OLD-1"]


def test_only_coupon_products_take_codes(manager_client, coupon):
    tea = make_product(name="Tea")
    response = upload(manager_client, CouponCode, "code\nE-1\n", name="codes.csv", product=tea.pk)
    assert "Select a valid choice" in response.content.decode()
    assert "result" not in response.context
    assert not CouponCode.objects.filter(code="E-1").exists()


def test_xlsx_codes_and_export(manager_client, coupon, member):
    book = openpyxl.Workbook()
    book.active.append(["code"])
    book.active.append([12345678])  # a digit-only code, stored by Excel as a number
    book.active.append(["X-2"])
    buffer = io.BytesIO()
    book.save(buffer)
    preview = upload(manager_client, CouponCode, buffer.getvalue(), name="codes.xlsx", file_format=XLSX,
                     product=coupon.pk)
    confirm(manager_client, CouponCode, preview)
    assert codes(coupon) == ["OLD-1", "12345678", "X-2"]

    fund(member, 1000)
    redemption = services.redeem(member, coupon, key="c1")
    response = export(manager_client, CouponCode, CSV, f"?product__id__exact={coupon.pk}")
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "code,product,redemption,imported_at,assigned_at"
    assert [line.split(",")[:3] for line in lines[1:]] == [
        ["OLD-1", "满50减5", str(redemption.pk)], ["12345678", "满50减5", ""], ["X-2", "满50减5", ""],
    ]


def test_coupon_import_needs_add_permission(client, coupon):
    viewer = StaffFactory(username="viewer")
    viewer.groups.add(Group.objects.get(name="客服 / Customer service"))
    client.force_login(viewer)
    assert client.get(url(CouponCode, "import")).status_code == 403
