"""Preview a rule set before it reaches members: "try an order" and "simulate" (DESIGN.md 3.2).

``try_order`` evaluates one order under a version and under the active (published) one, with
their explanations; ``simulate`` (in ``rules.simulation``) replays the last N days of paid orders.
The two admin views below put forms in front of them; ``RuleSetAdmin.get_urls`` wires them under
``admin/rules/ruleset/<id>/try-order/`` and ``.../simulate/`` through ``admin_site.admin_view``.
Neither writes anything.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from common import pii
from common.charts import column_chart
from rules import choices
from rules.errors import UnknownAction
from rules.evaluator import (
    BehaviourCounters,
    Decision,
    MemberContext,
    Order,
    OrderLine,
    evaluate_behaviour,
    evaluate_order,
)
from rules.models import RuleSet, RuleSetStatus, slug_validator
from rules.selectors import active_rulebook, rulebook, rulebook_for
from rules.simulation import (
    MAX_DAYS,
    daily_csv_rows,
    find_paid_orders,
    gray_comparison,
    paid_order_by_id,
    simulate_days,
)

MAX_LINES = 50
MAX_AMOUNT = Decimal("9999999999.99")  # what OrderLine.amount (12 digits, 2 places) can hold


@dataclass(frozen=True)
class TryOrderResult:
    member: MemberContext
    order: Order
    candidate: Decision  # under the rule set tried
    active: Decision  # under the published version
    candidate_status: str
    # The version the member earns under today (gray release aware), when a member was given.
    member_version: int | None = None

    @property
    def difference(self) -> int:
        return self.candidate.points - self.active.points


def try_order(rule_set: RuleSet, *, tier: str | None = None, lines: Iterable, order_amount=None,
              member=None) -> TryOrderResult:
    """Evaluate one order under ``rule_set`` and under the active version, side by side.

    ``lines`` are evaluator ``OrderLine``s or mappings with ``sku``, ``amount``, ``categories``
    (and ``quantity``); ``order_amount`` defaults to the sum of the lines. The tier is ``tier``,
    else the member's. Writes nothing. Raises ``ValueError`` when neither is given."""
    if tier is None and member is None:
        raise ValueError("Give a tier or a member.")
    context = MemberContext(tier=tier or member.tier, member_id=getattr(member, "pk", None))
    order_lines = tuple(_order_line(line) for line in lines)
    amount = Decimal(order_amount) if order_amount is not None else sum(
        (line.amount for line in order_lines), Decimal("0.00")
    )
    order = Order(amount=amount, lines=order_lines)
    member_version = None
    if member is not None:
        member_version = rulebook_for(member).version
    return TryOrderResult(
        member=context,
        order=order,
        candidate=evaluate_order(rulebook(rule_set), context, order),
        active=evaluate_order(active_rulebook(), context, order),
        candidate_status=rule_set.get_status_display(),
        member_version=member_version,
    )


def _order_line(line) -> OrderLine:
    if isinstance(line, OrderLine):
        return line
    if isinstance(line, Mapping):
        return OrderLine(
            sku=str(line["sku"]), amount=Decimal(line["amount"]),
            categories=tuple(line.get("categories") or ()), quantity=int(line.get("quantity", 1)),
        )
    raise TypeError(f"An order line must be an OrderLine or a mapping, not {type(line).__name__}")


# --------------------------------------------------------------------------- forms


LINE_ROWS = 3  # order lines with a category dropdown; more go in the text box


