"""Member API v1 for the points mall: products and redemptions (issue 5 §1).

* ``GET /api/v1/products/``: products on sale that the member's tier may see, paginated like
  every list (``{count, next, previous, results}``); filters ``category`` (with its
  sub-categories), ``min_points``/``max_points``, ``affordable=true`` (points price at most the
  member's available points, with the welcome offer), ``search`` and ``ordering``. Read through
  ``catalog.selectors`` (cached; may lag a change by a few seconds, redemption never relies on it).
  ``points_price`` is the list price for everyone; ``member_points`` what this member pays for one
  unit and ``welcome_discount`` the new-member offer in it (``catalog.pricing``; read per request,
  never cached). The discount is per redemption, not per unit: for more units it is the same
  ``welcome_discount`` off the whole.
* ``GET /api/v1/products/{id}/``: one product; 404 ``not_found`` when unknown, off sale or not
  offered to the member's tier.
* ``POST /api/v1/redemptions/`` ``{"product", "quantity"?, "address_id"?, "address"?}`` with an
  ``Idempotency-Key`` header -> 201 with the redemption (``catalog.services.redeem``).
* ``GET /api/v1/redemptions/`` (newest first), ``GET /api/v1/redemptions/{id}/``,
  ``POST /api/v1/redemptions/{id}/cancel/`` ``{"reason"?}``: the member's own only; anyone
  else's id is a 404.
* ``GET /api/v1/lotteries/``: the lotteries open now with their prizes and each prize's odds
  (``catalog.selectors.lottery_odds``); ``POST /api/v1/lotteries/{id}/draw/`` with an
  ``Idempotency-Key`` -> 201 with the draw and its prize (``catalog.services.draw``; the key is
  namespaced per member as for redemptions, and the same key returns the same draw).

Idempotency. The header is required (400 ``idempotency_key_required``), at most 80 visible
ASCII characters. It reaches ``redeem`` as ``api:{member id}:{key}``, so two members' keys never
meet and the API's keys never meet the member pages'. The service returns the first redemption for
a repeated key with the same body (a 201 with it, as it is now: identical to the first answer
unless it has been cancelled or shipped since) and raises ``IdempotencyConflict`` (409
``idempotency_conflict``) for another body. A refused redemption writes nothing, so a retry under
the same key is judged again (and may succeed once the member has the points).

Physical goods need an address: ``address_id`` (one of the member's saved addresses; the
redemption keeps its text) or, for older clients, a non-blank ``address`` text; without either
it is a 400 ``address_required``. Other kinds need neither.

Points + cash (the product's ``cash_price`` > 0): 201 with ``status: "awaiting_payment"``, the
points held, and ``payment: {reference, url, amount, expires_at, status}``; send the member to
``url``. The provider's callback settles it (``catalog.payments_api``); unpaid by ``expires_at``
it is cancelled and the points and stock go back.

``code`` of a redemption is a list: the coupon codes it was given, one per unit, oldest first
(empty for physical goods and privileges). A list, not a string, so a redemption of several
coupons has one shape for the apps.

Errors are raised as domain errors and rendered by ``common.api.exception_handler``.
"""

from __future__ import annotations

import math

from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import exceptions, generics, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from catalog import recommendations, selectors, services
from catalog.errors import AddressRequired
from catalog.models import Draw, Lottery, PrizeKind, Product, ProductKind, RedemptionStatus
from catalog.payments_api import PaymentSerializer
from common.db import stale_ok
from common.fields import StrictCharField, StrictIntegerField
from common.headers import MAX_IDEMPOTENCY_KEY, idempotency_key, replayed_header
from common.pagination import Pagination, page_number
from common.schema import error_responses
from points import selectors as points_selectors
from rules.tiers import default_tier_code

# Bounds of the integer columns the filters compare with: a larger number is a 400, not an
# overflow in the database.
MAX_ID = 2**63 - 1
MAX_POINTS_FILTER = 2**31 - 1


def api_key(member, key: str) -> str:
    """The redemption key of a member's ``Idempotency-Key``: namespaced per member."""
    return f"api:{member.pk}:{key}"


