"""Forms of the member pages. They parse and validate input only; the writes are services."""

from __future__ import annotations

from django import forms
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from catalog.selectors import ORDERINGS
from mall.invite import INVITE_CODE_RE
from mall.models import phone_validator
from points.models import EntryKind

# Passwords longer than this are refused before hashing: hashing megabytes is a cheap DoS.
PASSWORD_MAX_LENGTH = 128
invite_code_validator = RegexValidator(INVITE_CODE_RE, _("An invite code is 4 to 16 letters or digits."))


class LoginForm(forms.Form):
    username = forms.CharField(label=_("Username or phone"), max_length=150,
                               widget=forms.TextInput(attrs={"autocomplete": "username",
                                                             "autocapitalize": "none"}))
    password = forms.CharField(label=_("Password"), max_length=PASSWORD_MAX_LENGTH, strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class RegisterForm(forms.Form):
    username = forms.CharField(
        label=_("Username"), max_length=150, validators=[UnicodeUsernameValidator()],
        help_text=_("Letters, digits and @/./+/-/_ only."),
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    password = forms.CharField(label=_("Password"), max_length=PASSWORD_MAX_LENGTH, strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(label=_("Password again"), max_length=PASSWORD_MAX_LENGTH, strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    phone = forms.CharField(label=_("Phone (optional)"), max_length=20, required=False,
                            validators=[phone_validator],
                            widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}))
    invite_code = forms.CharField(label=_("Invite code (optional)"), max_length=16, required=False,
                                  validators=[invite_code_validator])

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("password2") and data["password"] != data["password2"]:
            self.add_error("password2", _("The two passwords differ."))
        return data


class AccountForm(forms.Form):
    nickname = forms.CharField(label=_("Nickname"), max_length=64, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=20, required=False,
                            validators=[phone_validator],
                            widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}))

    # Whether another member holds the phone is the members service's to say (change_phone).


class PasswordChangeForm(forms.Form):
    current_password = forms.CharField(
        label=_("Current password"), max_length=PASSWORD_MAX_LENGTH, strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
    new_password = forms.CharField(
        label=_("New password"), max_length=PASSWORD_MAX_LENGTH, strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    new_password2 = forms.CharField(
        label=_("New password again"), max_length=PASSWORD_MAX_LENGTH, strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean(self):
        data = super().clean()
        if data.get("new_password") and data.get("new_password2") and \
                data["new_password"] != data["new_password2"]:
            self.add_error("new_password2", _("The two passwords differ."))
        return data


class CloseAccountForm(forms.Form):
    password = forms.CharField(
        label=_("Your password"), max_length=PASSWORD_MAX_LENGTH, strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
    confirm = forms.BooleanField(
        label=_("I understand: my remaining points are forfeited and my account cannot be restored."))


# The ledger's kinds in the member's words (no 冻结/解冻/冲正: DESIGN.md 4's plain history).
HISTORY_KINDS = [
    (EntryKind.EARN, pgettext_lazy("points filter", "Earned")),
    (EntryKind.SPEND, pgettext_lazy("points filter", "Used in the mall")),
    (EntryKind.CAPTURE, pgettext_lazy("points filter", "Used at checkout")),
    (EntryKind.HOLD, pgettext_lazy("points filter", "In use")),
    (EntryKind.RELEASE, pgettext_lazy("points filter", "Returned")),
    (EntryKind.REVERSE, pgettext_lazy("points filter", "Refunds and take-backs")),
    (EntryKind.EXPIRE, pgettext_lazy("points filter", "Expired")),
    (EntryKind.ADJUST, pgettext_lazy("points filter", "Adjusted")),
    (EntryKind.ACTIVATE, pgettext_lazy("points filter", "Became usable")),
]


class HistoryFilterForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), required=False,
                             choices=[("", _("All kinds")), *HISTORY_KINDS, ("tier", _("Tier changes"))])
    date_from = forms.DateField(label=_("From"), required=False,
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To"), required=False,
                              widget=forms.DateInput(attrs={"type": "date"}))


ORDERING_LABELS = {
    "default": _("Recommended"),
    "points": _("Points: low to high"),
    "-points": _("Points: high to low"),
    "newest": _("Newest"),
    "popular": _("Most redeemed"),
}


class MallFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), max_length=100, required=False)
    category = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    ordering = forms.ChoiceField(label=_("Sort"), required=False,
                                 choices=[(key, ORDERING_LABELS.get(key, key)) for key in ORDERINGS])
    page = forms.IntegerField(required=False, min_value=1, max_value=10**6)
    # Only what the member's available points pay for (the expiry reminder's link).
    affordable = forms.BooleanField(required=False)


class DrawForm(forms.Form):
    """A lottery draw's form: ``key`` is made when the page is shown, so a double click posts
    one draw."""

    key = forms.CharField(widget=forms.HiddenInput, max_length=64,
                          validators=[RegexValidator(r"^[0-9a-f]{32}\Z")])


class RedeemForm(forms.Form):
    """The confirmation form; ``key`` is made when it is first shown, so a double submit of the
    same form posts one redemption. Physical goods ship to one of the member's saved addresses
    (``addresses``; the default preselected)."""

    key = forms.CharField(widget=forms.HiddenInput, max_length=64,
                          validators=[RegexValidator(r"^[0-9a-f]{32}\Z")])
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1, max_value=99, initial=1)
    address_id = forms.TypedChoiceField(
        label=_("Shipping address"), coerce=int, required=False, widget=forms.RadioSelect,
        error_messages={"required": _("Choose a shipping address."),
                        "invalid_choice": _("Choose one of your saved addresses.")},
    )

    def __init__(self, *args, needs_address: bool = False, addresses=(), **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["address_id"]
        field.choices = [(address.pk, address.snapshot()) for address in addresses]
        field.required = needs_address
        if needs_address and not field.choices:
            field.error_messages["required"] = _("Add a shipping address first.")
        if not needs_address:
            field.widget = forms.HiddenInput()
        elif "address_id" not in self.initial:
            default = next((address.pk for address in addresses if address.is_default), None)
            if default is not None:
                self.initial["address_id"] = default


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Why are you cancelling? (optional)"), max_length=150,
                             required=False)


class AddressForm(forms.Form):
    """A saved shipping address (``catalog.services.addresses`` validates it again)."""

    recipient = forms.CharField(label=_("Recipient"), max_length=50,
                                widget=forms.TextInput(attrs={"autocomplete": "name"}))
    phone = forms.CharField(label=_("Mobile number"), max_length=11,
                            validators=[RegexValidator(r"^1[3-9]\d{9}\Z",
                                                       _("Enter a mobile number such as 13800138000."))],
                            widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}))
    region = forms.CharField(label=_("Region"), max_length=100,
                             help_text=_("Province, city and district."),
                             widget=forms.TextInput(attrs={"autocomplete": "address-level1"}))
    detail = forms.CharField(label=_("Street address"), max_length=200,
                             widget=forms.TextInput(attrs={"autocomplete": "street-address"}))
    is_default = forms.BooleanField(label=_("Use as my default address"), required=False)
