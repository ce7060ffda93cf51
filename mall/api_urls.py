"""Routes of the REST API, mounted at ``/api/v1/`` by ``mall.urls``."""

from django.urls import path

from mall import checkout_api, hooks

app_name = "api"

urlpatterns = [
    path("hooks/members/", hooks.MemberHookView.as_view(), name="hook-members"),
    path("hooks/orders/", hooks.OrderHookView.as_view(), name="hook-orders"),
    path("hooks/behaviours/", hooks.BehaviourHookView.as_view(), name="hook-behaviours"),
    path("checkout/quote/", checkout_api.QuoteView.as_view(), name="checkout-quote"),
    path("checkout/holds/", checkout_api.HoldView.as_view(), name="checkout-holds"),
    path("checkout/holds/<int:hold_id>/capture/", checkout_api.CaptureView.as_view(), name="checkout-capture"),
    path("checkout/holds/<int:hold_id>/release/", checkout_api.ReleaseView.as_view(), name="checkout-release"),
]
