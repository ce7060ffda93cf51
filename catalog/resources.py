"""Import/export of the catalog (django-import-export): products, and the codes of a coupon pool.

Products are keyed by their ``id`` column: a row with an id updates that product, a row with an
empty id creates one, and an id that is not a product is a row error (never a product created
with a chosen id). Names are not unique, so they cannot be the key; export first to get the ids.
The category is written as the admin shows it, "parent / child" (or the top-level name). ``sold``
is export-only. ``stock`` is the initial stock of a *new* product (``save_product`` records it as
an "initial stock" movement; a new coupon starts at 0, its stock comes from importing codes); for
an existing product the column is ignored: stock only moves through adjustments with a reason, and
a stock figure in a file exported a while ago would silently undo the redemptions made since.

Coupon codes are imported into one coupon product chosen on the import form; the file holds a
``code`` column (a single column without a header works too). Blank, too long, repeated and
already imported codes are row errors, and the codes are added by
``catalog.services.import_coupon_codes``, which refuses duplicates as well.

Every import runs in one transaction: any bad row, or a refusal from a service, leaves the whole
file unimported (the admin previews with a dry run first). Products are saved with
``catalog.services.save_product``, which invalidates the catalog cache after the commit (a dry
run never commits, so it invalidates nothing).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from import_export import resources, widgets
from import_export.fields import Field
from import_export.results import Error

from catalog import services
from catalog.errors import CatalogError
from catalog.models import Category, CouponCode, Product, ProductKind
from rules.tiers import tier_codes

CODE_MAX_LENGTH = CouponCode._meta.get_field("code").max_length
CODE_HEADERS = {"code", "codes", "coupon code", "coupon_code", "券码", "优惠码", "兑换码", "码"}


def _is_blank(value) -> bool:
    return value is None or str(value).strip() == ""


def _number(value) -> Decimal:
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise ValueError(_("Enter a number."))
    return number


class WholeNumberWidget(widgets.IntegerWidget):
    """An integer from "12", "12.0" or an XLSX 12.0; "1.5" and "abc" are row errors, not a
    silently rounded number or a crash."""

    def clean(self, value, row=None, **kwargs):
        if _is_blank(value):
            return None
        number = _number(value)
        if number != number.to_integral_value():
            raise ValueError(_("Enter a whole number."))
        return int(number)


class MoneyWidget(widgets.DecimalWidget):
    def clean(self, value, row=None, **kwargs):
        if _is_blank(value):
            return None
        return _number(value)  # more than 2 decimal places: the model validation reports it


class StrictBooleanWidget(widgets.BooleanWidget):
    TRUE = {"1", "true", "yes", "y", "是"}
    FALSE = {"0", "false", "no", "n", "否"}

    def clean(self, value, row=None, **kwargs):
        if _is_blank(value):
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text.endswith(".0"):
            text = text[:-2]  # XLSX numbers
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise ValueError(_("Enter 1 or 0 (true or false)."))


class TiersWidget(widgets.SimpleArrayWidget):
    """Tiers separated by commas ("silver,gold"); empty means every tier."""

    def clean(self, value, row=None, **kwargs):
        if _is_blank(value):
            return []
        tiers = [part.strip().lower() for part in str(value).replace("，", ",").split(",") if part.strip()]
        known = tier_codes()  # the published rule set's
        unknown = [tier for tier in tiers if tier not in known]
        if unknown:
            raise ValueError(_("Unknown tier(s): %(tiers)s; use %(known)s.")
                             % {"tiers": ", ".join(unknown), "known": ", ".join(known)})
        return list(dict.fromkeys(tiers))


class CategoryWidget(widgets.ForeignKeyWidget):
    """A category written as the admin shows it: "parent / child", or a top-level name."""

    def __init__(self):
        super().__init__(Category)

    def clean(self, value, row=None, **kwargs):
        if _is_blank(value):
            return None
        parts = [part.strip() for part in str(value).split("/")]
        if len(parts) == 1:
            found = list(Category.objects.filter(name=parts[0], parent__isnull=True))
        elif len(parts) == 2:
            found = list(Category.objects.filter(name=parts[1], parent__name=parts[0],
                                                 parent__parent__isnull=True))
        else:
            found = []
        if len(found) != 1:
            raise ValueError(_("There is no category “%(value)s”; write it as “parent / child” or as a "
                               "top-level name.") % {"value": str(value).strip()})
        return found[0]

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(value)


class InitialStockField(Field):
    """The ``stock`` column: exported as the current stock; imported only as the initial stock of
    a new product (``save_product`` writes it with an "initial stock" movement). Ignored for an
    existing product, see the module docstring."""

    def save(self, instance, row, is_m2m=False, **kwargs):
        if not instance._state.adding:
            return
        stock = self.clean(row, **kwargs)
        if stock is not None and stock < 0:
            raise ValueError(_("Stock cannot be negative."))
        instance.stock = stock or 0


class ProductResource(resources.ModelResource):
    id = Field(attribute="id", column_name="id", widget=WholeNumberWidget())
    category = Field(attribute="category", column_name="category", widget=CategoryWidget())
    points_price = Field(attribute="points_price", column_name="points_price", widget=WholeNumberWidget())
    cash_price = Field(attribute="cash_price", column_name="cash_price", widget=MoneyWidget(),
                       default=Decimal("0.00"))
    stock = InitialStockField(attribute="stock", column_name="stock", widget=WholeNumberWidget())
    sold = Field(attribute="sold", column_name="sold", widget=WholeNumberWidget(), readonly=True)
    per_member_limit = Field(attribute="per_member_limit", column_name="per_member_limit",
                             widget=WholeNumberWidget())
    visible_tiers = Field(attribute="visible_tiers", column_name="visible_tiers", widget=TiersWidget())
    active = Field(attribute="active", column_name="active", widget=StrictBooleanWidget(), default=True)
    # An empty XLSX cell is None: a text column must read it as "".
    name = Field(attribute="name", column_name="name", widget=widgets.CharWidget(allow_blank=True))
    description = Field(attribute="description", column_name="description",
                        widget=widgets.CharWidget(allow_blank=True))
    sort_order = Field(attribute="sort_order", column_name="sort_order", widget=WholeNumberWidget(),
                       default=0)

    class Meta:
        model = Product
        fields = export_order = (
            "id", "name", "kind", "category", "points_price", "cash_price", "stock", "sold",
            "per_member_limit", "visible_tiers", "sale_starts_at", "sale_ends_at", "active", "sort_order",
            "description",
        )
        import_id_fields = ("id",)
        use_transactions = True
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._user = None

    def get_queryset(self):
        return super().get_queryset().select_related("category__parent")

    def before_import(self, dataset, **kwargs):
        super().before_import(dataset, **kwargs)
        self._user = kwargs.get("user")

    def get_instance(self, instance_loader, row):
        value = row.get("id")
        if _is_blank(value):
            return None  # a new product
        try:
            product_id = self.fields["id"].clean(row)
        except ValueError as error:
            raise ValidationError({"id": str(error)}) from error
        product = self.get_queryset().filter(pk=product_id).first()
        if product is None:
            raise ValidationError({"id": _("There is no product #%(id)s; leave the id empty to create a "
                                           "product.") % {"id": product_id}})
        return product

    def import_instance(self, instance, row, **kwargs):
        errors = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        new_coupon = instance._state.adding and instance.kind == ProductKind.COUPON
        if new_coupon and instance.stock and "stock" not in errors:
            errors["stock"] = [_("A new coupon starts with no stock: import its codes.")]
        if errors:
            raise ValidationError(errors)

    def do_instance_save(self, instance, is_create):
        try:
            services.save_product(instance, staff=self._user)
        except CatalogError as error:
            # A refusal is a row error like any other (and rolls the whole file back).
            raise ValidationError(error.message) from error


class CouponCodeResource(resources.ModelResource):
    """The codes of one coupon product's pool; see the module docstring."""

    product = Field(attribute="product", column_name="product",
                    widget=widgets.ForeignKeyWidget(Product, "name"), readonly=True)
    redemption = Field(attribute="redemption_id", column_name="redemption", readonly=True)
    imported_at = Field(attribute="imported_at", column_name="imported_at", widget=widgets.DateTimeWidget(),
                        readonly=True)
    assigned_at = Field(attribute="assigned_at", column_name="assigned_at", widget=widgets.DateTimeWidget(),
                        readonly=True)

    class Meta:
        model = CouponCode
        fields = export_order = ("code", "product", "redemption", "imported_at", "assigned_at")
        import_id_fields = ()
        force_init_instance = True
        use_transactions = True
        clean_model_instances = False  # the rows are checked here; the service writes them
        skip_diff = False

    def __init__(self, product: Product | None = None, **kwargs):
        super().__init__(**kwargs)
        self.product = product
        self._codes: list[str] = []
        self._first_row: dict[str, int] = {}
        self._existing: set[str] = set()
        self._user = None
        self.imported = 0

    def get_queryset(self):
        queryset = super().get_queryset().select_related("product")
        return queryset if self.product is None else queryset.filter(product=self.product)

    def before_import(self, dataset, **kwargs):
        super().before_import(dataset, **kwargs)
        self._codes, self._first_row, self._user = [], {}, kwargs.get("user")
        headers = [str(header or "").strip().lower() for header in dataset.headers or []]
        if len(headers) == 1 and headers[0] in CODE_HEADERS:
            headers = ["code"]
        elif len(headers) == 1:
            # A bare list of codes: its first line is a code, not a header.
            dataset.insert(0, [dataset.headers[0]])
            headers = ["code"]
        dataset.headers = headers
        if "code" not in headers:
            raise ValueError(_("The file needs a “code” column."))
        values = {str(value).strip() for value in dataset["code"] if not _is_blank(value)}
        self._existing = set(CouponCode.objects.filter(code__in=values).values_list("code", flat=True))

    def before_import_row(self, row, **kwargs):
        super().before_import_row(row, **kwargs)
        if self.product is None:
            raise ValidationError(_("Choose the coupon product to import the codes into."))
        number = kwargs.get("row_number")
        code = "" if _is_blank(row.get("code")) else str(row["code"]).strip()
        if isinstance(row.get("code"), float) and row["code"].is_integer():
            code = str(int(row["code"]))  # XLSX turns digit-only codes into numbers
        row["code"] = code
        if not code:
            raise ValidationError({"code": _("Enter a code.")})
        if len(code) > CODE_MAX_LENGTH:
            raise ValidationError({"code": _("A code has at most %(max)s characters.")
                                   % {"max": CODE_MAX_LENGTH}})
        if code in self._first_row:
            raise ValidationError({"code": _("This code is already in row %(row)s of the file.")
                                   % {"row": self._first_row[code]}})
        self._first_row[code] = number
        if code in self._existing:
            raise ValidationError({"code": _("This code has already been imported.")})

    def import_instance(self, instance, row, **kwargs):
        instance.code = row["code"]
        instance.product = self.product

    def save_instance(self, instance, is_create, row, **kwargs):
        # Collected here and written at once by the service (all or nothing) in after_import.
        self._codes.append(instance.code)

    def after_import(self, dataset, result, **kwargs):
        super().after_import(dataset, result, **kwargs)
        if result.has_errors() or result.has_validation_errors() or not self._codes:
            return
        # The dry run calls the service too (and rolls it back), so the preview shows its refusals.
        try:
            services.import_coupon_codes(self.product, self._codes, staff=self._user)
        except CatalogError as error:
            result.append_base_error(Error(error))
        else:
            self.imported = len(self._codes)