def not_found(message) -> exceptions.NotFound:
    return exceptions.NotFound(message, code="not_found")


def id_parameter(name: str) -> OpenApiParameter:
    return OpenApiParameter(name, {"type": "integer", "minimum": 1}, OpenApiParameter.PATH)


def parse_id(raw: str, message) -> int:
    """An id from the URL (the routes take any text, so a malformed id is this JSON 404 rather
    than Django's page for an unmatched URL)."""
    # At most 19 digits before int(): it raises ValueError (a 500) past 4,300.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and 1 <= int(raw) <= MAX_ID):
        raise not_found(message)
    return int(raw)


# --------------------------------------------------------------------------- output shapes

# An enum in the schema: ProductKindEnum, named in SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]
# (else it would be "KindEnum" and clash with the ledger entries' ``kind``).
KIND_HELP = gettext_lazy("physical, coupon or privilege.")


class CategorySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    parent_id = serializers.IntegerField(allow_null=True)


class ProductImageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField(help_text=gettext_lazy("The original picture (absolute URL)."))
    thumbnail = serializers.URLField(help_text=gettext_lazy("The picture 400 pixels wide."))
    is_cover = serializers.BooleanField()


class ProductSerializer(serializers.Serializer):
    """A product as listed (a ``catalog.selectors.product_dict``, URLs made absolute by
    ``for_request``)."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=ProductKind.choices, help_text=KIND_HELP)
    category = CategorySerializer(allow_null=True)
    points_price = serializers.IntegerField(help_text=gettext_lazy("Points for one unit."))
    cash_price = serializers.DecimalField(
        max_digits=10, decimal_places=2,
        help_text=gettext_lazy("Cash paid on top of the points for one unit; 0.00 for points only."),
    )
    stock = serializers.IntegerField()
    in_stock = serializers.BooleanField()
    image = serializers.URLField(allow_null=True, help_text=gettext_lazy(
        "The cover picture 400 pixels wide (absolute URL); null without a picture."))
    images = ProductImageSerializer(many=True, help_text=gettext_lazy("Every picture, the cover first."))
    points_short = serializers.IntegerField(allow_null=True, help_text=gettext_lazy(
        "Points the member lacks to redeem one unit (member_points less their available points); "
        "0 when they can; null when not signed in."))
    member_points = serializers.IntegerField(help_text=gettext_lazy(
        "Points this member pays for one unit: points_price less welcome_discount."))
    welcome_discount = serializers.IntegerField(help_text=gettext_lazy(
        "Points the new-member offer takes off this member's first redemption (once, not per "
        "unit; never more than the price); 0 when none applies."))


class ProductDetailSerializer(ProductSerializer):
    """A product with everything its page shows."""

    description = serializers.CharField()
    per_member_limit = serializers.IntegerField(
        allow_null=True,
        help_text=gettext_lazy("Most units one member can redeem over time; null: no limit."),
    )
    sale_starts_at = serializers.DateTimeField(allow_null=True)
    sale_ends_at = serializers.DateTimeField(allow_null=True)


class RedemptionSerializer(serializers.Serializer):
    """One of the member's redemptions."""

    class ProductSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        name = serializers.CharField()
        kind = serializers.ChoiceField(choices=ProductKind.choices, help_text=KIND_HELP)
        image = serializers.SerializerMethodField()

        @extend_schema_field(serializers.URLField(allow_null=True, help_text=gettext_lazy(
            "The cover picture 400 pixels wide (absolute URL) or null.")))
        def get_image(self, product) -> str | None:
            cover = cover_of(product)
            if cover is None:
                return None
            request = self.context.get("request")
            url = cover.thumbnail_400.url if cover.thumbnail_400 else cover.image.url
            return request.build_absolute_uri(url) if request is not None else url

    id = serializers.IntegerField()
    product = ProductSerializer()
    quantity = serializers.IntegerField()
    points = serializers.IntegerField(help_text=gettext_lazy(
        "Points spent on all units, after welcome_discount."))
    welcome_discount = serializers.IntegerField(help_text=gettext_lazy(
        "Points the new-member offer took off this redemption; 0 when none applied."))
    cash = serializers.DecimalField(max_digits=12, decimal_places=2)
    status = serializers.ChoiceField(choices=RedemptionStatus.choices)
    status_display = serializers.CharField(source="status_label", help_text=gettext_lazy(
        "The status in the reader's language and the product's words: a fulfilled coupon is "
        "issued, a privilege activated, goods shipped."))
    code = serializers.SerializerMethodField()
    address = serializers.CharField()
    payment = serializers.SerializerMethodField()
    tracking_number = serializers.CharField()
    created_at = serializers.DateTimeField()
    cancelled_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(serializers.ListField(
        child=serializers.CharField(),
        help_text=gettext_lazy("The coupon codes given, one per unit; empty for other kinds."),
    ))
    def get_code(self, redemption) -> list[str]:
        return [code.code for code in redemption.codes.all()]

    @extend_schema_field(PaymentSerializer(allow_null=True, help_text=gettext_lazy(
        "The cash part of a points + cash redemption and where to pay it; null for points only.")))
    def get_payment(self, redemption) -> dict | None:
        payment = getattr(redemption, "payment", None) if redemption.cash else None
        if payment is None:
            return None
        return PaymentSerializer(payment, context=self.context).data


