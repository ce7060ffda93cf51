"""The list filters of the catalog admin."""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalog.models import (
    Category,
)

LOW_STOCK = 5  # the "low stock" filter: at most this many units left


class ParentFilter(admin.SimpleListFilter):
    title = _("parent category")
    parameter_name = "parent"

    def lookups(self, request, model_admin):
        top = [("none", _("Top level"))]
        return top + [(str(c.pk), c.name) for c in Category.objects.filter(parent__isnull=True)]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(parent__isnull=True)
        if self.value():
            return queryset.filter(parent_id=self.value())
        return queryset



class OnSaleNowFilter(admin.SimpleListFilter):
    title = _("on sale now")
    parameter_name = "on_sale"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.on_sale(timezone.now())
        if self.value() == "no":
            return queryset.off_sale(timezone.now())
        return queryset



class StockLevelFilter(admin.SimpleListFilter):
    title = _("stock")
    parameter_name = "stock_level"

    def lookups(self, request, model_admin):
        return [("low", _("Low (%(count)s or fewer)") % {"count": LOW_STOCK}), ("out", _("Out of stock"))]

    def queryset(self, request, queryset):
        if self.value() == "low":
            return queryset.filter(stock__lte=LOW_STOCK)
        if self.value() == "out":
            return queryset.filter(stock=0)
        return queryset



class AssignedFilter(admin.SimpleListFilter):
    title = _("assigned")
    parameter_name = "assigned"

    def lookups(self, request, model_admin):
        return [("yes", _("Assigned")), ("no", _("Free"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(redemption__isnull=self.value() == "no")
        return queryset

