"""Member API v1 for the member's inbox (issue 10).

* ``GET /api/v1/me/messages/``: the member's messages, newest first, paginated like every list;
  ``?unread=true`` only unread ones, ``?unread=false`` only read ones (anything else is a 400).
* ``POST /api/v1/me/messages/{id}/read/``: mark one read and return it; again is a no-op (the
  first ``read_at`` stays).
* ``POST /api/v1/me/messages/read-all/``: mark every unread message read; ``{"marked": n}``
  counts the ones this call marked (0 the second time).

Only ever the requesting member's messages: another member's id, an unknown one or a malformed
one is the same 404 ``message_not_found``. Title and body are in the request's language
(``Message.text``). The unread count is also in ``GET /api/v1/me/`` (``unread_messages``).
"""

from __future__ import annotations

import django_filters
from django import forms
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from common.schema import ApiErrorSerializer, error_responses
from mall.errors import MessageNotFound
from mall.models import Message, MessageKind
from mall.services import messages

MAX_ID = 2**63 - 1


def parse_message_id(raw: str) -> int:
    """The id in the URL (the route takes any text): a malformed one is the same JSON 404 as
    another member's, not Django's page for an unmatched URL."""
    # At most 19 digits before int(): past 4,300 digits it raises ValueError (a 500).
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and 1 <= int(raw) <= MAX_ID):
        raise MessageNotFound()
    return int(raw)


class StrictBooleanField(forms.Field):
    """``true`` or ``false`` exactly; empty is the same as absent. django-filter's own boolean
    quietly ignores any other value, which would answer every message to ``?unread=yes``."""

    default_error_messages = {"invalid": _("Must be true or false.")}

    def to_python(self, value):
        if value in (None, ""):
            return None
        if value not in ("true", "false"):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return value == "true"


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", forms.TextInput)  # the raw value reaches the field
        super().__init__(*args, **kwargs)


class MessageFilter(django_filters.FilterSet):
    unread = StrictBooleanFilter(field_name="read_at", lookup_expr="isnull",
                                 label=_("true: only unread messages; false: only read ones."))

    class Meta:
        model = Message
        fields = ["unread"]


class MessageSerializer(serializers.ModelSerializer):
    """One of the member's messages, in the request's language."""

    kind = serializers.ChoiceField(choices=MessageKind.choices, read_only=True)
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    title = serializers.SerializerMethodField()
    body = serializers.SerializerMethodField()
    link = serializers.CharField(read_only=True, help_text=_(
        "A page of the member site the message opens (a path such as /mall/), or empty."))
    read = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = ("id", "purpose", "kind", "kind_display", "title", "body", "link", "created_at",
                  "read", "read_at")
        read_only_fields = fields
        extra_kwargs = {"purpose": {"help_text": _("What the message is for: welcome, "
                                                   "expiry_reminder, win_back, broadcast...")}}

    @staticmethod
    def _text(message) -> tuple[str, str]:
        return message.text(translation.get_language() or settings.LANGUAGE_CODE)

    @extend_schema_field(serializers.CharField())
    def get_title(self, message) -> str:
        return self._text(message)[0]

    @extend_schema_field(serializers.CharField())
    def get_body(self, message) -> str:
        return self._text(message)[1]

    @extend_schema_field(serializers.BooleanField())
    def get_read(self, message) -> bool:
        return message.read_at is not None


MESSAGE_ID = OpenApiParameter("message_id", {"type": "integer", "minimum": 1}, OpenApiParameter.PATH)
NOT_FOUND = OpenApiResponse(ApiErrorSerializer, description=_(
    "Not one of the member's messages, or not an id (`message_not_found`)."))


class MessageListView(generics.ListAPIView):
    """``GET /api/v1/me/messages/``: the member's messages, newest first."""

    serializer_class = MessageSerializer
    filterset_class = MessageFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no member
            return Message.objects.none()
        # Only the requesting member's messages (the member, -created_at, -id index).
        return messages.inbox(self.request.user)

    @extend_schema(operation_id="me_messages_list", tags=["messages"],
                   responses={200: MessageSerializer(many=True), **error_responses(400, 401, 404, 429)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class NoBodySerializer(serializers.Serializer):
    """These writes take no body, but one that is sent must be a JSON object (``{}``): a
    malformed one is refused (400, 415) like anywhere else in the API, not ignored."""


class MessageReadView(APIView):
    """``POST /api/v1/me/messages/{id}/read/``: mark one of the member's messages read."""

    @extend_schema(operation_id="me_messages_read", tags=["messages"], request=None,
                   parameters=[MESSAGE_ID],
                   responses={200: MessageSerializer, **error_responses(400, 401, 415, 429),
                              404: NOT_FOUND})
    def post(self, request, message_id: str):
        NoBodySerializer(data=request.data).is_valid(raise_exception=True)
        message = messages.mark_read(request.user, parse_message_id(message_id))
        return Response(MessageSerializer(message).data)


class MessageReadAllView(APIView):
    """``POST /api/v1/me/messages/read-all/``: mark every unread message of the member's read."""

    class OutputSerializer(serializers.Serializer):
        marked = serializers.IntegerField(help_text=_("Messages this call marked read (0 when "
                                                      "none was unread)."))

    @extend_schema(operation_id="me_messages_read_all", tags=["messages"], request=None,
                   responses={200: OutputSerializer, **error_responses(400, 401, 415, 429)})
    def post(self, request):
        NoBodySerializer(data=request.data).is_valid(raise_exception=True)
        return Response(self.OutputSerializer({"marked": messages.mark_all_read(request.user)}).data)
