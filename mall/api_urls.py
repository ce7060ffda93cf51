"""Routes of the REST API, mounted at ``/api/v1/`` by ``mall.urls``."""

from django.urls import path

from catalog import checkout
from mall import hooks

app_name = "api"

urlpatterns = [
    path("hooks/members/", hooks.MemberHookView.as_view(), name="hook-members"),
    path("hooks/orders/", hooks.OrderHookView.as_view(), name="hook-orders"),
    path("hooks/behaviours/", hooks.BehaviourHookView.as_view(), name="hook-behaviours"),
    path("checkout/quote/", checkout.QuoteView.as_view(), name="checkout-quote"),
    path("checkout/holds/", checkout.HoldView.as_view(), name="checkout-holds"),
    path("checkout/holds/<int:hold_id>/capture/", checkout.CaptureView.as_view(), name="checkout-capture"),
    path("checkout/holds/<int:hold_id>/release/", checkout.ReleaseView.as_view(), name="checkout-release"),
]
