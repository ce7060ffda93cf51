"""Points + cash payments and saved addresses in the admin, read-only: payments are written only
by ``catalog.services.payments`` (the provider's callback and the release job), addresses by the
member (``catalog.services.addresses``). Customer service looks them up here."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from catalog.models import Address, Payment
from common import pii
from common.admin import ModelAdmin, PersonalDataAdminMixin, ReadOnlyAdminMixin


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("reference", "redemption", "provider", "amount", "status", "created_at",
                    "expires_at", "paid_at")
    list_filter = ("status", "provider")
    list_select_related = ("redemption__product",)
    search_fields = ("reference", "redemption__id")
    raw_id_fields = ("redemption", "hold")


@admin.register(Address)
class AddressAdmin(PersonalDataAdminMixin, ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("id", "member", "recipient", "phone", "region", "is_default")
    list_select_related = ("member",)
    # The phone matches exactly through its blind index; the recipient is encrypted and not
    # searchable (PersonalDataAdminMixin).
    search_fields = ("member__username", "phone")
    search_help_text = _("Search by member username, or the exact mobile number.")
    pii_fields = {"recipient": pii.mask_name, "phone": pii.mask_phone, "detail": pii.mask_address}
    raw_id_fields = ("member",)
