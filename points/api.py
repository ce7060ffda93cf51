"""Member API v1 for the member's own points: balance, history and the daily check-in (issue 5 §1).

Every read is of the requesting member's account only; these endpoints take no ids.
"""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from common.schema import error_responses
from points import selectors
from points.models import Entry, EntryKind
from points.services import earning


class BalanceView(APIView):
    """``GET /api/v1/me/points/``: the member's balance and what expires in the coming months."""

    class OutputSerializer(serializers.Serializer):
        class ExpiringSerializer(serializers.Serializer):
            month = serializers.CharField(help_text=_("YYYY-MM: these points expire at its end."))
            points = serializers.IntegerField()

        available = serializers.IntegerField(help_text=_("Usable now."))
        pending = serializers.IntegerField(help_text=_("Earned, usable after the cooling-off period."))
        held = serializers.IntegerField(help_text=_("Reserved by open checkouts or bids."))
        debt = serializers.IntegerField(help_text=_("Clawed back by refunds, recovered from the "
                                                    "next earnings."))
        expiring = ExpiringSerializer(many=True, help_text=_("Soonest month first."))

    @extend_schema(operation_id="me_points_retrieve", tags=["points"],
                   responses={200: OutputSerializer, **error_responses(401, 429)})
    def get(self, request):
        balance = selectors.balance(request.user)
        body = {
            "available": balance.available,
            "pending": balance.pending,
            "held": balance.held,
            "debt": balance.debt,
            "expiring": [{"month": day.strftime("%Y-%m"), "points": points}
                         for day, points in balance.expiring],
        }
        return Response(self.OutputSerializer(body).data)


class EntryFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=EntryKind.choices)
    date_from = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__gte", input_formats=["%Y-%m-%d"],
        label=_("Entries on or after this local day (YYYY-MM-DD)."),
    )
    date_to = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__lte", input_formats=["%Y-%m-%d"],
        label=_("Entries on or before this local day (YYYY-MM-DD)."),
    )

    class Meta:
        model = Entry
        fields = ["kind", "date_from", "date_to"]


class EntryListView(generics.ListAPIView):
    """``GET /api/v1/me/points/entries/``: the member's ledger entries, newest first."""

    class OutputSerializer(serializers.ModelSerializer):
        explanation = serializers.SerializerMethodField()
        reason = serializers.SerializerMethodField()
        label = serializers.ChoiceField(
            choices=list(selectors.LABELS), read_only=True,
            help_text=_("What happened, in plain words: earned, pending (not usable yet), used, "
                        "in_use (reserved by an open checkout or bid), returned, refunded, "
                        "taken_back (an earning reversed), expired, adjusted, available."))
        label_display = serializers.CharField(read_only=True,
                                              help_text=_("The label in the request's language."))
        available_at = serializers.DateTimeField(
            read_only=True, allow_null=True,
            help_text=_("When the points this entry credited become usable; null when it credited none."))
        expires_at = serializers.DateTimeField(
            read_only=True, allow_null=True,
            help_text=_("When the points this entry credited expire; null when they never do or it "
                        "credited none."))
        redemption = serializers.IntegerField(
            read_only=True, allow_null=True,
            help_text=_("The redemption this entry spent for or refunded, else null."))

        class Meta:
            model = Entry
            fields = ("id", "delta", "kind", "reason", "balance_after", "created_at", "explanation",
                      "label", "label_display", "available_at", "expires_at", "redemption")
            read_only_fields = fields

        def to_representation(self, entry):
            # The details read the prefetched lots once per entry (selectors.with_details).
            for name, value in selectors.entry_details(entry).items():
                setattr(entry, name, value)
            return super().to_representation(entry)

        @extend_schema_field(serializers.CharField())
        def get_reason(self, entry) -> str:
            return selectors.reason_text(entry)

        @extend_schema_field(serializers.ListField(child=serializers.CharField()))
        def get_explanation(self, entry) -> list[str]:
            # How an earning was computed, line by line (empty for other entries).
            return selectors.explanation_lines(entry)

    serializer_class = OutputSerializer
    filterset_class = EntryFilter

    def get_queryset(self):
        # Only the requesting member's account; newest first (the account, -id index).
        return selectors.with_details(
            Entry.objects.filter(account_id=self.request.user.pk).order_by("-id"))

    @extend_schema(operation_id="me_points_entries_list", tags=["points"],
                   responses={200: OutputSerializer(many=True), **error_responses(400, 401, 404, 429)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class CheckInView(APIView):
    """``POST /api/v1/me/check-in/``: check in for today (Asia/Shanghai); 200 also when repeated.

    It takes no body, but one that is sent must be a JSON object (``{}``): a malformed one is
    refused (400, 415) like anywhere else in the API, not ignored while checking in."""

    class InputSerializer(serializers.Serializer):
        pass

    class OutputSerializer(serializers.Serializer):
        points = serializers.IntegerField(help_text=_("Points of today's check-in."))
        streak = serializers.IntegerField(help_text=_("Consecutive days including today."))
        day = serializers.DateField()
        already_checked_in = serializers.BooleanField(
            help_text=_("True when the member had already checked in today (nothing was added).")
        )

    @extend_schema(operation_id="me_check_in", tags=["points"], request=None,
                   responses={200: OutputSerializer, **error_responses(400, 401, 403, 415, 429)})
    def post(self, request):
        self.InputSerializer(data=request.data).is_valid(raise_exception=True)
        result = earning.check_in(request.user)
        return Response(self.OutputSerializer(result).data)
