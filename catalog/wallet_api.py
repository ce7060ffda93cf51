"""Member API v1 for the coupon wallet (issue 12): the requesting member's coupon codes.

``GET /api/v1/me/coupons/`` lists them newest first (one page rule), each with its product's
how-to-use text, validity and state (valid, used, expired; ``?state=`` filters);
``POST /api/v1/me/coupons/{id}/use/`` marks one used (again: the same answer).
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import selectors, services
from catalog.api import id_parameter, not_found, parse_id
from catalog.models import CouponCode
from catalog.selectors import CouponState
from common.schema import error_responses

STATES = [CouponState.VALID, CouponState.USED, CouponState.EXPIRED]


class CouponSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    product = serializers.IntegerField(source="product_id")
    product_name = serializers.CharField(source="product.name")
    how_to_use = serializers.CharField(source="product.usage_instructions")
    redemption = serializers.IntegerField(source="redemption_id")
    issued_at = serializers.DateTimeField(source="assigned_at")
    valid_until = serializers.DateTimeField(allow_null=True, help_text=gettext_lazy(
        "Null: no expiry."))
    used_at = serializers.DateTimeField(allow_null=True)
    state = serializers.SerializerMethodField(help_text=gettext_lazy("valid, used or expired."))

    @extend_schema_field(serializers.ChoiceField(choices=STATES,
                                                 help_text=gettext_lazy("valid, used or expired.")))
    def get_state(self, code) -> str:
        return selectors.coupon_state(code, self.context["now"])


class CouponListView(generics.ListAPIView):
    """``GET /api/v1/me/coupons/``: the member's coupon codes."""

    serializer_class = CouponSerializer

    class FilterSerializer(serializers.Serializer):
        state = serializers.ChoiceField(choices=STATES, required=False)

    now = None  # set per request in get()

    def get_queryset(self):
        query = self.FilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.coupon_wallet(self.request.user, state=query.validated_data.get("state", ""),
                                       now=self.now or timezone.now())

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": self.now or timezone.now()}

    @extend_schema(operation_id="me_coupons_list", tags=["mall"],
                   parameters=[OpenApiParameter("state", {"type": "string", "enum": STATES},
                                                OpenApiParameter.QUERY)],
                   responses={200: CouponSerializer(many=True), **error_responses(400, 401, 404, 429)})
    def get(self, request, *args, **kwargs):
        self.now = timezone.now()
        return super().get(request, *args, **kwargs)


class CouponUseView(APIView):
    """``POST /api/v1/me/coupons/{id}/use/``: mark one of the member's codes used."""

    class InputSerializer(serializers.Serializer):
        pass

    @extend_schema(operation_id="me_coupons_use", tags=["mall"], request=None,
                   parameters=[id_parameter("coupon_id")],
                   responses={200: CouponSerializer, **error_responses(400, 401, 404, 415, 429)})
    def post(self, request, coupon_id: str):
        self.InputSerializer(data=request.data).is_valid(raise_exception=True)
        code = CouponCode.objects.filter(pk=parse_id(coupon_id, _("No such coupon.")),
                                         redemption__member_id=request.user.pk).first()
        if code is None:
            raise not_found(_("No such coupon."))
        code = services.mark_code_used(code, member=request.user)
        return Response(CouponSerializer(code, context={"now": timezone.now()}).data)



