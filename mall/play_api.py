"""Member API v1 for daily tasks and badges (issue 11): the requesting member's own progress.

``GET /api/v1/me/tasks/``: the open tasks with progress in their current period (today, or this
Monday-to-Sunday week). ``GET /api/v1/me/badges/``: the badges earned (with dates) and the
others (with progress). Both are small, fixed lists: not paginated.
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from common.schema import error_responses
from mall.services import play


class TaskSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="task.pk")
    name = serializers.CharField(source="task.display_name")
    behaviour = serializers.CharField(source="task.behaviour", help_text=_(
        "check_in, share, review, redeem or order."))
    behaviour_display = serializers.CharField(source="task.get_behaviour_display")
    period = serializers.CharField(source="task.period", help_text=_("day or week."))
    period_key = serializers.CharField(source="period.key", help_text=_(
        "The current period: 2026-12-02 for a day, 2026-W49 for a week."))
    period_ends_on = serializers.DateField(source="period.last")
    target = serializers.IntegerField(source="task.target")
    progress = serializers.IntegerField(help_text=_("Times done in the period, up to the target."))
    completed = serializers.BooleanField()
    points = serializers.IntegerField(source="task.points", help_text=_("Points on completion."))
    points_awarded = serializers.IntegerField(allow_null=True, help_text=_(
        "Points the completion posted (less than points when the daily behaviour cap took the "
        "rest); null before completion."))


class TaskListView(APIView):
    """``GET /api/v1/me/tasks/``: today's tasks and the member's progress."""

    class OutputSerializer(serializers.Serializer):
        day = serializers.DateField(help_text=_("Today, in Asia/Shanghai."))
        tasks = TaskSerializer(many=True)

    @extend_schema(operation_id="me_tasks_list", tags=["play"],
                   responses={200: OutputSerializer, **error_responses(401, 429)})
    def get(self, request):
        now = timezone.now()
        body = {"day": timezone.localdate(now), "tasks": play.tasks_today(request.user, now=now)}
        return Response(self.OutputSerializer(body).data)


class BadgeSerializer(serializers.Serializer):
    code = serializers.CharField(source="badge.code")
    name = serializers.CharField(source="badge.display_name")
    icon = serializers.SerializerMethodField(help_text=_("The icon's URL; null: none uploaded."))
    metric = serializers.CharField(source="badge.metric", help_text=_(
        "points_earned, redemptions, check_in_streak, orders or invitees."))
    metric_display = serializers.CharField(source="badge.get_metric_display")
    threshold = serializers.IntegerField(source="badge.threshold")
    period = serializers.CharField(source="badge.period", help_text=_("all_time, rolling or month."))
    period_days = serializers.IntegerField(source="badge.period_days", allow_null=True)
    points = serializers.IntegerField(source="badge.points", help_text=_("Points the badge awards."))
    progress = serializers.IntegerField(help_text=_(
        "The metric now, within the badge's period (this month, the last N days or all time)."))

    def get_icon(self, standing) -> str | None:
        icon = standing.badge.icon
        if not icon:
            return None
        request = self.context.get("request")
        return request.build_absolute_uri(icon.url) if request else icon.url


class EarnedBadgeSerializer(BadgeSerializer):
    earned_at = serializers.DateTimeField(source="award.awarded_at")
    earned_period = serializers.CharField(source="award.period", help_text=_(
        "all, or the month (2026-12) of a monthly badge's latest award."))


class BadgeListView(APIView):
    """``GET /api/v1/me/badges/``: earned badges with dates, the others with progress."""

    class OutputSerializer(serializers.Serializer):
        earned = EarnedBadgeSerializer(many=True)
        others = BadgeSerializer(many=True)

    @extend_schema(operation_id="me_badges_list", tags=["play"],
                   responses={200: OutputSerializer, **error_responses(401, 429)})
    def get(self, request):
        standings = play.badges_of(request.user)
        body = {"earned": [s for s in standings if s.award is not None],
                "others": [s for s in standings if s.award is None]}
        return Response(self.OutputSerializer(body, context={"request": request}).data)