class TryOrderForm(forms.Form):
    order = forms.CharField(
        label=gettext_lazy("Paid order"), required=False, max_length=64,
        help_text=gettext_lazy("The id or the shop's order id of a paid order (or pick one found by the "
                               "search above): its member, tier when paying and lines are tried."),
    )
    member = forms.CharField(
        label=gettext_lazy("Member"), required=False, max_length=150,
        help_text=gettext_lazy("Username, phone, external id or member id. Leave empty to pick a tier."),
    )
    tier = forms.ChoiceField(
        label=gettext_lazy("Tier"), required=False,
        help_text=gettext_lazy("Used when no member is given."),
    )
    lines = forms.CharField(
        label=gettext_lazy("More order lines"), required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60,
                                     "placeholder": "apple-fuji 60.00 imported\nbanana 68.00 seasonal"}),
        help_text=gettext_lazy("One line per row: SKU, amount in yuan, then its categories (if any), "
                               "separated by spaces, e.g. “apple-fuji 60.00 imported seasonal”."),
    )
    order_amount = forms.DecimalField(
        label=gettext_lazy("Order amount"), required=False, min_value=Decimal("0"),
        max_value=MAX_AMOUNT, max_digits=12, decimal_places=2,
        help_text=gettext_lazy("For the spend tiers; empty: the sum of the lines."),
    )
    action = forms.ChoiceField(
        label=gettext_lazy("Behaviour"), required=False,
        help_text=gettext_lazy("Also try the points of one behaviour (the member's first today)."),
    )
    photo = forms.BooleanField(label=gettext_lazy("With a photo"), required=False)

    def __init__(self, *args, rule_set: RuleSet | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        # The tiers of the version tried (a draft may add one, e.g. 铂金) and the published ones.
        self.fields["tier"].choices = [("", "---------"), *choices.tier_choices(rule_set)]
        self.fields["action"].choices = [("", "---------"), *choices.action_choices(rule_set)]
        categories = [("", "---------"), *choices.category_choices(rule_set)]
        rows = {}
        for number in range(1, LINE_ROWS + 1):
            rows[f"line{number}_sku"] = forms.CharField(
                label=gettext_lazy("Line %(number)s: SKU") % {"number": number}, required=False,
                max_length=64)
            rows[f"line{number}_amount"] = forms.DecimalField(
                label=gettext_lazy("Line %(number)s: amount (yuan)") % {"number": number}, required=False,
                min_value=Decimal("0"), max_value=MAX_AMOUNT, max_digits=12, decimal_places=2)
            rows[f"line{number}_category"] = forms.ChoiceField(
                label=gettext_lazy("Line %(number)s: category") % {"number": number}, required=False,
                choices=categories)
        # The line rows come right after the tier, before the text box.
        fields = list(self.fields.items())
        at = [name for name, _field in fields].index("lines")
        self.fields = dict(fields[:at] + list(rows.items()) + fields[at:])

    def clean_order(self):
        value = self.cleaned_data["order"].strip()
        if not value:
            return None
        found = paid_order_by_id(value)
        if found is None:
            raise forms.ValidationError(_("No paid order with id “%(value)s”."), params={"value": value})
        return found

    def clean_member(self):
        value = self.cleaned_data["member"].strip()
        if not value:
            return None
        Member = get_user_model()
        # The phone is encrypted: it is matched through its blind index.
        query = (Q(username=value) | Q(phone_index=pii.index_for(Member, "phone", value))
                 | Q(external_id=value))
        if value.isdigit() and len(value) <= 18:
            query |= Q(pk=int(value))
        found = list(Member.objects.filter(query)[:2])
        if not found:
            raise forms.ValidationError(_("No member with username, phone, external id or id “%(value)s”."),
                                        params={"value": value})
        if len(found) > 1:
            raise forms.ValidationError(_("“%(value)s” matches more than one member; use the member id."),
                                        params={"value": value})
        return found[0]

    def clean_lines(self):
        rows = [row.strip() for row in self.cleaned_data["lines"].splitlines()]
        rows = [row for row in rows if row]
        if len(rows) > MAX_LINES:
            raise forms.ValidationError(_("Enter at most %(max)s order lines."), params={"max": MAX_LINES})
        lines, errors = [], []
        for number, row in enumerate(rows, start=1):
            try:
                lines.append(self._parse_line(row))
            except forms.ValidationError as error:
                errors.append(forms.ValidationError(
                    _("Line %(number)s: %(error)s"), params={"number": number, "error": error.messages[0]}
                ))
        if errors:
            raise forms.ValidationError(errors)
        return lines

    @staticmethod
    def _parse_line(row: str) -> OrderLine:
        parts = row.replace(",", " ").replace("，", " ").split()
        if len(parts) < 2:
            raise forms.ValidationError(_("write the SKU and the amount, e.g. “apple-fuji 60.00”."))
        sku, raw_amount, categories = parts[0], parts[1], parts[2:]
        if len(sku) > 64:
            raise forms.ValidationError(_("the SKU is longer than 64 characters."))
        try:
            amount = Decimal(raw_amount)
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite():
            raise forms.ValidationError(_("“%(amount)s” is not an amount in yuan."),
                                        params={"amount": raw_amount})
        if amount < 0:
            raise forms.ValidationError(_("the amount cannot be negative."))
        if amount > MAX_AMOUNT:
            raise forms.ValidationError(_("the amount is too large."))
        if amount != amount.quantize(Decimal("0.01")):
            raise forms.ValidationError(_("the amount has more than 2 decimal places."))
        for category in categories:
            try:
                slug_validator(category)
            except forms.ValidationError:
                raise forms.ValidationError(
                    _("category “%(category)s”: use 1-32 lower-case letters, digits or _."),
                    params={"category": category},
                ) from None
        return OrderLine(sku=sku, amount=amount.quantize(Decimal("0.01")),
                         categories=tuple(dict.fromkeys(categories)))

    def clean(self):
        cleaned = super().clean()
        rows = self._line_rows(cleaned)
        member, tier, order = cleaned.get("member"), cleaned.get("tier"), cleaned.get("order")
        if order is not None:
            if member is not None or rows or cleaned.get("lines"):
                raise forms.ValidationError(_("A paid order brings its member and lines: leave the member "
                                              "and the lines empty."))
            cleaned["order_lines"] = list(order.order.lines)
            return cleaned
        if "lines" not in self.errors:
            cleaned["order_lines"] = rows + (cleaned.get("lines") or [])
            if len(cleaned["order_lines"]) > MAX_LINES:
                self.add_error("lines", _("Enter at most %(max)s order lines.") % {"max": MAX_LINES})
            elif not cleaned["order_lines"] and not cleaned.get("action"):
                self.add_error("lines", _("Enter at least one order line."))
        if "member" not in self.errors:
            if member is not None and tier:
                raise forms.ValidationError(_("Pick a member or a tier, not both."))
            if member is None and not tier:
                raise forms.ValidationError(_("Pick a member or a tier."))
        return cleaned

    def _line_rows(self, cleaned) -> list[OrderLine]:
        lines = []
        for number in range(1, LINE_ROWS + 1):
            sku = (cleaned.get(f"line{number}_sku") or "").strip()
            amount = cleaned.get(f"line{number}_amount")
            category = cleaned.get(f"line{number}_category")
            if not sku and amount is None and not category:
                continue
            if not sku or amount is None:
                self.add_error(f"line{number}_sku", _("Line %(number)s: write the SKU and the amount.")
                               % {"number": number})
                continue
            lines.append(OrderLine(sku=sku, amount=amount.quantize(Decimal("0.01")),
                                   categories=(category,) if category else ()))
        return lines


class SimulateForm(forms.Form):
    days = forms.IntegerField(
        label=gettext_lazy("Days"), initial=30, min_value=1, max_value=MAX_DAYS,
        help_text=gettext_lazy("Replay the paid orders of this many days before now."),
    )


# --------------------------------------------------------------------------- views


def _check_permission(request) -> None:
    user = request.user
    allowed = user.is_authenticated and user.is_active and user.is_staff
    if not (allowed and user.has_perm("rules.view_ruleset")):
        raise PermissionDenied


def _url(name: str, *args) -> str | None:
    # The rule set admin (registered elsewhere) may not be there, e.g. in a test URLconf.
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def _context(request, rule_set: RuleSet, title: str, **extra) -> dict:
    return {
        **admin.site.each_context(request),
        "title": title,
        "opts": RuleSet._meta,
        "rule_set": rule_set,
        "is_live": rule_set.status in (RuleSetStatus.PUBLISHED, RuleSetStatus.CANDIDATE),
        "app_url": _url("admin:app_list", RuleSet._meta.app_label),
        "changelist_url": _url("admin:rules_ruleset_changelist"),
        "change_url": _url("admin:rules_ruleset_change", rule_set.pk),
        **extra,
    }


@dataclass(frozen=True)
class TryBehaviourResult:
    action: str
    label: str
    candidate: Decision | None  # None: the version has no such behaviour
    active: Decision | None


def try_behaviour(rule_set: RuleSet, *, tier: str, action: str, photo: bool = False,
                  member_id: int | None = None) -> TryBehaviourResult:
    """One behaviour (the member's first of the day) under ``rule_set`` and the active version."""
    context = MemberContext(tier=tier, member_id=member_id)
    decisions = []
    for book in (rulebook(rule_set), active_rulebook()):
        try:
            decisions.append(evaluate_behaviour(book, context, action, BehaviourCounters(), photo=photo))
        except UnknownAction:
            decisions.append(None)
    label = dict(choices.action_choices(rule_set)).get(action, action)
    return TryBehaviourResult(action=action, label=label, candidate=decisions[0], active=decisions[1])


def _found_row(order, rule_set: RuleSet) -> dict:
    return {"id": order.id, "external_id": order.external_id, "member": order.member,
            "tier_label": choices.tier_label(order.tier, rule_set), "amount": order.amount,
            "paid_at": order.paid_at}


def try_order_view(request, rule_set_id):
    """Admin page: one order's decision under this version and under the active one, for an
    order typed in or a paid order found by ``?q=`` (its id, the shop's order id, or its member's
    username or phone) and picked from the list."""
    _check_permission(request)
    rule_set = get_object_or_404(RuleSet, pk=rule_set_id)
    result = behaviour = stored = None
    search = request.GET.get("q", "").strip()[:64]
    found = find_paid_orders(search) if search else []
    if request.method == "POST":
        form = TryOrderForm(request.POST, rule_set=rule_set)
        if form.is_valid():
            data = form.cleaned_data
            stored = data["order"]
            member = data["member"]
            if stored is not None:
                member = get_user_model().objects.filter(pk=stored.member_id).first()
            tier = data["tier"] or (stored.tier if stored is not None else None)
            if data["order_lines"] or stored is not None:
                amount = stored.amount if stored is not None else data["order_amount"]
                result = try_order(rule_set, tier=tier, member=member, lines=data["order_lines"],
                                   order_amount=amount)
            if data["action"]:
                behaviour = try_behaviour(rule_set, tier=tier or member.tier, action=data["action"],
                                          photo=data["photo"], member_id=getattr(member, "pk", None))
    else:
        form = TryOrderForm(rule_set=rule_set)
    tier_code = result.member.tier if result is not None else None
    title = _("Try an order on v%(version)s") % {"version": rule_set.version}
    return TemplateResponse(request, "admin/rules/try_order.html", _context(
        request, rule_set, title, form=form, result=result, behaviour=behaviour, stored=stored,
        search=search, found=[_found_row(order, rule_set) for order in found],
        behaviour_decisions=(behaviour.candidate, behaviour.active) if behaviour is not None else (),
        tier_label=choices.tier_label(tier_code, rule_set) if tier_code else None))


def simulate_view(request, rule_set_id):
    """Admin page: replay the paid orders of the last N local days under this version and the
    active one, with a chart of the daily difference, the breakdowns by tier and by rule table,
    and (for a running gray release) the cohort against the rest of the members. ``?days=N&csv=1``
    downloads the daily numbers."""
    _check_permission(request)
    rule_set = get_object_or_404(RuleSet, pk=rule_set_id)
    result = breakdown = chart = None
    if request.method == "GET" and "csv" in request.GET:
        form = SimulateForm(request.GET)
        if not form.is_valid():
            return HttpResponseBadRequest(_("Choose the number of days (1 to %(max)s).") % {"max": MAX_DAYS})
        return _daily_csv(rule_set, simulate_days(rule_set, days=form.cleaned_data["days"]))
    if request.method == "POST" or "days" in request.GET:  # read-only: a GET link can show a run
        form = SimulateForm(request.POST if request.method == "POST" else request.GET)
        if form.is_valid():
            breakdown = simulate_days(rule_set, days=form.cleaned_data["days"])
            result = breakdown.result
            chart = column_chart(
                [row.key.strftime("%m-%d") for row in breakdown.daily],
                [row.difference for row in breakdown.daily],
                title=_("Daily difference in points, v%(candidate)s against v%(active)s")
                % {"candidate": result.candidate_version, "active": result.active_version},
            )
    else:
        form = SimulateForm()
    title = _("Simulate v%(version)s on past orders") % {"version": rule_set.version}
    csv_url = None
    if breakdown is not None:
        csv_url = f"{request.path}?{urlencode({'days': breakdown.result.days, 'csv': 1})}"
    return TemplateResponse(request, "admin/rules/simulate.html", _context(
        request, rule_set, title, form=form, result=result, breakdown=breakdown, chart=chart,
        csv_url=csv_url, gray=gray_comparison(rule_set)))


def _daily_csv(rule_set: RuleSet, breakdown) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"simulation-v{rule_set.version}-{breakdown.first_day:%Y%m%d}-{breakdown.last_day:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response.write("\ufeff")  # so that Excel reads the Chinese header as UTF-8
    writer = csv.writer(response)
    writer.writerows(daily_csv_rows(breakdown))
    return response