def cover_of(product):
    """The product's cover ``ProductImage`` (or its first picture, or None), from its prefetched
    ``images`` (``selectors.redemptions`` prefetches them)."""
    pictures = list(product.images.all())
    return next((picture for picture in pictures if picture.is_cover), pictures[0] if pictures else None)


def for_request(request, product: dict, available: int | None) -> dict:
    """A product dict for the API: absolute picture URLs and ``points_short`` (None for an
    anonymous caller, whose ``available`` is None)."""
    absolute = request.build_absolute_uri
    return {
        **product,
        "image": absolute(product["image"]) if product["image"] else None,
        "images": [{**picture, "url": absolute(picture["url"]),
                    "thumbnail": absolute(picture["thumbnail"])} for picture in product["images"]],
        "points_short": None if available is None else max(0, product["member_points"] - available),
    }


def caller_tier(user) -> str:
    """The tier whose products the caller sees: the member's, or the lowest published tier for
    an anonymous visitor."""
    return user.tier if user.is_authenticated else default_tier_code()


def available_points(user) -> int | None:
    return points_selectors.balance(user, months=0).available if user.is_authenticated else None


def own_redemption(member, redemption_id: int | str):
    """The member's redemption with its product and codes; 404 for anyone else's."""
    if isinstance(redemption_id, str):
        redemption_id = parse_id(redemption_id, _("No such redemption."))
    redemption = selectors.redemption(member, redemption_id)
    if redemption is None:
        raise not_found(_("No such redemption."))
    return redemption


# --------------------------------------------------------------------------- products


@extend_schema_field(OpenApiTypes.BOOL)
class QueryBooleanField(serializers.Field):
    """A query flag: ``true`` or ``false`` exactly (DRF's would also take ``yes``, ``on``...)."""

    default_error_messages = {"invalid": gettext_lazy("Must be true or false.")}

    def to_internal_value(self, data):
        if data not in ("true", "false"):
            self.fail("invalid")
        return data == "true"


PAGE_PARAMETERS = [
    OpenApiParameter("page", {"type": "integer", "minimum": 1}, OpenApiParameter.QUERY,
                     description=gettext_lazy("A page number within the paginated result set.")),
    OpenApiParameter("page_size", {"type": "integer", "minimum": 1,
                                   "maximum": Pagination.max_page_size},
                     OpenApiParameter.QUERY,
                     description=gettext_lazy("Number of results to return per page.")),
]


