"""The reward plan's "Simulate" page in the admin: a plan against the published one over the last
N days of paid orders (``referrals.simulation``), side by side. Writes nothing.

The plan admin routes ``<object_id>/simulate/`` here (``admin:referrals_rewardplan_simulate``)
through ``admin_site.admin_view``; this view checks the plan's view permission itself, so it holds
wherever it is mounted. The form is read from the query string (a GET: nothing changes), or from
a POST.
"""

from __future__ import annotations

from django import forms
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from referrals.models import RewardPlan
from referrals.simulation import MAX_DAYS, column_title, compare_with_published, comparison_rows


class SimulateForm(forms.Form):
    days = forms.IntegerField(
        label=gettext_lazy("Days"), initial=30, min_value=1, max_value=MAX_DAYS,
        help_text=gettext_lazy("Replay the paid orders of this many days before now (1-365)."),
    )


def _url(name: str, *args) -> str | None:
    # The plan admin is registered elsewhere and may not be there (a test URLconf, a site without it).
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def simulate_view(model_admin, request, object_id):
    """Admin page: the plan and the published plan over the paid orders of the chosen days."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    plan = model_admin.get_object(request, unquote(str(object_id)))
    if plan is None:
        raise Http404
    if not model_admin.has_view_permission(request, plan):
        raise PermissionDenied
    if request.method == "POST":
        data = request.POST
    else:
        data = request.GET if "days" in request.GET else None
    form = SimulateForm(data)
    result = published = None
    columns, rows = [], []
    if data is not None and form.is_valid():
        result, published = compare_with_published(plan, days=form.cleaned_data["days"])
        shown = [result] if published is result else [result, published]
        columns = [column_title(result), column_title(published) if published else _("No published plan")]
        columns = columns[:len(shown)]
        rows = comparison_rows(*shown)
    opts = RewardPlan._meta
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("Simulate v%(version)s on past orders") % {"version": plan.version},
        "opts": opts,
        "plan": plan,
        "form": form,
        "result": result,
        "published": published,
        "is_published_plan": published is not None and published is result,
        "columns": columns,
        "rows": rows,
        "app_url": _url("admin:app_list", opts.app_label),
        "changelist_url": _url(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
        "change_url": _url(f"admin:{opts.app_label}_{opts.model_name}_change", plan.pk),
    }
    return TemplateResponse(request, "admin/referrals/rewardplan/simulate.html", context)
