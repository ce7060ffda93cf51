"""Routes of the REST API, mounted at ``/api/v1/`` by ``mall.urls``."""

from django.urls import path

from mall import hooks

app_name = "api"

urlpatterns = [
    path("hooks/members/", hooks.MemberHookView.as_view(), name="hook-members"),
    path("hooks/orders/", hooks.OrderHookView.as_view(), name="hook-orders"),
    path("hooks/behaviours/", hooks.BehaviourHookView.as_view(), name="hook-behaviours"),
]
