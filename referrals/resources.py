"""Export of reward records (django-import-export), CSV and XLSX, from the admin's filtered list.

Export only: records are written by ``referrals.services.orders``. Kinds, outcomes and statuses
are exported as their codes (``direct``, ``paid``, ``pending``), stable whatever the admin's
language, as the catalog's export does; the explanation is the line the admin shows, in the
exporter's language. Times are local (``TIME_ZONE``).
"""

from __future__ import annotations

from django.utils import timezone
from import_export import resources
from import_export.fields import Field

from referrals.models import RewardRecord
from referrals.selectors import record_status

EXPORT_FIELDS = ("order_id", "kind", "beneficiary", "level", "outcome", "points", "points_reversed",
                 "status", "available_at", "created_at", "explanation", "plan_version")


class RewardRecordResource(resources.ModelResource):
    order_id = Field(attribute="order__external_id", column_name="order_id")
    beneficiary = Field(attribute="beneficiary__username", column_name="beneficiary")
    status = Field(column_name="status")
    explanation = Field(column_name="explanation")
    plan_version = Field(attribute="plan__version", column_name="plan_version")

    class Meta:
        model = RewardRecord
        fields = EXPORT_FIELDS
        export_order = EXPORT_FIELDS

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.now = timezone.now()  # one "now" for the whole file

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("order", "beneficiary", "intended", "plan")

    def dehydrate_status(self, record):
        return record_status(record, now=self.now)

    def dehydrate_explanation(self, record):
        return record.explanation
