"""``/api/v1/me/addresses/``: the member's saved shipping addresses (``catalog.services.addresses``).

* ``GET`` the list (default first, in the page envelope ``{count, next, previous, results}``),
  ``POST`` ``{recipient, phone, region, detail, is_default?}``
  -> 201;
* ``GET|PATCH|PUT|DELETE /api/v1/me/addresses/{id}/``; ``PATCH {"is_default": true}`` makes it
  the default. Anyone else's id is a 404 ``address_not_found``.

Invalid fields are a 400 ``invalid`` with the messages per field (``phone``: a mainland mobile
number, 1[3-9] and 9 more digits).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import services
from catalog.api import id_parameter, parse_id
from catalog.errors import AddressNotFound
from catalog.models import Address
from catalog.payment_models import mobile_validator
from common.fields import StrictBooleanField, StrictCharField
from common.schema import error_responses


class AddressSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    recipient = serializers.CharField()
    phone = serializers.CharField()
    region = serializers.CharField()
    detail = serializers.CharField()
    is_default = serializers.BooleanField()


@extend_schema_field({"type": "string", "pattern": "^1[3-9][0-9]{9}$", "maxLength": 11})
class MobileField(StrictCharField):
    """A mainland mobile number; the schema says its pattern so clients can check it first."""

    def __init__(self, **kwargs):
        super().__init__(max_length=11, validators=[mobile_validator], **kwargs)


class AddressInputSerializer(serializers.Serializer):
    recipient = StrictCharField(max_length=50)
    phone = MobileField(help_text=gettext_lazy("A mainland mobile number."))
    region = StrictCharField(max_length=100)
    detail = StrictCharField(max_length=200)
    is_default = StrictBooleanField(required=False, default=False)


def _own(request, address_id: str) -> Address:
    pk = parse_id(address_id, AddressNotFound.default_message)
    found = Address.objects.filter(pk=pk, member_id=request.user.pk).first()
    if found is None:
        raise AddressNotFound()
    return found


class AddressListView(generics.ListAPIView):
    """Listed in the API's one page envelope, like every list (``common.pagination``)."""

    serializer_class = AddressSerializer

    def get_queryset(self):
        return Address.objects.filter(member_id=self.request.user.pk).order_by("-is_default", "-id")

    @extend_schema(operation_id="me_addresses_list", tags=["me"],
                   responses={200: AddressSerializer(many=True), **error_responses(400, 401, 404, 429)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(operation_id="me_addresses_create", tags=["me"], request=AddressInputSerializer,
                   responses={201: AddressSerializer, **error_responses(400, 401, 409, 415, 429)})
    def post(self, request):
        serializer = AddressInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        address = services.add_address(request.user, **serializer.validated_data)
        return Response(AddressSerializer(address).data, status=status.HTTP_201_CREATED)


class AddressDetailView(APIView):
    @extend_schema(operation_id="me_addresses_retrieve", tags=["me"],
                   parameters=[id_parameter("address_id")],
                   responses={200: AddressSerializer, **error_responses(401, 404, 429)})
    def get(self, request, address_id: str):
        return Response(AddressSerializer(_own(request, address_id)).data)

    def _update(self, request, address_id: str, *, partial: bool):
        address = _own(request, address_id)
        serializer = AddressInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        if partial and "is_default" not in request.data:
            values.pop("is_default", None)
        address = services.update_address(request.user, address, **values)
        return Response(AddressSerializer(address).data)

    @extend_schema(operation_id="me_addresses_update", tags=["me"], request=AddressInputSerializer,
                   parameters=[id_parameter("address_id")],
                   responses={200: AddressSerializer, **error_responses(400, 401, 404, 415, 429)})
    def put(self, request, address_id: str):
        return self._update(request, address_id, partial=False)

    @extend_schema(operation_id="me_addresses_partial_update", tags=["me"],
                   request=AddressInputSerializer(partial=True),
                   parameters=[id_parameter("address_id")],
                   responses={200: AddressSerializer, **error_responses(400, 401, 404, 415, 429)})
    def patch(self, request, address_id: str):
        return self._update(request, address_id, partial=True)

    @extend_schema(operation_id="me_addresses_destroy", tags=["me"],
                   parameters=[id_parameter("address_id")],
                   responses={204: None, **error_responses(401, 404, 429)})
    def delete(self, request, address_id: str):
        services.remove_address(request.user, _own(request, address_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
