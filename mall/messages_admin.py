"""Messages in the admin: the words of every purpose (templates), the messages members received
(read only), and broadcasts to a segment of members.

Every write goes through ``mall.services.messages``: a template is saved with
``save_template``, a broadcast draft with ``save_broadcast`` and sent with ``send_draft``. The
forms refuse what the services refuse (unknown placeholders, malformed braces, links off the
member site) as field errors first.

Permissions. Templates: ``change_messagetemplate`` (one row per purpose, installed by the
migrations: no adding, no deleting). Messages: ``view_message``, never edited. Broadcasts: the
model permissions for drafts; sending needs ``send_broadcast``; a sent broadcast is read only.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.validators import MinValueValidator
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone, translation
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from common.admin import ModelAdmin, PersonalDataAdminMixin, ReadOnlyAdminMixin
from mall.errors import BroadcastSent
from mall.models import Broadcast, Message, MessageTemplate
from mall.services import messages as service
from rules.segments import Segment, segment_label
from rules.tiers import tier_choices


def _tier_choices() -> list[tuple[str, str]]:
    """The tiers a broadcast can be sent to, as (code, name): the published rule set's."""
    return tier_choices()


def segment_text(broadcast: Broadcast) -> str:
    """Who a broadcast is for, in words: its tiers, its RFM segments and its inactivity."""
    labels = dict(_tier_choices())
    tiers = (", ".join(str(labels.get(code, code)) for code in broadcast.tiers) if broadcast.tiers
             else gettext("every tier"))
    if broadcast.segments:
        tiers = gettext("%(tiers)s; RFM segments: %(segments)s") % {
            "tiers": tiers, "segments": ", ".join(segment_label(code) for code in broadcast.segments)}
    if broadcast.inactive_days:
        return gettext("%(tiers)s; inactive for at least %(days)s days") % {
            "tiers": tiers, "days": broadcast.inactive_days}
    return tiers


def channels_text(words) -> str:
    names = {"email": gettext("e-mail"), "sms": gettext("SMS"), "push": gettext("app push")}
    chosen = [names[name] for name in ("email", "sms", "push") if getattr(words, name)]
    return ", ".join([gettext("inbox"), *chosen])


def _current_words(form, obj) -> service.Words:
    """The words on the page: what was just typed when the form comes back with errors, what is
    saved otherwise."""
    values = {}
    for name in ("kind", *service.TEXT_FIELDS):
        if form is not None and form.is_bound and name in form.fields:
            values[name] = form.data.get(form.add_prefix(name), "")
        else:
            values[name] = getattr(obj, name)
    return service.Words(values["kind"], values["title"], values["body"], values["title_en"],
                         values["body_en"], values["link"])


def preview_context(words: service.Words, placeholders=()) -> dict:
    rendered = service.preview(words, placeholders)
    return {"zh": rendered["zh-hans"], "en": rendered["en"]}


class WordsFormMixin:
    """Refuses placeholders the message does not have, malformed braces and links off the member
    site, with the services' messages, on the field they are about."""

    def allowed_placeholders(self) -> tuple[str, ...]:
        return ()

    def clean(self):
        cleaned = super().clean()
        for name, problems in service.words_problems(cleaned, self.allowed_placeholders()).items():
            for problem in problems:
                if name in self.fields:
                    self.add_error(name, problem)
        return cleaned


# --------------------------------------------------------------------------- templates


