"""Member API v1: sign-in, sign-up and the member's own profile (issue 5 §1).

One view per operation with nested input/output serializers; the writes are in
``mall.services.members``. The points endpoints under ``/me/points/`` are in ``points.api``.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt import views as jwt_views
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from common import pii
from common.api import refuse_extra_fields
from common.fields import StrictCharField
from common.schema import error_responses
from mall import invite
from mall.authentication import MemberRefreshToken, TokenRevoked, issued_before_revocation
from mall.models import Member, phone_validator
from mall.selectors import tier_progress
from mall.services import accounts, members, messages
from mall.throttles import (
    AnonRateThrottle,
    LoginIPThrottle,
    LoginUsernameThrottle,
    RegisterThrottle,
    sign_in_locked,
)
from rules.tiers import tier_name

# Passwords longer than this are refused before hashing: hashing megabytes is a cheap DoS.
PASSWORD_MAX_LENGTH = 128


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField(help_text=_("Access token: `Authorization: Bearer <access>`."))
    refresh = serializers.CharField(help_text=_(
        "Refresh token for /api/v1/auth/token/refresh/ (used once: the refresh returns a new one) "
        "and /api/v1/auth/logout/."))


class MemberOutputSerializer(serializers.ModelSerializer):
    """The member's own profile. The phone is masked (``138****8000``), as Chinese apps show
    it: a stolen token does not reveal the number; the member types it in full to change it."""

    joined = serializers.DateTimeField(source="date_joined")
    phone = serializers.SerializerMethodField()
    tier = serializers.CharField(help_text=_("The tier's code, e.g. gold (tiers are set in the rules)."))
    tier_name = serializers.SerializerMethodField()
    invite_code = serializers.SerializerMethodField()

    class Meta:
        model = Member
        fields = ("id", "username", "nickname", "phone", "tier", "tier_name", "invite_code", "joined")
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(
        allow_null=True, help_text=_("The member's phone number, masked: 138****8000; null without one.")))
    def get_phone(self, member) -> str | None:
        return pii.mask_phone(member.phone) if member.phone else None

    @extend_schema_field(serializers.CharField(help_text=_("The tier's name in the request's language.")))
    def get_tier_name(self, member) -> str:
        return tier_name(member.tier)

    @extend_schema_field(serializers.CharField())
    def get_invite_code(self, member) -> str:
        # The member's stored code (referrals' node), as the member pages show it.
        return invite.invite_code(member)


def tokens_for(member: Member) -> dict:
    refresh = MemberRefreshToken.for_user(member)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


# --------------------------------------------------------------------------- auth


class TokenObtainView(jwt_views.TokenObtainPairView):
    """``POST /api/v1/auth/token/``: a token pair for a username and password.

    Throttled per submitted username and per client address (429 once either is spent), and
    refused with a 429 too while django-axes locks the (username, address) out after repeated
    failures (the pages count the same failures).
    """

    throttle_classes = [LoginUsernameThrottle, LoginIPThrottle]

    class InputSerializer(TokenObtainPairSerializer):
        token_class = MemberRefreshToken  # carries the sign-in's auth_time (mall.authentication)

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            # Not trimmed: a blank-looking username is a wrong credential (401), not a 400.
            self.fields["username"] = StrictCharField(max_length=150, write_only=True,
                                                      trim_whitespace=False)
            self.fields["password"] = StrictCharField(
                max_length=PASSWORD_MAX_LENGTH, write_only=True, trim_whitespace=False,
                style={"input_type": "password"},
            )

    serializer_class = InputSerializer

    @extend_schema(
        operation_id="auth_token_obtain",
        tags=["auth"],
        auth=[],
        request=InputSerializer,
        responses={200: TokenPairSerializer, **error_responses(400, 401, 415, 429)},
    )
    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except exceptions.AuthenticationFailed:
            if sign_in_locked(request):
                raise exceptions.Throttled(wait=settings.AXES_COOLOFF_TIME.total_seconds()) from None
            raise


class TokenRefreshView(jwt_views.TokenRefreshView):
    """``POST /api/v1/auth/token/refresh/``: a new access token and a new refresh token for a
    valid refresh token, which is blacklisted: each refresh token works once (a second use is a
    401 ``token_not_valid``, as is a logged-out one; one issued before a password change or an
    account closing is a 401 ``token_revoked``). Two refreshes racing with one token: its
    outstanding row is locked, so only one of them gets new tokens."""

    throttle_classes = [AnonRateThrottle]

    class InputSerializer(TokenRefreshSerializer):
        refresh = StrictCharField(max_length=2048, trim_whitespace=False)
        token_class = MemberRefreshToken  # a user_id claim that is not a member id is a 401

        def validate(self, attrs):
            token = self.token_class(attrs["refresh"])  # signature, expiry, blacklist, member id
            try:
                with transaction.atomic():
                    # One use per token: the second of two concurrent refreshes waits here and
                    # then finds the token blacklisted by the first.
                    list(OutstandingToken.objects.select_for_update()
                         .filter(jti=token[jwt_settings.JTI_CLAIM]))
                    member = Member.objects.filter(pk=token.get(jwt_settings.USER_ID_CLAIM)).first()
                    if member is not None and issued_before_revocation(token.payload, member):
                        raise TokenRevoked()
                    return super().validate(attrs)
            except ObjectDoesNotExist:
                # The member was deleted after the token was issued.
                raise exceptions.AuthenticationFailed(
                    self.error_messages["no_active_account"], "no_active_account"
                ) from None

    class OutputSerializer(serializers.Serializer):
        access = serializers.CharField()
        refresh = serializers.CharField(help_text=_("The new refresh token; the one sent is used up."))

    serializer_class = InputSerializer

    @extend_schema(
        operation_id="auth_token_refresh",
        tags=["auth"],
        auth=[],
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 401, 415, 429)},
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class LogoutView(APIView):
    """``POST /api/v1/auth/logout/``: blacklist the refresh token sent, so it refreshes nothing
    any more (204). An invalid, expired or already used one is a 401 ``token_not_valid``. The
    access tokens already issued live out their few minutes."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AnonRateThrottle]

    class InputSerializer(serializers.Serializer):
        refresh = StrictCharField(max_length=2048, trim_whitespace=False)

    def get_authenticate_header(self, request):
        # A refused token is a 401 with the header, as the refresh answers (not DRF's 403).
        return f'{jwt_settings.AUTH_HEADER_TYPES[0]} realm="api"'

    @extend_schema(
        operation_id="auth_logout",
        tags=["auth"],
        auth=[],
        request=InputSerializer,
        responses={204: None, **error_responses(400, 401, 415, 429)},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            token = MemberRefreshToken(serializer.validated_data["refresh"])
        except TokenError as exc:
            raise InvalidToken(exc.args[0]) from exc
        token.blacklist()
        return Response(status=status.HTTP_204_NO_CONTENT)


class RegisterView(APIView):
    """``POST /api/v1/auth/register/``: sign up, earn the register points, get a token pair."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [RegisterThrottle]

    class InputSerializer(serializers.Serializer):
        username = StrictCharField(max_length=150, validators=[UnicodeUsernameValidator()])
        password = StrictCharField(max_length=PASSWORD_MAX_LENGTH, write_only=True,
                                         trim_whitespace=False, style={"input_type": "password"})
        phone = StrictCharField(max_length=20, required=False, allow_null=True,
                                      allow_blank=True, validators=[phone_validator])
        # No format check here: any code no member holds, malformed or not, is the service's
        # 400 invalid_invite_code.
        invite_code = StrictCharField(
            max_length=16, required=False, allow_blank=True,
            help_text=_("The inviter's code (4 to 16 letters or digits); an unknown code is a 400 "
                        "invalid_invite_code."),
        )

    class OutputSerializer(serializers.Serializer):
        member = MemberOutputSerializer()
        access = serializers.CharField()
        refresh = serializers.CharField()
        points = serializers.IntegerField(help_text=_("Points earned for registering."))

    @extend_schema(
        operation_id="auth_register",
        tags=["auth"],
        auth=[],
        request=InputSerializer,
        responses={201: OutputSerializer, **error_responses(400, 415, 429)},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        registration = members.register(
            username=data["username"], password=data["password"], phone=data.get("phone"),
            invite_code=data.get("invite_code") or None,
        )
        body = {"member": registration.member, **tokens_for(registration.member),
                "points": registration.points}
        return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED)


# --------------------------------------------------------------------------- me


class TierProgressSerializer(serializers.Serializer):
    """The member's tier and the way to the next (``mall.selectors.tier_progress``)."""

    tier = serializers.CharField(help_text=_("The member's tier code."))
    tier_display = serializers.CharField(help_text=_("The tier's name in the request's language."))
    multiplier = serializers.CharField(
        help_text=_("The tier's points multiplier, a decimal as text, e.g. \"1.5\"."))
    next_tier = serializers.CharField(allow_null=True, help_text=_("The next tier's code; null at the top."))
    next_tier_display = serializers.CharField(allow_null=True)
    points_to_next = serializers.IntegerField(
        help_text=_("Points still to earn in the tier window to reach the next tier; 0 at the top."))
    progress_percent = serializers.IntegerField(min_value=0, max_value=100)
    exclusive_products = serializers.IntegerField(
        help_text=_("Products on sale only to some tiers, this one among them."))


class MeView(APIView):
    """``GET /api/v1/me/``: the signed-in member's profile and unread count; ``PATCH`` changes
    the nickname and the phone, as the account page does (``members.change_phone``: the phone
    first, a taken one saves nothing). A field that the body names and PATCH does not change is
    refused (400 ``read_only_field`` / ``unknown_field``, listing them), never ignored."""

    class InputSerializer(serializers.Serializer):
        nickname = StrictCharField(max_length=64, allow_blank=True)
        phone = StrictCharField(
            max_length=20, allow_null=True, allow_blank=True, validators=[phone_validator],
            help_text=_("The member's phone number; null or empty removes it. One that another "
                        "member holds is a 400 invalid on phone."),
        )

    class OutputSerializer(MemberOutputSerializer):
        unread_messages = serializers.SerializerMethodField()
        tier_progress = serializers.SerializerMethodField()

        class Meta(MemberOutputSerializer.Meta):
            fields = (*MemberOutputSerializer.Meta.fields, "unread_messages", "tier_progress")
            read_only_fields = fields

        @extend_schema_field(TierProgressSerializer)
        def get_tier_progress(self, member) -> dict:
            return TierProgressSerializer(tier_progress(member)).data

        @extend_schema_field(serializers.IntegerField(
            help_text=_("Unread messages in the member's inbox (/api/v1/me/messages/).")))
        def get_unread_messages(self, member) -> int:
            return messages.unread_count(member)

    @extend_schema(operation_id="me_retrieve", tags=["me"],
                   responses={200: OutputSerializer, **error_responses(401, 429)})
    def get(self, request):
        return Response(self.OutputSerializer(request.user).data)

    @extend_schema(operation_id="me_update", tags=["me"], request=InputSerializer,
                   responses={200: OutputSerializer, **error_responses(400, 401, 403, 415, 429)})
    def patch(self, request):
        refuse_extra_fields(request.data, writable=self.InputSerializer().fields,
                            read_only=self.OutputSerializer.Meta.fields)
        serializer = self.InputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        member = request.user
        if "phone" in data:  # first, as on the account page: a taken phone saves nothing
            member = members.change_phone(member, phone=data["phone"] or None)
        if "nickname" in data:
            member = members.update_profile(member, nickname=data["nickname"])
        return Response(self.OutputSerializer(member).data)


class PasswordView(APIView):
    """``POST /api/v1/me/password/``: change the password (the current one is checked). Every
    token of the member is revoked, this request's too (``mall.services.accounts``); the answer
    carries a fresh token pair."""

    class InputSerializer(serializers.Serializer):
        current_password = StrictCharField(max_length=PASSWORD_MAX_LENGTH, write_only=True,
                                           trim_whitespace=False, style={"input_type": "password"})
        new_password = StrictCharField(max_length=PASSWORD_MAX_LENGTH, write_only=True,
                                       trim_whitespace=False, style={"input_type": "password"})

    @extend_schema(operation_id="me_password_change", tags=["me"], request=InputSerializer,
                   responses={200: TokenPairSerializer, **error_responses(400, 401, 415, 429)})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        member = accounts.change_password(request.user, current_password=data["current_password"],
                                          new_password=data["new_password"])
        return Response(TokenPairSerializer(tokens_for(member)).data)


class CloseAccountView(APIView):
    """``POST /api/v1/me/close/``: close the account for good (PIPL erasure), with the password.
    The remaining points are forfeited, personal data erased, the username freed and every token
    revoked. Refused with a 409 ``account_has_open_redemptions`` while a redemption awaits
    shipment or payment and ``account_has_held_points`` while points are held; a wrong password
    is a 400 on ``password``."""

    class InputSerializer(serializers.Serializer):
        password = StrictCharField(max_length=PASSWORD_MAX_LENGTH, write_only=True,
                                   trim_whitespace=False, style={"input_type": "password"})

    class OutputSerializer(serializers.Serializer):
        closed_at = serializers.DateTimeField()
        forfeited_points = serializers.IntegerField(help_text=_("Points forfeited on closing."))

    @extend_schema(operation_id="me_close", tags=["me"], request=InputSerializer,
                   responses={200: OutputSerializer, **error_responses(400, 401, 409, 415, 429)})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        closing = accounts.close_account(request.user, password=serializer.validated_data["password"])
        return Response(self.OutputSerializer({"closed_at": closing.member.closed_at,
                                               "forfeited_points": closing.forfeited}).data)
