"""Member API v1 for the member's referral team (issue 9): their place in the trees and their
reward records.

Every read is of the requesting member's own node and records (``referrals.selectors``); these
endpoints take no ids. Other members appear only by a masked name.
"""

from __future__ import annotations

import django_filters
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from common.schema import error_responses
from referrals import selectors
from referrals.models import Outcome, RewardKind, RewardRecord


class TeamView(APIView):
    """``GET /api/v1/me/team/``: the member's inviter, leader status, team and reward totals."""

    class OutputSerializer(serializers.Serializer):
        class InviterSerializer(serializers.Serializer):
            name = serializers.CharField(help_text=_("The inviter's display name, masked (a***e)."))

        class RewardsSerializer(serializers.Serializer):
            pending = serializers.IntegerField(
                help_text=_("Reward points still in the refund window (net of refunds)."))
            settled = serializers.IntegerField(
                help_text=_("Reward points past the refund window (net of refunds)."))
            reversed = serializers.IntegerField(help_text=_("Reward points taken back by refunds."))

        inviter = InviterSerializer(allow_null=True, help_text=_("Null when no one invited the member."))
        is_leader = serializers.BooleanField(help_text=_("Leads a team (链动3+1 upgrade reached)."))
        direct_count = serializers.IntegerField(help_text=_("Members the member invited."))
        qualified_direct_count = serializers.IntegerField(
            help_text=_("Invited members with a paid order that is not fully refunded."))
        team_size = serializers.IntegerField(
            help_text=_("Members in the member's team (0 when not a leader)."))
        upgrade_threshold = serializers.IntegerField(
            allow_null=True,
            help_text=_("Qualified invitees the current plan needs to lead a team (null: no plan)."))
        rewards = RewardsSerializer()

    @extend_schema(operation_id="me_team_retrieve", tags=["team"],
                   responses={200: OutputSerializer, **error_responses(401, 429)})
    def get(self, request):
        summary = selectors.team_summary(request.user)
        body = {
            "inviter": {"name": selectors.masked(summary.inviter)} if summary.inviter else None,
            "is_leader": summary.is_leader,
            "direct_count": summary.direct_count,
            "qualified_direct_count": summary.qualified_direct_count,
            "team_size": summary.team_size,
            "upgrade_threshold": summary.upgrade_threshold,
            "rewards": {"pending": summary.rewards.pending, "settled": summary.rewards.settled,
                        "reversed": summary.rewards.reversed},
        }
        return Response(self.OutputSerializer(body).data)


class RewardFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=selectors.RecordStatus.choices, method="filter_status",
        label=_("Only records of this status."),
    )

    class Meta:
        model = RewardRecord
        fields = ["status"]

    def filter_status(self, queryset, name, value):
        return selectors.records_with_status(queryset, value, now=self.request.now)


class RewardListView(generics.ListAPIView):
    """``GET /api/v1/me/team/rewards/``: the member's reward records, newest first."""

    class OutputSerializer(serializers.ModelSerializer):
        order = serializers.CharField(source="order.external_id", help_text=_("The order's id in the shop."))
        kind = serializers.ChoiceField(choices=RewardKind.choices)
        kind_display = serializers.CharField(source="get_kind_display")
        outcome = serializers.ChoiceField(
            choices=Outcome.choices,
            help_text=_("paid: to the member the plan named; passed_up: to the member because the "
                        "one named could not receive it."))
        status = serializers.SerializerMethodField()
        explanation = serializers.SerializerMethodField()

        class Meta:
            model = RewardRecord
            fields = ("id", "order", "kind", "kind_display", "level", "outcome", "points",
                      "points_reversed", "status", "available_at", "created_at", "explanation")
            read_only_fields = fields

        @extend_schema_field(serializers.ChoiceField(
            choices=selectors.RecordStatus.choices,
            help_text=_("pending: in the refund window; settled: past it; reversed: all of it "
                        "refunded; lapsed: nothing was credited.")))
        def get_status(self, record) -> str:
            return selectors.record_status(record, now=self.context["request"].now)

        @extend_schema_field(serializers.CharField(help_text=_("How the reward was computed, in the "
                                                               "request's language.")))
        def get_explanation(self, record) -> str:
            return selectors.member_explanation(record)

    serializer_class = OutputSerializer
    filterset_class = RewardFilter

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # One clock for the filter and every row's status.
        request.now = timezone.now()

    def get_queryset(self):
        # Only the requesting member's records (the beneficiary, created_at index).
        return selectors.reward_records(self.request.user)

    @extend_schema(operation_id="me_team_rewards_list", tags=["team"],
                   responses={200: OutputSerializer(many=True), **error_responses(400, 401, 404, 429)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
