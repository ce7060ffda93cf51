"""Admin forms for the catalog: the two-level category tree, stock adjustments, the redemption
transitions that need input (tracking numbers, a cancel reason) and the coupon-code import.

The forms only check what staff typed; the writes (and their final refusals) are in
``catalog.services``.
"""

from __future__ import annotations

from django import forms
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext_lazy as _
from import_export.forms import ConfirmImportForm
from unfold.contrib.import_export.forms import ImportForm

from catalog import images
from catalog.channel_errors import FeedError
from catalog.channels.fetch import feed_path, is_url
from catalog.errors import InvalidImage
from catalog.models import Category, Channel, Product, ProductImage, ProductKind, StockMovement
from rules.tiers import tier_choices

REASON_MAX_LENGTH = StockMovement._meta.get_field("reason").max_length
STOCK_LIMIT = 10**9  # far above any real stock; keeps a typo from overflowing the column


REASON_REQUIRED = _("A reason is required.")


def _required_text(value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise forms.ValidationError(REASON_REQUIRED)
    return value


class CategoryForm(forms.ModelForm):
    """A category is top-level or a child of a top-level one: the tree has two levels."""

    class Meta:
        model = Category
        fields = ("name", "parent", "sort_order", "active")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        parents = Category.objects.filter(parent__isnull=True)
        if self.instance.pk:
            parents = parents.exclude(pk=self.instance.pk)
        self.fields["parent"].queryset = parents

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if "/" in name:
            # "parent / child" is how the tree is written in lists and import files.
            raise forms.ValidationError(_("A category name cannot contain “/”."))
        return name

    def clean(self):
        cleaned = super().clean()
        parent = cleaned.get("parent")
        if parent is not None and self.instance.pk and self.instance.children.exists():
            raise forms.ValidationError(
                _("“%(name)s” has sub-categories, so it must stay a top-level category.")
                % {"name": self.instance.name}
            )
        name = cleaned.get("name")
        if name:
            siblings = Category.objects.filter(parent=parent, name=name)
            if self.instance.pk:
                siblings = siblings.exclude(pk=self.instance.pk)
            if siblings.exists():
                self.add_error("name", _("There is already a category with this name here."))
        return cleaned


class ProductForm(forms.ModelForm):
    """The product page (stock and sold are read-only there: stock moves by adjustments)."""

    visible_tiers = forms.MultipleChoiceField(
        label=_("visible to tiers"), choices=tier_choices, required=False,
        widget=forms.CheckboxSelectMultiple, help_text=_("None ticked: every tier."),
    )
    image_url = forms.URLField(
        label=_("image URL"), max_length=500, required=False, assume_scheme="https",
        help_text=Product._meta.get_field("image_url").help_text,
    )

    class Meta:
        model = Product
        fields = ("name", "kind", "category", "description", "points_price", "cash_price",
                  "per_member_limit", "active", "visible_tiers", "sale_starts_at", "sale_ends_at",
                  "sort_order", "supplier", "supplier_sku", "channel", "channel_sku",
                  "stock_from_channel", "image_url")

    def clean(self):
        cleaned = super().clean()
        starts, ends = cleaned.get("sale_starts_at"), cleaned.get("sale_ends_at")
        if starts and ends and ends <= starts:
            self.add_error("sale_ends_at", _("The sale must end after it starts."))
        product = self.instance
        if (product.pk and cleaned.get("kind") == ProductKind.COUPON and product.kind != ProductKind.COUPON
                and product.stock > product.codes.filter(redemption__isnull=True).count()):
            # A coupon sells only what its code pool can deliver (catalog.services refuses it too).
            self.add_error("kind", _("Only a product without stock can become a coupon; take its stock "
                                     "to 0 first."))
        self._clean_channel(cleaned)
        return cleaned

    def _clean_channel(self, cleaned) -> None:
        # The database's checks on a channel product, as form errors (catalog.models.Product).
        channel, sku = cleaned.get("channel"), (cleaned.get("channel_sku") or "").strip()
        cleaned["channel_sku"] = sku
        if channel is not None and not sku:
            self.add_error("channel_sku", _("A product from a channel needs its channel SKU."))
        if channel is None and sku:
            self.add_error("channel", _("Choose the channel this SKU belongs to."))
        if cleaned.get("stock_from_channel"):
            if channel is None:
                self.add_error("stock_from_channel", _("Only a product from a channel can take its "
                                                       "stock from it."))
            elif cleaned.get("kind") != ProductKind.PHYSICAL:
                self.add_error("stock_from_channel", _("Only physical goods take their stock from a "
                                                       "channel (a coupon's stock is its codes)."))


class StockAdjustmentForm(forms.ModelForm):
    """One new stock movement typed by staff: a change and why. Applied by
    ``catalog.services.adjust_stock``, never saved by the form."""

    delta = forms.IntegerField(
        label=_("change"), min_value=-STOCK_LIMIT, max_value=STOCK_LIMIT,
        help_text=_("Positive to add units, negative to remove them."),
    )
    reason = forms.CharField(label=_("reason"), max_length=REASON_MAX_LENGTH,
                             error_messages={"required": REASON_REQUIRED})

    class Meta:
        model = StockMovement
        fields = ("delta", "reason")

    def clean_delta(self):
        delta = self.cleaned_data["delta"]
        if delta == 0:
            raise forms.ValidationError(_("Enter a non-zero change."))
        return delta

    def clean_reason(self):
        return _required_text(self.cleaned_data["reason"])


class StockAdjustmentFormSet(BaseInlineFormSet):
    """New adjustments of one product; refuses, as a form error, anything that takes the stock
    below zero (the service refuses it too, under its lock)."""

    def adjustments(self) -> list[tuple[StockAdjustmentForm, int, str]]:
        return [
            (form, form.cleaned_data["delta"], form.cleaned_data["reason"])
            for form in self.forms
            if form.has_changed() and form.cleaned_data and not self._should_delete_form(form)
        ]

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        product = self.instance
        stock = product.stock if product.pk else 0
        free_codes = None
        if product.kind == ProductKind.COUPON:
            free_codes = product.codes.filter(redemption__isnull=True).count() if product.pk else 0
        for form, delta, _reason in self.adjustments():
            if stock + delta < 0:
                form.add_error("delta", _(
                    "Stock cannot go below zero: %(stock)s in stock, change %(delta)+d."
                ) % {"stock": stock, "delta": delta})
                return
            if delta > 0 and free_codes is not None and stock + delta > free_codes:
                form.add_error("delta", _(
                    "A coupon's stock cannot exceed its %(free)s unused codes: import codes to add stock."
                ) % {"free": free_codes})
                return
            stock += delta


class TrackingNumbersForm(forms.Form):
    """Mark redemptions fulfilled: one optional tracking number per redemption (privileges ship
    nothing)."""

    def __init__(self, *args, redemptions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.redemptions = list(redemptions)
        for redemption in self.redemptions:
            self.fields[self.field_name(redemption)] = forms.CharField(
                label=_("Tracking number of %(redemption)s") % {"redemption": redemption}, max_length=64,
                # Physical goods ship with a tracking number; privileges have nothing to ship.
                required=redemption.product.kind == ProductKind.PHYSICAL,
                help_text=redemption.address or "",
            )

    @staticmethod
    def field_name(redemption) -> str:
        return f"tracking_{redemption.pk}"

    def tracking_numbers(self) -> list[tuple[object, str]]:
        return [
            (redemption, self.cleaned_data[self.field_name(redemption)].strip())
            for redemption in self.redemptions
        ]


class CancelRedemptionForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"), max_length=200,
        help_text=_("Required; the member sees it with the returned points."),
        error_messages={"required": REASON_REQUIRED},
    )

    def clean_reason(self):
        return _required_text(self.cleaned_data["reason"])


def coupon_products():
    return Product.objects.filter(kind=ProductKind.COUPON).order_by("name", "id")


class CouponCodeImportForm(ImportForm):
    """The import form of coupon codes: the file holds only codes; the pool is chosen here."""

    product = forms.ModelChoiceField(
        label=_("Coupon product"), queryset=Product.objects.none(),
        help_text=_("The codes are added to this product's pool."),
    )
    field_order = ["product", "resource", "import_file", "format"]

    def __init__(self, formats, resources, **kwargs):
        super().__init__(formats, resources, **kwargs)
        self.fields["product"].queryset = coupon_products()


class CouponCodeConfirmImportForm(ConfirmImportForm):
    product = forms.ModelChoiceField(queryset=Product.objects.none(), widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = coupon_products()


class ProductImageForm(forms.ModelForm):
    """One picture on the product page: a new upload (checked by ``catalog.images``: a readable
    JPEG, PNG, WebP or GIF within the size limits) or an existing one whose cover box can change.
    Applied by ``catalog.services`` (``add_image``, ``set_cover``, ``remove_image``), never saved
    by the form."""

    class Meta:
        model = ProductImage
        fields = ("image", "is_cover")

    def clean_image(self):
        upload = self.cleaned_data.get("image")
        if upload and "image" in self.changed_data:
            try:
                images.check_upload(upload)
            except InvalidImage as error:
                raise forms.ValidationError(error.message, code=error.code) from None
        return upload


class ProductImageFormSet(BaseInlineFormSet):
    """The pictures of one product; at most one may be ticked as the cover."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        covers = [form for form in self.forms
                  if form.cleaned_data and not self._should_delete_form(form)
                  and form.cleaned_data.get("is_cover")]
        if len(covers) > 1:
            raise forms.ValidationError(_("Choose one cover image only."), code="one_cover")


class ChannelForm(forms.ModelForm):
    """A channel's settings: its feed's source is an http(s) URL or a path inside the feed folder
    (checked here as the adapters check it on every read)."""

    class Meta:
        model = Channel
        fields = ("name", "kind", "source", "active", "import_on_schedule", "sync_on_schedule")

    def clean_source(self):
        source = self.cleaned_data["source"].strip()
        if "://" in source and not is_url(source):
            raise forms.ValidationError(_("Use an http or https URL, or a file path."))
        if not is_url(source):
            try:
                feed_path(source)
            except FeedError as exc:
                raise forms.ValidationError(exc.message) from None
        return source