class ProductListView(APIView):
    """``GET /api/v1/products/``: products on sale that the member's tier may see (open to
    anonymous callers: they see what the lowest tier sees, with ``points_short`` null and
    ``affordable`` ignored)."""

    permission_classes = [AllowAny]

    class FilterSerializer(serializers.Serializer):
        category = serializers.IntegerField(
            required=False, min_value=1, max_value=MAX_ID,
            help_text=gettext_lazy("A category id; its sub-categories are included."),
        )
        min_points = serializers.IntegerField(required=False, min_value=0, max_value=MAX_POINTS_FILTER)
        max_points = serializers.IntegerField(required=False, min_value=0, max_value=MAX_POINTS_FILTER)
        affordable = QueryBooleanField(
            required=False,
            help_text=gettext_lazy("true: only products of which the member can pay for one "
                                   "unit now (member_points at most their available points)."),
        )
        search = StrictCharField(
            required=False, allow_blank=True, max_length=selectors.MAX_SEARCH,
            help_text=gettext_lazy("Words in the name or description (case-insensitive)."),
        )
        ordering = serializers.ChoiceField(
            required=False, choices=list(selectors.ORDERINGS),
            help_text=gettext_lazy("default (the mall's order), points, -points, newest, popular."),
        )

    class OutputSerializer(serializers.Serializer):
        count = serializers.IntegerField()
        next = serializers.URLField(allow_null=True)
        previous = serializers.URLField(allow_null=True)
        results = ProductSerializer(many=True)

    @extend_schema(
        operation_id="products_list", tags=["mall"],
        parameters=[FilterSerializer, *PAGE_PARAMETERS],
        responses={200: OutputSerializer, **error_responses(400, 404, 429)},
    )
    @method_decorator(stale_ok)  # a list a few seconds behind is fine (common.db: the replica)
    def get(self, request):
        # An empty parameter (``?category=``) is the same as leaving it out.
        raw = {name: value for name, value in request.query_params.items() if value != ""}
        serializer = self.FilterSerializer(data=raw)
        serializer.is_valid(raise_exception=True)
        filters = dict(serializer.validated_data)
        page_size = Pagination().get_page_size(request)
        page = page_number(request)
        max_points = filters.get("max_points")
        offer = selectors.welcome_offer_for(request.user)
        available = available_points(request.user)
        if filters.get("affordable") and available is not None:
            # One unit is affordable when its price less the welcome offer is.
            ceiling = available + offer
            max_points = ceiling if max_points is None else min(max_points, ceiling)
        found = selectors.product_list(
            category=filters.get("category"), search=filters.get("search", ""),
            min_points=filters.get("min_points"), max_points=max_points,
            ordering=filters.get("ordering", "default"), page=page, page_size=page_size,
            tier=caller_tier(request.user),
        )
        if page > found["num_pages"]:
            raise not_found(_("Invalid page."))
        url = request.build_absolute_uri()
        body = {
            "count": found["count"],
            "next": (replace_query_param(url, "page", page + 1)
                     if page < found["num_pages"] else None),
            "previous": (None if page == 1 else remove_query_param(url, "page") if page == 2
                         else replace_query_param(url, "page", page - 1)),
            "results": [for_request(request, product, available)
                        for product in selectors.with_member_prices(found["results"], offer)],
        }
        return Response(self.OutputSerializer(body).data)


class ProductDetailView(APIView):
    """``GET /api/v1/products/{id}/``: one product on sale that the member's tier may see (open
    to anonymous callers, as the list)."""

    permission_classes = [AllowAny]

    @extend_schema(operation_id="products_retrieve", tags=["mall"],
                   parameters=[id_parameter("product_id")],
                   responses={200: ProductDetailSerializer, **error_responses(404, 429)})
    def get(self, request, product_id: str):
        product = selectors.product_detail(parse_id(product_id, _("No such product.")),
                                           tier=caller_tier(request.user))
        if product is None:
            raise not_found(_("No such product."))
        [product] = selectors.with_member_prices([product], selectors.welcome_offer_for(request.user))
        return Response(ProductDetailSerializer(
            for_request(request, product, available_points(request.user))).data)


# --------------------------------------------------------------------------- recommendations

# The most recommendations a member is given at once: one page at the default page size.
MAX_RECOMMENDATIONS = 20


