"""Categories in the admin. They have no service (they hold no invariant); saving or deleting one
invalidates the catalog cache after the commit."""

from __future__ import annotations

from django.contrib import admin
from django.db import transaction
from django.db.models import Count, F
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from catalog import cache
from catalog.admin.filters import ParentFilter
from catalog.forms import (
    CategoryForm,
)
from catalog.models import (
    Category,
)
from common.admin import ModelAdmin


@admin.register(Category)
class CategoryAdmin(ModelAdmin):
    form = CategoryForm
    list_display = ("tree_name", "sort_order", "active", "product_count")
    list_filter = ("active", ParentFilter)
    search_fields = ("name", "parent__name")
    fields = ("name", "parent", "sort_order", "active")

    def get_queryset(self, request):
        return (
            super().get_queryset(request)
            .select_related("parent")
            .annotate(product_count=Count("products", distinct=True))
        )

    def get_ordering(self, request):
        # Each parent followed by its children: the parent's position first, then the child's.
        return [Coalesce("parent__sort_order", "sort_order").asc(), Coalesce("parent_id", "id").asc(),
                F("parent_id").asc(nulls_first=True), "sort_order", "id"]

    @admin.display(description=_("category"), ordering="name")
    def tree_name(self, obj):
        return str(obj)

    @admin.display(description=_("products"), ordering="product_count")
    def product_count(self, obj):
        return obj.product_count

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        transaction.on_commit(cache.invalidate)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        transaction.on_commit(cache.invalidate)

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        transaction.on_commit(cache.invalidate)