class MessageTemplateForm(WordsFormMixin, forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = ("kind", "title", "body", "title_en", "body_en", "link", "email", "sms", "push")

    def allowed_placeholders(self):
        return service.placeholders_allowed(self.instance.purpose)


@admin.register(MessageTemplate)
class MessageTemplateAdmin(ModelAdmin):
    form = MessageTemplateForm
    change_form_template = "admin/mall/messagetemplate/change_form.html"
    list_display = ("purpose_label", "kind", "title", "title_en", "channels", "updated_at")
    list_display_links = ("purpose_label", "title")
    list_filter = ("kind",)
    readonly_fields = ("purpose_label", "placeholder_help", "updated_at")
    fieldsets = (
        (None, {"fields": ("purpose_label", "kind", "placeholder_help", "link")}),
        (_("Chinese"), {"fields": ("title", "body")}),
        (_("English"), {"fields": ("title_en", "body_en"),
                        "description": _("Optional: where these are empty, members who read in "
                                         "English get the Chinese.")}),
        (_("Channels"), {"fields": ("email", "sms", "push"),
                         "description": _("Every message goes to the member's inbox; these send "
                                          "it on as well.")}),
        (None, {"fields": ("updated_at",)}),
    )

    @admin.display(description=_("purpose"), ordering="purpose")
    def purpose_label(self, obj):
        return service.purpose_label(obj.purpose)

    @admin.display(description=_("channels"))
    def channels(self, obj):
        return channels_text(obj)

    @admin.display(description=_("placeholders"))
    def placeholder_help(self, obj):
        names = service.placeholders_allowed(obj.purpose) if obj else ()
        if not names:
            return gettext("This message has no placeholders. Write {{ and }} for a brace itself.")
        language = translation.get_language()
        samples = format_html_join(", ", "<code>{{{}}}</code> ({})", (
            (name, service.display(service.SAMPLES[name], language) if name in service.SAMPLES
             else "-") for name in names))
        return format_html("{} {}. {}", gettext("The title, the body and the link may use"), samples,
                           gettext("(In brackets: the sample values of the preview.) Write {{ and }} "
                                   "for a brace itself."))

    def has_add_permission(self, request):
        return False  # one row per purpose, installed with the purposes

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        service.save_template(obj)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            form = context["adminform"].form
            context["message_preview"] = preview_context(
                _current_words(form, obj), service.placeholders_allowed(obj.purpose))
            context["preview_note"] = gettext("What a member reads, with sample values for the "
                                              "placeholders.")
        return super().render_change_form(request, context, add, change, form_url, obj)


# --------------------------------------------------------------------------- messages


class PurposeFilter(admin.SimpleListFilter):
    """The known purposes (not ``SELECT DISTINCT`` over every message)."""

    title = _("purpose")
    parameter_name = "purpose"

    def lookups(self, request, model_admin):
        return [*service.PURPOSE_CHOICES, (service.BROADCAST, _("Broadcast"))]

    def queryset(self, request, queryset):
        return queryset.filter(purpose=self.value()) if self.value() else queryset


class ReadFilter(admin.SimpleListFilter):
    title = _("read")
    parameter_name = "read"

    def lookups(self, request, model_admin):
        return [("yes", _("Read")), ("no", _("Unread"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(read_at__isnull=self.value() == "no")
        return queryset


@admin.register(Message)
class MessageAdmin(PersonalDataAdminMixin, ReadOnlyAdminMixin, ModelAdmin):
    """What members received, read only."""

    list_display = ("member", "purpose_label", "title", "created_at", "is_read")
    list_filter = (PurposeFilter, "kind", ReadFilter)
    list_select_related = ("member",)
    search_fields = ("member__username", "member__phone")
    search_help_text = _("Search by member: username or phone.")
    show_full_result_count = False  # no second COUNT over every message on a filtered list
    fields = ("member", "purpose_label", "period", "kind", "title", "body", "title_en", "body_en",
              "link", "created_at", "read_at")
    readonly_fields = fields

    @admin.display(description=_("purpose"), ordering="purpose")
    def purpose_label(self, obj):
        return service.purpose_label(obj.purpose)

    @admin.display(description=_("read"), boolean=True, ordering="read_at")
    def is_read(self, obj):
        return obj.read_at is not None


# --------------------------------------------------------------------------- broadcasts


class BroadcastForm(WordsFormMixin, forms.ModelForm):
    tiers = forms.MultipleChoiceField(
        label=capfirst(Broadcast._meta.get_field("tiers").verbose_name), choices=_tier_choices,
        required=False, widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: members of every tier."),
    )
    segments = forms.MultipleChoiceField(
        label=capfirst(Broadcast._meta.get_field("segments").verbose_name), choices=Segment.choices,
        required=False, widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every member, scored or not. Ticked: only members whose segment "
                    "from the last nightly RFM run is one of these."),
    )

    class Meta:
        model = Broadcast
        fields = ("title", "body", "title_en", "body_en", "link", "kind", "tiers", "segments",
                  "inactive_days", "email", "sms", "push")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        days = self.fields.get("inactive_days")  # absent once sent (read only)
        if days is not None:
            days.min_value = 1
            days.validators.append(MinValueValidator(1))
            days.widget.attrs["min"] = 1


class SentFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "sent"

    def lookups(self, request, model_admin):
        return [("no", _("Draft")), ("yes", _("Sent"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(sent_at__isnull=self.value() == "no")
        return queryset


DRAFT_FIELDSETS = (
    (_("Chinese"), {"fields": ("title", "body")}),
    (_("English"), {"fields": ("title_en", "body_en"),
                    "description": _("Optional: where these are empty, members who read in "
                                     "English get the Chinese.")}),
    (_("Message"), {"fields": ("kind", "link")}),
    (_("Segment"), {"fields": ("tiers", "segments", "inactive_days", "audience")}),
    (_("Channels"), {"fields": ("email", "sms", "push"),
                     "description": _("Every broadcast goes to the members' inboxes; these send it "
                                      "on as well.")}),
    (_("Sending"), {"fields": ("status", "created_by", "created_at", "sent_at", "recipients")}),
)


@admin.register(Broadcast)
class BroadcastAdmin(ModelAdmin):
    form = BroadcastForm
    change_form_template = "admin/mall/broadcast/change_form.html"
    list_display = ("title", "kind", "segment", "status", "recipients", "sent_at", "created_by",
                    "created_at")
    list_filter = (SentFilter, "kind")
    list_select_related = ("created_by",)
    search_fields = ("title", "title_en")
    readonly_fields = ("audience", "segment", "status", "created_by", "created_at", "sent_at",
                       "recipients")

    def get_fieldsets(self, request, obj=None):
        if obj is None or obj.sent_at is None:
            return DRAFT_FIELDSETS
        # Sent: as it went out, its segment in words.
        return tuple(
            (title, {**options, "fields": tuple(
                "segment" if name == "tiers" else name for name in options["fields"]
                if name not in ("audience", "inactive_days", "segments"))})
            for title, options in DRAFT_FIELDSETS
        )

    @admin.display(description=_("segment"))
    def segment(self, obj):
        return segment_text(obj)

    @admin.display(description=_("status"), ordering="sent_at")
    def status(self, obj):
        return gettext("Sent") if obj.sent_at else gettext("Draft")

    @admin.display(description=_("reaches now"))
    def audience(self, obj):
        if obj is None or obj.pk is None:
            return gettext("Save the draft to count the members it reaches.")
        count = service.broadcast_recipients(obj).count()
        return ngettext("%(count)d member (counted now, and again when it is sent)",
                        "%(count)d members (counted now, and again when it is sent)", count) % {
            "count": count}

    # Permissions: drafts with the model permissions, sending with its own; sent is read only.

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.sent_at is not None:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.sent_at is not None:
            return False
        return super().has_delete_permission(request, obj)

    def has_send_permission(self, request) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.send_broadcast")

    def save_model(self, request, obj, form, change):
        service.save_broadcast(obj, staff=request.user)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except BroadcastSent as exc:  # sent between showing the form and saving it
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(self._url("change", object_id))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["message_preview"] = preview_context(_current_words(context["adminform"].form, obj))
            context["preview_note"] = gettext("What a member reads.")
            if obj.sent_at is None and self.has_send_permission(request):
                context["send_url"] = self._url("send", obj.pk)
        return super().render_change_form(request, context, add, change, form_url, obj)

    # Sending: a confirmation page, then send_draft.

    def get_urls(self):
        view = self.admin_site.admin_view(self.send_view)
        return [path("<int:broadcast_id>/send/", view, name=self._name("send")), *super().get_urls()]

    def _name(self, view: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{view}"

    def _url(self, view: str, pk) -> str:
        return reverse(f"admin:{self._name(view)}", args=[pk], current_app=self.admin_site.name)

    def send_view(self, request, broadcast_id: int):
        if not (self.has_view_permission(request) and self.has_send_permission(request)):
            raise PermissionDenied
        broadcast = self.get_object(request, str(broadcast_id))
        if broadcast is None:
            raise Http404
        back = self._url("change", broadcast.pk)
        if broadcast.sent_at is None and request.method == "POST":
            try:
                sent = service.send_draft(broadcast)
            except BroadcastSent:
                pass  # a second click, or someone else sent it first: said below
            else:
                self.log_change(request, broadcast, gettext("Sent to %(count)d members.") % {
                    "count": broadcast.recipients})
                self.message_user(request, ngettext(
                    "The broadcast was sent to %(count)d member.",
                    "The broadcast was sent to %(count)d members.", sent) % {"count": sent},
                    messages.SUCCESS)
                return HttpResponseRedirect(back)
        if broadcast.sent_at is not None or request.method == "POST":
            broadcast.refresh_from_db(fields=["sent_at", "recipients"])
            self.message_user(request, gettext(
                "This broadcast was sent at %(when)s to %(count)d members; it is not sent again.")
                % {"when": f"{timezone.localtime(broadcast.sent_at):%Y-%m-%d %H:%M}",
                   "count": broadcast.recipients}, messages.WARNING)
            return HttpResponseRedirect(back)
        count = service.broadcast_recipients(broadcast).count()
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Send this broadcast?"),
            "opts": self.opts,
            "original": broadcast,
            "count": count,
            "segment": segment_text(broadcast),
            "channels": channels_text(broadcast),
            "message_preview": preview_context(service.Words.of_template(broadcast)),
            "preview_note": gettext("What a member reads."),
            "back_url": back,
        }
        return TemplateResponse(request, "admin/mall/broadcast/send.html", context)
