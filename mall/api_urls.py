"""Routes of the REST API, mounted at ``/api/v1/`` by ``mall.urls``."""

from django.urls import path, re_path

from catalog import addresses_api, auctions_api, payments_api, wallet_api
from catalog import api as catalog_api
from mall import checkout_api, hooks, member_api, messages_api, play_api, team_api
from points import api as points_api

app_name = "api"

urlpatterns = [
    path("hooks/members/", hooks.MemberHookView.as_view(), name="hook-members"),
    path("hooks/orders/", hooks.OrderHookView.as_view(), name="hook-orders"),
    path("hooks/behaviours/", hooks.BehaviourHookView.as_view(), name="hook-behaviours"),
    path("checkout/quote/", checkout_api.QuoteView.as_view(), name="checkout-quote"),
    path("checkout/holds/", checkout_api.HoldView.as_view(), name="checkout-holds"),
    path("checkout/holds/<int:hold_id>/capture/", checkout_api.CaptureView.as_view(),
         name="checkout-capture"),
    path("checkout/holds/<int:hold_id>/release/", checkout_api.ReleaseView.as_view(),
         name="checkout-release"),
    path("auth/token/", member_api.TokenObtainView.as_view(), name="token"),
    path("auth/token/refresh/", member_api.TokenRefreshView.as_view(), name="token-refresh"),
    path("auth/register/", member_api.RegisterView.as_view(), name="register"),
    path("auth/logout/", member_api.LogoutView.as_view(), name="logout"),
    path("me/password/", member_api.PasswordView.as_view(), name="me-password"),
    path("me/close/", member_api.CloseAccountView.as_view(), name="me-close"),
    path("me/", member_api.MeView.as_view(), name="me"),
    path("me/points/", points_api.BalanceView.as_view(), name="me-points"),
    path("me/points/entries/", points_api.EntryListView.as_view(), name="me-entries"),
    path("me/check-in/", points_api.CheckInView.as_view(), name="me-check-in"),
    path("me/team/", team_api.TeamView.as_view(), name="me-team"),
    path("me/tasks/", play_api.TaskListView.as_view(), name="me-tasks"),
    path("me/badges/", play_api.BadgeListView.as_view(), name="me-badges"),
    path("me/recommendations/", catalog_api.RecommendationsView.as_view(), name="me-recommendations"),
    path("me/team/rewards/", team_api.RewardListView.as_view(), name="me-team-rewards"),
    # Message ids are parsed by the view: a malformed one is the JSON 404 message_not_found.
    path("me/messages/", messages_api.MessageListView.as_view(), name="me-messages"),
    path("me/messages/read-all/", messages_api.MessageReadAllView.as_view(),
         name="me-messages-read-all"),
    re_path(r"^me/messages/(?P<message_id>.*)/read/$", messages_api.MessageReadView.as_view(),
            name="me-message-read"),
    # The mall's ids are parsed by the views (catalog.api.parse_id): a malformed id is the API's
    # JSON 404, not Django's HTML page for an unmatched URL. Cancel comes before the detail.
    path("products/", catalog_api.ProductListView.as_view(), name="products"),
    re_path(r"^products/(?P<product_id>[^/]*)/related/$", catalog_api.RelatedProductsView.as_view(),
            name="product-related"),
    re_path(r"^products/(?P<product_id>.*)/$", catalog_api.ProductDetailView.as_view(),
            name="product"),
    path("lotteries/", catalog_api.LotteryListView.as_view(), name="lotteries"),
    re_path(r"^lotteries/(?P<lottery_id>.*)/draw/$", catalog_api.DrawView.as_view(),
            name="lottery-draw"),
    path("redemptions/", catalog_api.RedemptionListView.as_view(), name="redemptions"),
    path("me/addresses/", addresses_api.AddressListView.as_view(), name="me-addresses"),
    re_path(r"^me/addresses/(?P<address_id>.*)/$", addresses_api.AddressDetailView.as_view(),
            name="me-address"),
    re_path(r"^payments/(?P<provider>[^/]+)/callback/$", payments_api.PaymentCallbackView.as_view(),
            name="payment-callback"),
    path("me/coupons/", wallet_api.CouponListView.as_view(), name="me-coupons"),
    re_path(r"^me/coupons/(?P<coupon_id>.*)/use/$", wallet_api.CouponUseView.as_view(),
            name="me-coupon-use"),
    re_path(r"^redemptions/(?P<redemption_id>.*)/cancel/$",
            catalog_api.RedemptionCancelView.as_view(), name="redemption-cancel"),
    re_path(r"^redemptions/(?P<redemption_id>.*)/$", catalog_api.RedemptionDetailView.as_view(),
            name="redemption"),
    path("auctions/", auctions_api.AuctionListView.as_view(), name="auctions"),
    re_path(r"^auctions/(?P<auction_id>.*)/bids/$", auctions_api.BidCreateView.as_view(),
            name="auction-bids"),
    re_path(r"^auctions/(?P<auction_id>.*)/$", auctions_api.AuctionDetailView.as_view(),
            name="auction"),
]
