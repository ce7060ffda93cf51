"""Points + cash over the API.

* ``POST /api/v1/payments/<provider>/callback/``: the payment provider's notification. No member
  session or token: the provider's signature is the authentication (``PaymentProvider.
  parse_callback``; 400 ``bad_signature``). Hands the verdict to
  ``catalog.services.payments.confirm_payment``: 200 ``{"reference", "status"}``; a replay is the
  same 200; 409 ``payment_expired`` once the payment was released; 400 ``amount_mismatch``; 404
  ``payment_not_found`` (unknown reference or provider).

The redemption's own ``payment`` (``{reference, url, amount, expires_at, status}``) is part of
``catalog.api.RedemptionSerializer``.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.errors import PaymentNotFound
from catalog.models import Payment
from catalog.payments import get_provider
from catalog.services import payments
from common.schema import error_responses

# Text, not an enum, in the schema: an enum named after the field would clash with the other
# ``status`` enums (drf-spectacular's warning, fatal under --fail-on-warn).
PAYMENT_STATUS_HELP = gettext_lazy("pending, paid, failed or expired.")


class PaymentSerializer(serializers.Serializer):
    """The cash part of a points + cash redemption."""

    reference = serializers.CharField()
    url = serializers.SerializerMethodField(help_text=gettext_lazy(
        "Where to send the member to pay (while pending)."))
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    expires_at = serializers.DateTimeField()
    status = serializers.CharField(help_text=PAYMENT_STATUS_HELP)

    def get_url(self, payment) -> str:
        return payment_url(payment, self.context.get("request"))


def payment_url(payment: Payment, request=None) -> str:
    """The provider's URL for ``payment`` (absolute when a request is at hand)."""
    url = get_provider(payment.provider).start(payment)
    if request is not None and url.startswith("/"):
        url = request.build_absolute_uri(url)
    return url


class PaymentCallbackView(APIView):
    """``POST /api/v1/payments/<provider>/callback/``: a provider's signed notification."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    renderer_classes = [JSONRenderer]

    class OutputSerializer(serializers.Serializer):
        reference = serializers.CharField()
        status = serializers.CharField(help_text=PAYMENT_STATUS_HELP)

    @extend_schema(
        operation_id="payments_callback", tags=["payments"], request=None, auth=[],
        responses={200: OutputSerializer, **error_responses(400, 404, 409)},
        description=gettext_lazy(
            "The payment provider's notification, signed by the provider. 400 bad_signature, "
            "amount_mismatch; 404 payment_not_found; 409 payment_expired."),
    )
    def post(self, request, provider: str):
        if len(provider) > 32:
            raise PaymentNotFound()
        adapter = get_provider(provider)
        result = adapter.parse_callback(request.body, request.headers)
        if not Payment.objects.filter(reference=result.reference, provider=provider).exists():
            raise PaymentNotFound()
        payment = payments.confirm_payment(result.reference, paid=result.paid, amount=result.amount)
        return Response({**adapter.acknowledge(), "reference": payment.reference,
                         "status": payment.status})
