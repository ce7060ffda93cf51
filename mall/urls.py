import re

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from mall import address_views, auction_views, payment_views, views

# Under /api/ these answer JSON in the API's error shape; a database outage is a 503 (common.http).
handler400 = "common.http.bad_request"
handler403 = "common.http.permission_denied"
handler404 = "common.http.page_not_found"
handler500 = "common.http.server_error"

urlpatterns = [
    path("healthz/", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("mall.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file (?script): no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("i18n/", include("django.conf.urls.i18n")),
    # Member pages (server-rendered, phone-first).
    path("", views.home, name="home"),
    path("accounts/login/", views.login_view, name="login"),
    path("accounts/logout/", views.logout_view, name="logout"),
    path("accounts/register/", views.register_view, name="register"),
    path("accounts/profile/", views.account, name="account"),
    path("accounts/password/", views.password_change, name="password-change"),
    path("accounts/close/", views.close_account, name="close-account"),
    path("check-in/", views.check_in, name="check-in"),
    path("points/", views.history, name="history"),
    path("mall/", views.mall, name="mall"),
    path("mall/<int:product_id>/", views.product, name="product"),
    path("mall/<int:product_id>/redeem/", views.redeem, name="redeem"),
    path("lottery/<int:lottery_id>/", views.lottery, name="lottery"),
    path("redemptions/", views.redemptions, name="redemptions"),
    path("redemptions/<int:redemption_id>/", views.redemption, name="redemption"),
    path("redemptions/<int:redemption_id>/cancel/", views.cancel_redemption, name="cancel-redemption"),
    path("pay/sandbox/<str:reference>/", payment_views.sandbox_pay, name="sandbox-pay"),
    path("addresses/", address_views.addresses, name="addresses"),
    path("addresses/add/", address_views.add, name="address-add"),
    path("addresses/<int:address_id>/edit/", address_views.edit, name="address-edit"),
    path("addresses/<int:address_id>/delete/", address_views.delete, name="address-delete"),
    path("addresses/<int:address_id>/default/", address_views.make_default, name="address-default"),
    path("auctions/", auction_views.auctions, name="auctions"),
    path("auctions/<int:auction_id>/", auction_views.auction, name="auction"),
    path("auctions/<int:auction_id>/price/", auction_views.auction_price, name="auction-price"),
    path("auctions/<int:auction_id>/bid/", auction_views.bid, name="auction-bid"),
    path("invite/", views.invite_page, name="invite"),
    path("team/", views.team, name="team"),
    path("badges/", views.badges, name="badges"),
    path("coupons/", views.coupons, name="coupons"),
    path("coupons/<int:coupon_id>/use/", views.use_coupon, name="coupon-use"),
    path("messages/", views.inbox, name="messages"),
    path("messages/read-all/", views.read_all_messages, name="messages-read-all"),
    path("messages/<int:message_id>/read/", views.read_message, name="message-read"),
]

# Uploads (badge icons, product pictures) under MEDIA_URL: served by the app with DEBUG (``make
# run``) or SERVE_MEDIA=1; otherwise the web server in front serves MEDIA_ROOT. Only for a local
# MEDIA_URL (a path, not another host such as a CDN or an object store).
if settings.SERVE_MEDIA and settings.MEDIA_URL.startswith("/") and not settings.MEDIA_URL.startswith("//"):
    urlpatterns += [
        re_path(rf"^{re.escape(settings.MEDIA_URL.lstrip('/'))}(?P<path>.*)$", serve,
                {"document_root": settings.MEDIA_ROOT}, name="media"),
    ]
