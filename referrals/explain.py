"""The explanation line of a reward record, in the reader's language (built from its ``detail``,
so a record stored under one language reads in the other)."""

from __future__ import annotations

from django.utils.translation import gettext as _

from referrals.models import Outcome


def _why(code: str, record) -> str:
    reasons = {
        "inactive": _("the account is inactive"),
        "repurchase": _("their rewards since their own last order reached the repurchase threshold "
                        "of %(points)s points; a new order of theirs unlocks more")
        % {"points": record.plan.repurchase_points},
        "daily_cap": _("the daily cap of %(points)s points is reached")
        % {"points": record.plan.daily_cap_per_member},
        "order_cap": _("the order's cap of %(points)s points is reached")
        % {"points": record.plan.cap_per_order},
        "beyond_level_limit": _("they are more than %(levels)s invite levels above the buyer")
        % {"levels": record.plan.max_levels},
    }
    return reasons.get(code, code)


def explain(record, *, name_of=str) -> str:
    """``name_of`` shows the member a reward passed up from (a member page masks it)."""
    detail = record.detail or {}
    values = {"kind": record.get_kind_display(), "order": detail.get("order", record.order_id),
              "share": detail.get("share", "?"), "budget": detail.get("budget", "?"),
              "points": record.points}
    text = _("%(kind)s: %(share)s%% of the %(budget)s-point budget of order %(order)s") % values
    if record.outcome == Outcome.PASSED_UP:
        name = name_of(record.intended) if record.intended_id else "?"
        text += _("; passed up from %(name)s because %(why)s") % {"name": name,
                                                                  "why": _why(detail.get("why"), record)}
    elif record.outcome == Outcome.LAPSED:
        text += _("; lapsed because %(why)s") % {"why": _why(detail.get("why"), record)}
        if detail.get("then") == "no_eligible":
            text += _(", and no eligible inviter was left within the levels paid")
    if detail.get("capped"):
        text += _("; reduced to %(points)s points because %(why)s") % {
            "points": record.points, "why": _why(detail["capped"], record)}
    return text
