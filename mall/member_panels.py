"""The member page's panels (customer service): the member's open lots, open holds, latest
redemptions and messages as small tables, and the "adjust points" form with its reason templates.

Each panel reads at most ``RECENT`` rows in one query (joins, no query per row). The tables are
wrapped in ``.console`` (static/css/console.css): unfold's reset strips plain table markup.
"""

from __future__ import annotations

from django import forms
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from catalog.models import Redemption
from mall.models import Message
from points.models import Hold, HoldStatus, Lot
from points.policy import last_valid_day
from points.selectors import reason_text
from points.services import MAX_POINTS

RECENT = 20

# The reasons customer service gives most often, offered on the adjust form (the member reads the
# chosen text in their history). "other" asks for the reason typed in full.
OTHER = "other"
REASON_TEMPLATES = (
    ("complaint", _("Complaint compensation")),
    ("campaign", _("Campaign points re-issued")),
    ("reversal", _("Reversal of points issued by mistake")),
    ("order", _("Missing order points")),
    (OTHER, _("Other")),
)


def _when(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}" if moment else "-"


def table(headers, rows, *, empty, footer="") -> str:
    """``rows`` (tuples of cells, already escaped or plain) under ``headers`` ((label, numeric)
    pairs: numeric columns align right), in a .console box; ``empty`` when there are none."""
    if not rows:
        return format_html('<div class="console"><p class="help">{}</p>{}</div>', empty, footer)
    numeric = mark_safe(' class="num"')  # noqa: S308 (a constant)
    head = format_html_join("", "<th{}>{}</th>", ((numeric if num else "", label) for label, num in headers))
    body = format_html_join("", "<tr>{}</tr>", (
        (format_html_join("", "<td{}>{}</td>", ((numeric if num else "", cell)
                                                for (_label, num), cell in zip(headers, row, strict=True))),)
        for row in rows))
    return format_html('<div class="console"><div class="table-scroll"><table><thead><tr>{}</tr></thead>'
                       "<tbody>{}</tbody></table></div>{}</div>", head, body, footer)


def _link(url, text):
    return format_html('<a href="{}">{}</a>', url, text)


def lots(member) -> str:
    """The member's open lots (points left), the soonest to expire first."""
    rows = list(Lot.objects.filter(account__member_id=member.pk, remaining__gt=0)
                .select_related("entry").order_by("expires_at", "id")[:RECENT])
    now = timezone.now()
    return table(
        [(_("points left"), True), (_("of"), True), (_("earned at"), False), (_("last valid day"), False),
         (_("pending until"), False), (_("source"), False)],
        [(lot.remaining, lot.amount, _when(lot.created_at),
          f"{last_valid_day(lot.expires_at):%Y-%m-%d}" if lot.expires_at else _("never expires"),
          _when(lot.available_at) if lot.pending and lot.available_at > now else "-",
          reason_text(lot.entry)) for lot in rows],
        empty=_("No open lots."),
        footer=_link(reverse("admin:points_lot_changelist") + "?" + urlencode({"q": member.username}),
                     _("All lots of this member")),
    )


def holds(member) -> str:
    """The member's open holds (points reserved by a checkout or a bid)."""
    rows = list(Hold.objects.filter(account__member_id=member.pk, status=HoldStatus.HELD)
                .order_by("-id")[:RECENT])
    return table(
        [(_("points"), True), (_("reference"), False), (_("held at"), False), (_("deadline"), False)],
        [(hold.amount, hold.reference or "-", _when(hold.created_at), _when(hold.expires_at))
         for hold in rows],
        empty=_("No open holds."),
        footer=_link(reverse("admin:points_hold_changelist") + "?" + urlencode({"q": member.username}),
                     _("All holds of this member")),
    )


def redemptions(member) -> str:
    """The member's latest redemptions, each linked to its page in the redemptions admin."""
    rows = list(Redemption.objects.filter(member_id=member.pk).select_related("product")
                .order_by("-id")[:RECENT])
    return table(
        [(_("redemption"), False), (_("created at"), False), (_("product"), False), (_("quantity"), True),
         (_("points"), True), (_("status"), False)],
        [(_link(reverse("admin:catalog_redemption_change", args=[r.pk]), f"#{r.pk}"), _when(r.created_at),
          r.product.name, r.quantity, r.points, r.get_status_display()) for r in rows],
        empty=_("No redemptions yet."),
        footer=_link(reverse("admin:catalog_redemption_changelist") + "?" + urlencode({"q": member.username}),
                     _("All redemptions of this member")),
    )


def messages(member) -> str:
    """The member's latest inbox messages, in the reader's language where one was written."""
    rows = list(Message.objects.filter(member_id=member.pk).order_by("-created_at", "-id")[:RECENT])
    language = translation.get_language() or ""
    return table(
        [(_("sent at"), False), (_("kind"), False), (_("title"), False), (_("read at"), False)],
        [(_when(m.created_at), m.get_kind_display(),
          _link(reverse("admin:mall_message_change", args=[m.pk]), m.text(language)[0]),
          _when(m.read_at) if m.read_at else _("unread")) for m in rows],
        empty=_("No messages yet."),
        footer=_link(reverse("admin:mall_message_changelist") + "?" + urlencode({"q": member.username}),
                     _("All messages of this member")),
    )


class MemberAdjustForm(forms.Form):
    """The member page's "adjust points" form: a reason template, or the reason typed in full."""

    delta = forms.IntegerField(
        label=_("Points"), min_value=-MAX_POINTS, max_value=MAX_POINTS,
        help_text=_("Positive to credit, negative to debit."),
    )
    template = forms.ChoiceField(label=_("Reason"), required=False,
                                 choices=[("", "---------"), *REASON_TEMPLATES])
    reason = forms.CharField(
        label=_("Details"), max_length=200, required=False,
        help_text=_("Added to the chosen reason; required for \"Other\". "
                    "The member sees it in their history."),
    )
    # One token per rendered form: submitting the same form twice posts once.
    token = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, available: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.available = available

    def clean_delta(self):
        delta = self.cleaned_data["delta"]
        if delta == 0:
            raise forms.ValidationError(_("Enter a non-zero number of points."))
        if delta < 0 and -delta > self.available:
            raise forms.ValidationError(
                _("The member has only %(available)s points available: a debit of %(points)s is refused.")
                % {"available": self.available, "points": -delta})
        return delta

    def clean(self):
        data = super().clean()
        template = data.get("template") or ""
        details = (data.get("reason") or "").strip()
        if template in ("", OTHER) and not details:
            self.add_error("reason", _("A reason is required: choose one or type it."))
            return data
        label = str(dict(REASON_TEMPLATES)[template]) if template and template != OTHER else ""
        data["full_reason"] = f"{label}：{details}" if label and details else (label or details)
        return data
