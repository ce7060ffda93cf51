"""Member API v1 for points auctions (issue 11).

* ``GET /api/v1/auctions/``: auctions, open ones first (soonest end first), then closed ones
  (latest first), paginated like every list.
* ``GET /api/v1/auctions/{id}/``: one auction: current price (null before the first bid), the
  lowest acceptable bid, the leader masked (``t***``), whether the leader is you, your own
  latest bid on it and when it ends (``ends_at`` moves later under anti-sniping).
* ``POST /api/v1/auctions/{id}/bids/`` ``{"points"}`` with an ``Idempotency-Key`` header -> 201
  with the bid and the auction as it is after it (``catalog.services.place_bid``; the key reaches
  it as ``api:{member id}:{key}``). 409 ``bid_too_low``, ``already_leading``, ``auction_closed``,
  ``insufficient_points``, ``idempotency_conflict``; 404 for an unknown auction.

Errors are raised as domain errors and rendered by ``common.api.exception_handler``.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import auction_selectors as selectors
from catalog import services
from catalog.api import (
    IDEMPOTENCY_KEY_PARAMETER,
    KIND_HELP,
    api_key,
    id_parameter,
    not_found,
    parse_id,
)
from catalog.models import Auction, AuctionStatus, BidStatus, ProductKind
from common.fields import StrictIntegerField
from common.headers import idempotency_key, replayed_header
from common.schema import error_responses


def auction_or_404(raw: str) -> Auction:
    auction = selectors.auction(parse_id(raw, _("No such auction.")))
    if auction is None:
        raise not_found(_("No such auction."))
    return auction


class OwnBidSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    points = serializers.IntegerField()
    status = serializers.ChoiceField(choices=BidStatus.choices)
    created_at = serializers.DateTimeField()


class AuctionSerializer(serializers.Serializer):
    """An auction as a member sees it (needs ``request`` in the context)."""

    class ProductSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        name = serializers.CharField()
        kind = serializers.ChoiceField(choices=ProductKind.choices, help_text=KIND_HELP)

    id = serializers.IntegerField()
    product = ProductSerializer()
    status = serializers.ChoiceField(choices=AuctionStatus.choices)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField(help_text=gettext_lazy(
        "When bidding ends; a bid in the last extend_minutes moves it extend_minutes later."))
    start_price = serializers.IntegerField()
    increment = serializers.IntegerField()
    extend_minutes = serializers.IntegerField()
    has_reserve = serializers.SerializerMethodField()
    current_price = serializers.SerializerMethodField()
    minimum_bid = serializers.SerializerMethodField()
    bid_count = serializers.IntegerField()
    leader = serializers.SerializerMethodField()
    leading_is_you = serializers.SerializerMethodField()
    your_bid = serializers.SerializerMethodField()
    closed_at = serializers.DateTimeField(allow_null=True)

    def _member(self):
        return self.context["request"].user

    @extend_schema_field(serializers.BooleanField())
    def get_has_reserve(self, auction) -> bool:
        return auction.reserve_price is not None

    @extend_schema_field(serializers.IntegerField(allow_null=True, help_text=gettext_lazy(
        "The leading bid; null before the first bid.")))
    def get_current_price(self, auction):
        return selectors.current_price(auction)

    @extend_schema_field(serializers.IntegerField(help_text=gettext_lazy(
        "The lowest bid accepted now.")))
    def get_minimum_bid(self, auction) -> int:
        return selectors.lowest_bid(auction)

    @extend_schema_field(serializers.CharField(allow_null=True, help_text=gettext_lazy(
        "The leading bidder, masked; null before the first bid.")))
    def get_leader(self, auction):
        return selectors.leader(auction)

    @extend_schema_field(serializers.BooleanField())
    def get_leading_is_you(self, auction) -> bool:
        return bool(auction.leading_bid_id) and auction.leading_bid.member_id == self._member().pk

    @extend_schema_field(OwnBidSerializer(allow_null=True))
    def get_your_bid(self, auction):
        bid = selectors.own_bid(auction, self._member())
        return OwnBidSerializer(bid).data if bid else None


class AuctionListView(generics.ListAPIView):
    """``GET /api/v1/auctions/``: open auctions first (soonest end first), then closed ones."""

    serializer_class = AuctionSerializer

    def get_queryset(self):
        return selectors.auctions()

    @extend_schema(operation_id="auctions_list", tags=["mall"],
                   responses={200: AuctionSerializer(many=True), **error_responses(400, 401, 404, 429)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class AuctionDetailView(APIView):
    """``GET /api/v1/auctions/{id}/``: one auction, with the member's own bid."""

    @extend_schema(operation_id="auctions_retrieve", tags=["mall"],
                   parameters=[id_parameter("auction_id")],
                   responses={200: AuctionSerializer, **error_responses(401, 404, 429)})
    def get(self, request, auction_id: str):
        return Response(AuctionSerializer(auction_or_404(auction_id), context={"request": request}).data)


class BidInputSerializer(serializers.Serializer):
    points = StrictIntegerField(
        min_value=1, max_value=services.MAX_POINTS,
        help_text=gettext_lazy("The bid, in points (held until outbid or the close)."))


class BidCreatedSerializer(serializers.Serializer):
    bid = OwnBidSerializer()
    auction = AuctionSerializer()


class BidCreateView(APIView):
    """``POST /api/v1/auctions/{id}/bids/``: bid on an auction."""

    @extend_schema(
        operation_id="auctions_bid", tags=["mall"], request=BidInputSerializer,
        parameters=[id_parameter("auction_id"), IDEMPOTENCY_KEY_PARAMETER],
        responses={201: BidCreatedSerializer, **error_responses(400, 401, 403, 404, 409, 415, 429)},
        description=gettext_lazy(
            "Hold the bid's points; the previous leader's hold is released. 409 refusals: "
            "bid_too_low, already_leading, auction_closed, insufficient_points, "
            "idempotency_conflict."),
    )
    def post(self, request, auction_id: str):
        auction = auction_or_404(auction_id)
        key = idempotency_key(request)
        serializer = BidInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        bid = services.place_bid(request.user, auction, serializer.validated_data["points"],
                                 key=api_key(request.user, key))
        body = BidCreatedSerializer({"bid": bid, "auction": auction_or_404(str(auction.pk))},
                                    context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED, headers=replayed_header(bid))
