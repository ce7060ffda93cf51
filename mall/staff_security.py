"""Staff access (issue 16): two-factor sign-in to the console, idle staff sessions signed out, and
sign-in lockouts in the audit trail.

Two factors (django-otp). With ``STAFF_2FA_REQUIRED`` (always on when DEBUG is off:
``mall.settings.staff_2fa_required``) a staff user signed in with the password but not verified
in this session reaches nothing under the console's prefix except its sign-in and sign-out and
the two pages here: ``admin:otp-setup`` (no confirmed device yet: a TOTP secret shown as a QR code
rendered here by segno, confirmed with a first code, which issues ``RECOVERY_CODES`` one-time
recovery codes shown once) and ``admin:otp-verify`` (a TOTP code or a recovery code). The
``StaffTwoFactorMiddleware`` redirects every other console request there, and the console's
``has_permission`` refuses an unverified staff user too (``install``), so a view reached some
other way still opens nothing.

Idle sessions. ``StaffIdleTimeoutMiddleware`` keeps the time of a staff user's last request in
the session (``IDLE_SESSION_KEY``, seconds since the epoch) and signs them out once it is older
than ``STAFF_SESSION_IDLE_MINUTES``. Members' sessions are left alone.

Lockouts. django-axes guards ``authenticate()``, which the console's sign-in form calls too; each
lockout it signals is recorded as ``auth.lockout`` with the username and address.
"""

from __future__ import annotations

import time

import segno
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout as auth_logout
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from common import audit

RECOVERY_CODES = 10
IDLE_SESSION_KEY = "staff_last_seen"
MARK_RESOLUTION = 60  # seconds: the idle mark moves at most this often (sign-out up to this early)
RECOVERY_DEVICE_NAME = "recovery"
TOTP_DEVICE_NAME = "authenticator"


def two_factor_required() -> bool:
    return bool(getattr(settings, "STAFF_2FA_REQUIRED", False))


def needs_second_factor(user) -> bool:
    """A signed-in staff user who still has to pass a second factor in this session."""
    return (two_factor_required() and getattr(user, "is_authenticated", False)
            and user.is_active and user.is_staff and not user.is_verified())


def _admin_prefix() -> str:
    return reverse("admin:index")


# --------------------------------------------------------------------------- middleware


class StaffIdleTimeoutMiddleware:
    """Sign out a staff user whose previous request is more than ``STAFF_SESSION_IDLE_MINUTES``
    ago; the console's pages then ask for the sign-in again (with a message saying why)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            now = int(time.time())
            last = request.session.get(IDLE_SESSION_KEY)
            idle = settings.STAFF_SESSION_IDLE_MINUTES * 60
            if isinstance(last, int | float) and now - last > idle:
                audit.record("auth.idle_logout", user, actor=user,
                             data={"idle_seconds": int(now - last)})
                auth_logout(request)  # a new, empty session; request.user is anonymous now
                messages.info(request, _("You were signed out after %(minutes)s minutes without "
                                         "activity.") % {"minutes": settings.STAFF_SESSION_IDLE_MINUTES})
            elif not isinstance(last, int | float) or now - last >= MARK_RESOLUTION:
                # Not every request: the session is written at most once a minute.
                request.session[IDLE_SESSION_KEY] = now
        return self.get_response(request)


class StaffTwoFactorMiddleware:
    """With ``STAFF_2FA_REQUIRED``: under the console's prefix an unverified staff user is sent
    to the verify page (or the setup page, without a device) for anything but those pages, the
    sign-out and a sign-in as someone else (POST to the sign-in page)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and needs_second_factor(user) and request.path.startswith(_admin_prefix()):
            allowed = {reverse("admin:otp-setup"), reverse("admin:otp-verify"), reverse("admin:logout")}
            login = reverse("admin:login")
            if request.path not in allowed and not (request.path == login and request.method == "POST"):
                return HttpResponseRedirect(_second_factor_url(user, request))
        return self.get_response(request)


def _second_factor_url(user, request) -> str:
    from django_otp import user_has_device

    name = "admin:otp-verify" if user_has_device(user) else "admin:otp-setup"
    url = reverse(name)
    target = request.get_full_path()
    if request.method == "GET" and target != reverse("admin:login"):
        from django.utils.http import urlencode

        url = f"{url}?{urlencode({'next': target})}"
    return url


# --------------------------------------------------------------------------- pages


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_lazy("Code"), max_length=32, strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True,
                                      "autocapitalize": "none", "spellcheck": "false"}),
    )

    def __init__(self, *args, **kwargs):
        from unfold.forms import BASE_INPUT_CLASSES

        super().__init__(*args, **kwargs)
        self.fields["code"].widget.attrs["class"] = " ".join(BASE_INPUT_CLASSES)


def _next(request) -> str:
    from django.utils.http import url_has_allowed_host_and_scheme

    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return reverse("admin:index")


