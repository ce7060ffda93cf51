"""The sandbox payment provider's page (``catalog.payments.sandbox``): ``/pay/sandbox/<reference>/``.

GET shows what is to be paid (the points held and the cash) with a Pay and a Fail button; POST
signs the callback the sandbox provider would send and hands it to the same callback path as a
real provider's (``parse_callback`` then ``confirm_payment``), then sends the member to the
redemption page. Only the member who owns the payment sees it (anyone else's is a 404).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from catalog import services as catalog_services
from catalog.models import Payment, PaymentStatus
from catalog.payments import get_provider
from catalog.payments.sandbox import SIGNATURE_HEADER, callback_body, sign
from common.errors import DomainError
from common.pages import show_error


@login_required
@require_http_methods(["GET", "POST"])
def sandbox_pay(request, reference: str):
    payment = (Payment.objects.select_related("redemption__product")
               .filter(reference=reference, provider="sandbox",
                       redemption__member_id=request.user.pk).first())
    if payment is None:
        raise Http404(_("No such payment."))
    redemption = payment.redemption
    if request.method == "POST":
        action = request.POST.get("action")
        if action not in ("pay", "fail"):
            return render(request, "pages/sandbox_pay.html", {
                "payment": payment, "redemption": redemption, "nav": "orders",
                "error": _("Choose Pay or Fail."),
            }, status=400)
        body = callback_body(payment.reference, paid=action == "pay", amount=payment.amount)
        try:
            result = get_provider("sandbox").parse_callback(body, {SIGNATURE_HEADER: sign(body)})
            confirmed = catalog_services.confirm_payment(result.reference, paid=result.paid,
                                                         amount=result.amount)
        except DomainError as exc:
            show_error(request, exc)
        else:
            if confirmed.status == PaymentStatus.PAID:
                messages.success(request, _("Paid ¥%(amount)s. Your redemption is confirmed.")
                                 % {"amount": confirmed.amount})
            else:
                messages.error(request, _("The payment failed; your points are back in your "
                                          "account."))
        return redirect("redemption", redemption_id=redemption.pk)
    return render(request, "pages/sandbox_pay.html", {
        "payment": payment, "redemption": redemption, "pending": payment.status == PaymentStatus.PENDING,
        "nav": "orders",
    })