def _product_page(request, products) -> dict:
    """``Product`` rows (at most ``MAX_RECOMMENDATIONS``, best first) as one page of the product
    list's envelope, at this caller's prices (as ``ProductListView``)."""
    page_size = Pagination().get_page_size(request)
    page = page_number(request)
    num_pages = max(1, math.ceil(len(products) / page_size))
    if page > num_pages:
        raise not_found(_("Invalid page."))
    shown = products[(page - 1) * page_size:page * page_size]
    offer = selectors.welcome_offer_for(request.user)
    available = available_points(request.user)
    dicts = selectors.with_member_prices([selectors.product_dict(item) for item in shown], offer)
    url = request.build_absolute_uri()
    return {
        "count": len(products),
        "next": replace_query_param(url, "page", page + 1) if page < num_pages else None,
        "previous": (None if page == 1 else remove_query_param(url, "page") if page == 2
                     else replace_query_param(url, "page", page - 1)),
        "results": [for_request(request, item, available) for item in dicts],
    }


class RecommendationsView(APIView):
    """``GET /api/v1/me/recommendations/``: up to 20 products recommended for the member, best
    first (``catalog.recommendations.recommended_for``: like what they redeemed and bought, not
    redeemed yet, visible to their tier, on sale and in stock; topped up with what is popular in
    their RFM segment), in the product list's envelope."""

    @extend_schema(operation_id="me_recommendations_list", tags=["mall"],
                   parameters=PAGE_PARAMETERS,
                   responses={200: ProductListView.OutputSerializer,
                              **error_responses(400, 401, 404, 429)})
    def get(self, request):
        products = recommendations.recommended_for(request.user, limit=MAX_RECOMMENDATIONS)
        return Response(ProductListView.OutputSerializer(_product_page(request, products)).data)


class RelatedProductsView(APIView):
    """``GET /api/v1/products/{id}/related/``: "people who redeemed this also redeemed": up to 20
    of the product's most similar products the caller may see, on sale and in stock (for a
    member, not those they already redeemed), most similar first. 404 ``not_found`` for a product
    the caller could not open (``GET /api/v1/products/{id}/``). Open to anonymous callers, as the
    product."""

    permission_classes = [AllowAny]

    @extend_schema(operation_id="products_related_list", tags=["mall"],
                   parameters=[id_parameter("product_id"), *PAGE_PARAMETERS],
                   responses={200: ProductListView.OutputSerializer,
                              **error_responses(400, 404, 429)})
    def get(self, request, product_id: str):
        product = selectors.product_detail(parse_id(product_id, _("No such product.")),
                                           tier=caller_tier(request.user))
        if product is None:
            raise not_found(_("No such product."))
        products = recommendations.related_to(product["id"], request.user,
                                              limit=MAX_RECOMMENDATIONS)
        return Response(ProductListView.OutputSerializer(_product_page(request, products)).data)


# --------------------------------------------------------------------------- redemptions


IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    "Idempotency-Key", {"type": "string", "pattern": f"^[!-~]{{1,{MAX_IDEMPOTENCY_KEY}}}$"},
    OpenApiParameter.HEADER, required=True,
    description=gettext_lazy(
        "Required; at most 80 visible ASCII characters, chosen by the app for each redemption. "
        "Repeated with the same body it returns the same redemption (201); with another body it "
        "is a 409 idempotency_conflict."
    ),
)


class RedemptionCreateInputSerializer(serializers.Serializer):
    """The body of ``POST /api/v1/redemptions/``."""

    product = StrictIntegerField(min_value=1, max_value=MAX_ID,
                                 help_text=gettext_lazy("The product's id."))
    quantity = StrictIntegerField(min_value=1, max_value=services.MAX_QUANTITY, required=False,
                                  default=1)
    address = StrictCharField(
        max_length=1000, required=False, allow_blank=True, default="",
        help_text=gettext_lazy("Shipping address as text, for physical goods (address_id is "
                               "preferred)."),
    )
    address_id = StrictIntegerField(
        min_value=1, max_value=MAX_ID, required=False, allow_null=True, default=None,
        help_text=gettext_lazy("One of the member's saved addresses (GET /api/v1/me/addresses/); "
                               "physical goods need it or a non-blank address."),
    )