def _staff_only(view):
    """The two-factor pages: a signed-in active staff user (anyone else goes to the sign-in);
    not ``admin_view``, whose ``has_permission`` wants the second factor already."""

    def wrapped(request, admin_site):
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            from django.contrib.auth.views import redirect_to_login

            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        return view(request, admin_site)

    return never_cache(sensitive_post_parameters("code")(wrapped))


def _render(request, admin_site, template, context, status=200):
    context = {**admin_site.each_context(request), "next": _next(request), **context}
    return TemplateResponse(request, template, context, status=status)


@_staff_only
def setup_view(request, admin_site):
    """A new TOTP device for a staff user with none: the secret as a QR code and as text,
    confirmed by a first code; then the recovery codes, shown this once."""
    from django_otp import login as otp_login
    from django_otp import user_has_device
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = request.user
    if user_has_device(user) and not user.is_verified():
        # A second device only through the first: the password alone must not add one.
        return redirect("admin:otp-verify")
    device = (TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
              or TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False))
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid() and device.verify_token(form.cleaned_data["code"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            # Replaces any other device of this user (a verified user setting up again).
            TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
            codes = issue_recovery_codes(user)
            otp_login(request, device)
            audit.record("auth.2fa_setup", user, actor=user)
            return _render(request, admin_site, "admin/otp/recovery_codes.html",
                           {"title": _("Your recovery codes"), "codes": codes})
        if form.is_valid():
            form.add_error("code", _("This code is not correct. Enter the code your app shows now."))
    return _render(request, admin_site, "admin/otp/setup.html", {
        "title": _("Set up two-factor sign-in"),
        "form": form,
        "qr": qr_svg(device.config_url),
        "secret": _grouped(_base32(device.bin_key)),
    }, status=status)


@_staff_only
def verify_view(request, admin_site):
    """A code from the authenticator app, or one of the recovery codes (each works once)."""
    from django_otp import login as otp_login
    from django_otp import match_token, user_has_device

    user = request.user
    if not user_has_device(user):
        return redirect("admin:otp-setup")
    if user.is_verified():
        return HttpResponseRedirect(_next(request))
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            code = form.cleaned_data["code"].replace(" ", "").lower()
            device = match_token(user, code)
            if device is not None:
                otp_login(request, device)
                audit.record("auth.2fa_verified", user, actor=user,
                             data={"method": "recovery" if _is_recovery(device) else "totp"})
                return HttpResponseRedirect(_next(request))
            audit.record("auth.2fa_failed", user, actor=user)
            form.add_error("code", _("This code is not correct, or was used already."))
    return _render(request, admin_site, "admin/otp/verify.html",
                   {"title": _("Two-factor sign-in"), "form": form}, status=status)


def _is_recovery(device) -> bool:
    from django_otp.plugins.otp_static.models import StaticDevice

    return isinstance(device, StaticDevice)


def issue_recovery_codes(user) -> list[str]:
    """Replace ``user``'s recovery codes with ``RECOVERY_CODES`` new ones and return them (they
    are stored for checking and never shown again)."""
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def qr_svg(data: str):
    """``data`` (the otpauth:// address) as an inline SVG QR code, made here: the secret never
    leaves the server for a QR service."""
    svg = segno.make(data, error="m").svg_inline(scale=5, border=2, dark="#111827", light="#ffffff",
                                                 svgclass="otp-qr", omitsize=True)
    return mark_safe(svg)  # noqa: S308 - generated path data, no text of the user inside


def _base32(key: bytes) -> str:
    from base64 import b32encode

    return b32encode(key).decode("ascii").rstrip("=")


def _grouped(text: str) -> str:
    return " ".join(text[i:i + 4] for i in range(0, len(text), 4))


# --------------------------------------------------------------------------- the console


def install(admin_site) -> None:
    """Add the two-factor pages to ``admin_site`` (``admin:otp-setup``, ``admin:otp-verify``) and
    make its ``has_permission`` want the second factor when it is required."""
    original_urls = admin_site.get_urls
    original_permission = admin_site.has_permission

    def get_urls():
        return [
            path("otp/setup/", lambda request: setup_view(request, admin_site), name="otp-setup"),
            path("otp/verify/", lambda request: verify_view(request, admin_site), name="otp-verify"),
            *original_urls(),
        ]

    def has_permission(request):
        if needs_second_factor(request.user):
            return False
        return original_permission(request)

    admin_site.get_urls = get_urls
    admin_site.has_permission = has_permission


def on_lockout(sender, request=None, username=None, ip_address=None, **kwargs):
    """django-axes' ``user_locked_out``: an ``auth.lockout`` audit record, on the member the
    username names (or on the members' model when it names no one)."""
    from django.db.models import Q

    from common.pii import index_for
    from mall.models import Member

    target = None
    if isinstance(username, str) and username:
        # The phone is encrypted: matched through its blind index, as the sign-in backend does.
        target = Member.objects.filter(
            Q(username__iexact=username) | Q(phone_index=index_for(Member, "phone", username))).first()
    audit.record("auth.lockout", target or Member, actor=False,
                 data={"username": username or "", "ip_address": ip_address or "",
                       "path": getattr(request, "path", "")})
