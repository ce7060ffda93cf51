"""Lotteries in the admin: a lottery with its prizes inline and, on its page, a simulation of
100,000 draws (``catalog.lottery_sim``, no writes) with the expected prize cost per draw in points
and yuan; draws read-only with filters.

A prize's ``stock`` is a counter that draws change with a conditional UPDATE, so the form sets it
only when the prize is added: saving an existing prize never writes ``stock`` (a form holding an
old value would undo draws made meanwhile). Prizes are not deleted here (draws refer to them).
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline

from catalog import services
from catalog.errors import CatalogError
from catalog.lottery_sim import DEFAULT_DRAWS, SimPrize, simulate
from catalog.models import Draw, DrawTicket, Lottery, Prize, PrizeKind
from common.admin import ModelAdmin, PersonalDataAdminMixin, ReadOnlyAdminMixin
from rules.segments import segments_form_field

PRIZE_FIELDS = ("name", "kind", "weight", "stock", "points", "product")


class PrizeForm(forms.ModelForm):
    restock = forms.IntegerField(
        label=_("add stock"), required=False,
        help_text=_("Units to add (negative to take away), for a prize with limited stock."),
    )

    class Meta:
        model = Prize
        fields = PRIZE_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["stock"].disabled = True
            self.fields["stock"].help_text = _("Changed by draws; set when the prize is added.")
        else:
            self.fields["restock"].disabled = True

    def clean_restock(self):
        delta = self.cleaned_data.get("restock")
        if delta and self.instance.pk and self.instance.stock is None:
            raise forms.ValidationError(_("This prize has unlimited stock."))
        return delta or None


class PrizeInline(TabularInline):
    model = Prize
    form = PrizeForm
    fields = (*PRIZE_FIELDS, "restock")
    autocomplete_fields = ("product",)
    extra = 0
    can_delete = False


def prize_value(prize: Prize) -> int:
    """What one unit of ``prize`` costs the programme, in points."""
    if prize.kind == PrizeKind.POINTS:
        return prize.points or 0
    if prize.kind in (PrizeKind.PRODUCT, PrizeKind.COUPON) and prize.product_id:
        return prize.product.points_price
    return 0


def points_per_yuan() -> int:
    from rules.models import RuleSet
    from rules.selectors import active_rulebook

    try:
        return active_rulebook().redemption_points_per_yuan
    except RuleSet.DoesNotExist:
        return 100  # the default redemption rate (rules.defaults)


def simulation_of(lottery: Lottery, draws: int = DEFAULT_DRAWS) -> dict:
    prizes = list(lottery.prizes.select_related("product").order_by("id"))
    result = simulate([SimPrize(p.name, p.weight, p.stock, prize_value(p)) for p in prizes], draws)
    rate = points_per_yuan()
    per_draw = Decimal(result.prize_points) / draws
    return {
        "draws": draws,
        "rows": [(p.name, p.get_kind_display(), prize_value(p), result.wins[p.name]) for p in prizes],
        "empty": result.empty,
        "cost_points": per_draw.quantize(Decimal("0.01")),
        "cost_yuan": result.cost_per_draw_yuan(rate),
        "net_points": (per_draw - lottery.cost_points).quantize(Decimal("0.01")),
        "points_per_yuan": rate,
    }


class LotteryForm(forms.ModelForm):
    segments = segments_form_field(
        label=_("eligible RFM segments"),
        help_text=_("None ticked: every member may draw. Ticked: only members whose segment from the "
                    "last nightly RFM run is one of these; the others are told it is for other members."))

    class Meta:
        model = Lottery
        fields = ("name", "cost_points", "daily_limit", "tickets_only", "streak_days", "starts_at",
                  "ends_at", "active", "segments")


@admin.register(Lottery)
class LotteryAdmin(ModelAdmin):
    form = LotteryForm
    change_form_template = "admin/catalog/lottery/change_form.html"
    list_display = ("name", "cost_points", "daily_limit", "tickets_only", "streak_days", "starts_at",
                    "ends_at", "active")
    list_filter = ("active", "tickets_only")
    search_fields = ("name",)
    fields = ("name", "cost_points", "daily_limit", "tickets_only", "streak_days", "starts_at",
              "ends_at", "active", "segments")
    inlines = [PrizeInline]

    def save_formset(self, request, form, formset, change):
        for instance in formset.save(commit=False):
            if instance.pk:
                instance.save(update_fields=[f for f in PRIZE_FIELDS if f != "stock"])
            else:
                instance.lottery = form.instance
                instance.save()
        formset.save_m2m()
        # Restocking goes through the service's conditional UPDATE, never through the form's
        # stock value (draws may have taken units since the page was loaded).
        for prize_form in formset.forms:
            delta = getattr(prize_form, "cleaned_data", {}).get("restock")
            if delta and prize_form.instance.pk:
                try:
                    stock = services.restock_prize(prize_form.instance, delta)
                except CatalogError as exc:
                    messages.error(request, f"{prize_form.instance.name}: {exc.message}")
                else:
                    messages.success(request, _("%(prize)s: %(stock)s in stock now.")
                                     % {"prize": prize_form.instance.name, "stock": stock})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        lottery = self.get_object(request, object_id)
        if lottery is not None and lottery.prizes.exists():
            extra_context["simulation"] = simulation_of(lottery)
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(Draw)
class DrawAdmin(PersonalDataAdminMixin, ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("id", "member", "lottery", "prize", "points_spent", "redemption", "created_at")
    list_filter = (("lottery", admin.RelatedOnlyFieldListFilter), "prize__kind", "created_at")
    list_select_related = ("member", "lottery", "prize")
    search_fields = ("member__username", "member__nickname", "member__phone", "key")
    date_hierarchy = "created_at"
    fields = ("key", "member", "lottery", "prize", "points_spent", "entry", "prize_entry",
              "redemption", "created_at")
    readonly_fields = fields


@admin.register(DrawTicket)
class DrawTicketAdmin(PersonalDataAdminMixin, ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("id", "member", "lottery", "reason", "granted_at", "draw")
    list_filter = (("lottery", admin.RelatedOnlyFieldListFilter), ("draw", admin.EmptyFieldListFilter),
                   "granted_at")
    list_select_related = ("member", "lottery", "draw")
    search_fields = ("member__username", "member__nickname", "member__phone", "key")
    fields = ("key", "member", "lottery", "reason", "granted_at", "draw")
    readonly_fields = fields