class RedemptionListView(generics.ListAPIView):
    """``GET /api/v1/redemptions/``: the member's redemptions, newest first;
    ``POST``: redeem a product."""

    serializer_class = RedemptionSerializer

    def get_queryset(self):
        return selectors.redemptions(self.request.user)

    @extend_schema(operation_id="redemptions_list", tags=["mall"],
                   description=gettext_lazy("The member's redemptions, newest first."),
                   responses={200: RedemptionSerializer(many=True),
                              **error_responses(400, 401, 404, 429)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="redemptions_create", tags=["mall"], request=RedemptionCreateInputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={201: RedemptionSerializer, **error_responses(400, 401, 403, 404, 409, 415, 429)},
        description=gettext_lazy(
            "Spend points on a product. 409 refusals: insufficient_points, out_of_stock, "
            "limit_reached, not_available, idempotency_conflict, welcome_offer_used. 404: no such "
            "product."
        ),
    )
    def post(self, request):
        key = idempotency_key(request)
        serializer = RedemptionCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        product = Product.objects.filter(pk=data["product"]).only("id", "kind").first()
        if product is None:
            raise not_found(_("No such product."))
        address = data["address"].strip()
        if (product.kind == ProductKind.PHYSICAL and data["address_id"] is None
                and not address):
            raise AddressRequired(field="address_id")
        redemption = services.redeem(request.user, product, data["quantity"],
                                     key=api_key(request.user, key), address=address,
                                     saved_address=data["address_id"])
        body = RedemptionSerializer(own_redemption(request.user, redemption.pk),
                                    context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED, headers=replayed_header(redemption))


class RedemptionDetailView(APIView):
    """``GET /api/v1/redemptions/{id}/``: one of the member's redemptions."""

    @extend_schema(operation_id="redemptions_retrieve", tags=["mall"],
                   parameters=[id_parameter("redemption_id")],
                   responses={200: RedemptionSerializer, **error_responses(401, 404, 429)})
    def get(self, request, redemption_id: str):
        return Response(RedemptionSerializer(own_redemption(request.user, redemption_id),
                                             context={"request": request}).data)


class RedemptionCancelView(APIView):
    """``POST /api/v1/redemptions/{id}/cancel/``: cancel one's own redemption before it ships;
    its points and stock go back. Cancelling a cancelled one again changes nothing (200)."""

    class InputSerializer(serializers.Serializer):
        reason = StrictCharField(required=False, allow_blank=True, max_length=200)

    @extend_schema(
        operation_id="redemptions_cancel", tags=["mall"], request=InputSerializer,
        parameters=[id_parameter("redemption_id")],
        responses={200: RedemptionSerializer, **error_responses(400, 401, 403, 404, 409, 415, 429)},
        description=gettext_lazy("409 invalid_transition once the redemption is fulfilled."),
    )
    def post(self, request, redemption_id: str):
        redemption = own_redemption(request.user, redemption_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reason = serializer.validated_data.get("reason") or _("Cancelled by the member")
        services.cancel(redemption, reason=reason)
        return Response(RedemptionSerializer(own_redemption(request.user, redemption.pk),
                                    context={"request": request}).data)



# --------------------------------------------------------------------------- lotteries


class PrizeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=PrizeKind.choices,
                                   help_text=gettext_lazy("points, product, coupon or nothing."))
    points = serializers.IntegerField(allow_null=True,
                                      help_text=gettext_lazy("Points won, for a points prize."))
    product_id = serializers.IntegerField(allow_null=True,
                                          help_text=gettext_lazy("For a product or coupon prize."))
    odds = serializers.FloatField(help_text=gettext_lazy(
        "Chance of this prize on the next draw: its weight over the total weight of the prizes "
        "in stock (0 when out of stock)."))


class LotterySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    cost_points = serializers.IntegerField(help_text=gettext_lazy("Points per draw."))
    daily_limit = serializers.IntegerField(allow_null=True, help_text=gettext_lazy(
        "Draws per member per day; null: no limit."))
    starts_at = serializers.DateTimeField(allow_null=True)
    ends_at = serializers.DateTimeField(allow_null=True)
    tickets_only = serializers.BooleanField(help_text=gettext_lazy(
        "Drawn only with free draws (e.g. earned by a check-in streak)."))
    streak_days = serializers.IntegerField(allow_null=True, help_text=gettext_lazy(
        "A check-in streak of this many days earns one free draw; null: none."))
    free_draws = serializers.IntegerField(help_text=gettext_lazy(
        "Your unused free draws of this lottery; the next draw uses one and costs nothing."))
    prizes = serializers.SerializerMethodField()

    @extend_schema_field(PrizeSerializer(many=True))
    def get_prizes(self, lottery) -> list[dict]:
        return PrizeSerializer(selectors.lottery_odds(lottery), many=True).data


class DrawSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    lottery = serializers.IntegerField(source="lottery_id")
    prize = serializers.SerializerMethodField()
    points_spent = serializers.IntegerField()
    redemption = serializers.IntegerField(source="redemption_id", allow_null=True, help_text=(
        gettext_lazy("The redemption of a product or coupon prize (see /api/v1/redemptions/).")))
    created_at = serializers.DateTimeField()

    class WonPrizeSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        name = serializers.CharField()
        kind = serializers.ChoiceField(choices=PrizeKind.choices,
                                   help_text=gettext_lazy("points, product, coupon or nothing."))
        points = serializers.IntegerField(allow_null=True)
        product_id = serializers.IntegerField(allow_null=True)

    @extend_schema_field(WonPrizeSerializer)
    def get_prize(self, draw) -> dict:
        return self.WonPrizeSerializer(draw.prize).data


class LotteryListView(generics.ListAPIView):
    """``GET /api/v1/lotteries/``: the lotteries open now, with their prizes and odds."""

    serializer_class = LotterySerializer

    def get_queryset(self):
        return selectors.open_lotteries(member=self.request.user)

    @extend_schema(operation_id="lotteries_list", tags=["mall"],
                   description=gettext_lazy("Open lotteries with their prizes and odds."),
                   responses={200: LotterySerializer(many=True),
                              **error_responses(400, 401, 404, 429)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


DRAW_KEY_PARAMETER = OpenApiParameter(
    "Idempotency-Key", {"type": "string", "pattern": f"^[!-~]{{1,{MAX_IDEMPOTENCY_KEY}}}$"},
    OpenApiParameter.HEADER, required=True,
    description=gettext_lazy(
        "Required; at most 80 visible ASCII characters, chosen by the app for each draw. "
        "Repeated, it returns the same draw (201); for another lottery it is a 409 "
        "idempotency_conflict."
    ),
)


class DrawView(APIView):
    """``POST /api/v1/lotteries/{id}/draw/``: draw once; 201 with the prize won.

    It takes no body, but one that is sent must be a JSON object (``{}``)."""

    class InputSerializer(serializers.Serializer):
        pass

    @extend_schema(
        operation_id="lotteries_draw", tags=["mall"], request=None,
        parameters=[id_parameter("lottery_id"), DRAW_KEY_PARAMETER],
        responses={201: DrawSerializer, **error_responses(400, 401, 403, 404, 409, 415, 429)},
        description=gettext_lazy(
            "Draw the lottery once; a free draw of yours is used first (it costs nothing). 409 "
            "refusals: lottery_closed, not_in_segment, no_free_draw, daily_limit_reached, "
            "insufficient_points, no_prize_left, idempotency_conflict. 404: no such lottery."
        ),
    )
    def post(self, request, lottery_id: str):
        key = idempotency_key(request)
        self.InputSerializer(data=request.data).is_valid(raise_exception=True)
        lottery = Lottery.objects.filter(
            pk=parse_id(lottery_id, _("No such lottery."))).only("id").first()
        if lottery is None:
            raise not_found(_("No such lottery."))
        outcome = services.draw(request.user, lottery, key=api_key(request.user, key))
        draw = Draw.objects.select_related("prize").get(pk=outcome.pk)
        return Response(DrawSerializer(draw).data, status=status.HTTP_201_CREATED,
                        headers=replayed_header(outcome))
