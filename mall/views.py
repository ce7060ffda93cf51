"""Member pages (DESIGN.md 4): server-rendered, phone-first.

Views parse input with ``mall.forms``, call a service or a selector, and render. Every write is a
service call (``mall.services.members``, ``points.services.earning``, ``catalog.services``); every
read is of the signed-in member's own rows (another member's redemption or message id answers
404).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, update_session_auth_hash
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.utils.translation import gettext_noop, ngettext, pgettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from catalog import recommendations
from catalog import selectors as catalog_selectors
from catalog import services as catalog_services
from catalog.models import Address, CouponCode, PaymentStatus, Product, ProductKind, RedemptionStatus
from catalog.payments import get_provider
from common.db import stale_ok
from common.errors import DomainError, InvalidFields
from common.pages import show_error, status_of
from common.text import stored_text
from mall import invite
from mall import selectors as mall_selectors
from mall.errors import MessageNotFound
from mall.forms import (
    AccountForm,
    CancelForm,
    CloseAccountForm,
    DrawForm,
    HistoryFilterForm,
    LoginForm,
    MallFilterForm,
    PasswordChangeForm,
    RedeemForm,
    RegisterForm,
)
from mall.services import accounts, members, play
from mall.services import messages as inbox_messages
from mall.services import tiers as tier_services
from mall.throttles import LoginIPThrottle, RegisterThrottle, sign_in_locked
from points import selectors as points_selectors
from points.services import earning
from referrals import selectors as referral_selectors
from referrals.errors import InviteError
from referrals.models import Node
from referrals.services import tree
from rules.tiers import default_tier_code, published_tiers, tier_info, tier_name

# Sign-in throttling is django-axes' (failures per username and address, settings.AXES_*) and
# the API's per-address rates (mall.throttles): the pages and the API count the same way.
TOO_MANY_SIGN_INS = _lazy("Too many failed sign-ins. Please try again in 15 minutes.")
HISTORY_PAGE_SIZE = 20
# The team page lists this many direct invitees (the counts above it are of all of them).
INVITEES_SHOWN = 50
MALL_PAGE_SIZE = 12
WEEKDAYS = [
    pgettext_lazy("check-in week", "Mon"), pgettext_lazy("check-in week", "Tue"),
    pgettext_lazy("check-in week", "Wed"), pgettext_lazy("check-in week", "Thu"),
    pgettext_lazy("check-in week", "Fri"), pgettext_lazy("check-in week", "Sat"),
    pgettext_lazy("check-in week", "Sun"),
]
RECOMMENDED = 4


@never_cache
@require_GET
def healthz(request):
    """Liveness for load balancers: 200 when the database answers, 503 when it does not.

    The cache is reported but never fails the check: with Redis down the product degrades to
    uncached reads. ``ledger`` is what the latest reconciliation found (``ok``, ``mismatch``,
    ``unknown`` before the first run or without a database): for monitoring, never a reason to
    take the web process out of service, so a mismatch stays 200.
    """
    status = {"database": "ok", "cache": "ok", "ledger": "unknown"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down" here
        status["database"] = f"error: {exc.__class__.__name__}"
    else:
        try:
            status["ledger"] = points_selectors.ledger_status()
        except Exception:  # a failing read here must not fail the liveness check
            status["ledger"] = "unknown"
    try:
        cache.set("healthz", "1", 5)
        if cache.get("healthz") != "1":
            status["cache"] = "unavailable"
    except Exception as exc:
        status["cache"] = f"error: {exc.__class__.__name__}"
    code = 200 if status["database"] == "ok" else 503
    return JsonResponse({"status": "ok" if code == 200 else "unavailable", **status}, status=code)


# --------------------------------------------------------------------------- helpers


def _throttled(request, throttle_class) -> bool:
    """Whether one of the API's throttles refuses this page request (the request counts)."""
    return not throttle_class().allow_request(request, None)


def _safe_next(request, fallback: str = "home") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return reverse(fallback)


def _new_key() -> str:
    return uuid.uuid4().hex


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


# --------------------------------------------------------------------------- sign in / up / out


@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request):
    if request.user.is_authenticated:
        return redirect(_safe_next(request))
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        if _throttled(request, LoginIPThrottle):
            form.add_error(None, TOO_MANY_SIGN_INS)
            status = 429
        else:
            # Username or phone (mall.backends); a locked-out (username, address) comes back as
            # None too, and django-axes' middleware answers with locked_out() instead.
            user = authenticate(request, username=form.cleaned_data["username"].strip(),
                                password=form.cleaned_data["password"])
            if user is None:
                form.add_error(None, _("The username or password is not correct."))
                status = 400
            else:
                auth_login(request, user)
                return redirect(_safe_next(request))
    elif request.method == "POST":
        status = 400
    return _login_page(request, form, status)


def _login_page(request, form, status):
    return render(request, "pages/login.html",
                  {"form": form, "next": request.POST.get("next") or request.GET.get("next", "")},
                  status=status)


def locked_out(request, response=None, credentials=None):
    """``AXES_LOCKOUT_CALLABLE``: the answer to a sign-in refused by django-axes — the login page
    with its message and 429 (the API's token view answers its own 429). The attempt that reaches
    the limit keeps its own answer (``mall.throttles.sign_in_locked``)."""
    if response is not None and not sign_in_locked(request):
        return response
    if request.path == reverse("admin:login"):
        return _console_locked_out(request)
    form = LoginForm(request.POST or None)
    form.is_valid()
    form.add_error(None, TOO_MANY_SIGN_INS)
    return _login_page(request, form, 429)


def _console_locked_out(request):
    """The console's sign-in page (unfold's), with the lockout message and 429."""
    from django.contrib import admin
    from django.template.response import TemplateResponse

    form = admin.site.login_form or admin.forms.AdminAuthenticationForm
    messages.error(request, TOO_MANY_SIGN_INS)
    # Rendered here: django-axes' middleware answers with it, after the view stage.
    return TemplateResponse(request, "admin/login.html", {
        **admin.site.each_context(request),
        "title": _("Log in"),
        "app_path": request.get_full_path(),
        "form": form(request, initial={"username": request.POST.get("username", "")}),
        "next": request.POST.get("next") or request.GET.get("next") or reverse("admin:index"),
    }, status=429).render()


@require_POST
def logout_view(request):
    auth_logout(request)
    messages.info(request, _("You have signed out."))
    return redirect("login")


@sensitive_post_parameters("password", "password2")
@never_cache
@require_http_methods(["GET", "POST"])
def register_view(request):
    if request.user.is_authenticated:
        return redirect("home")
    if request.method == "POST":
        form = RegisterForm(request.POST)
    else:
        # The invite code of the link stays in the form, also when it is shown again with errors.
        form = RegisterForm(initial={"invite_code": request.GET.get("invite", "")[:16]})
    status = 200
    if request.method == "POST":
        status = 400
        if _throttled(request, RegisterThrottle):
            form.add_error(None, _("Too many sign-ups from your network. Please try again later."))
            status = 429
        elif form.is_valid():
            data = form.cleaned_data
            try:
                registration = members.register(
                    username=data["username"], password=data["password"], phone=data["phone"] or None,
                    invite_code=data["invite_code"] or None,
                )
            except (InvalidFields, InviteError) as exc:
                _add_field_errors(form, exc)
            else:
                auth_login(request, registration.member, backend="mall.backends.UsernameOrPhoneBackend")
                if registration.points:
                    messages.success(request, ngettext(
                        "Welcome! You earned %(points)s point for joining.",
                        "Welcome! You earned %(points)s points for joining.",
                        registration.points,
                    ) % {"points": registration.points})
                else:
                    messages.success(request, _("Welcome!"))
                return redirect("home")
    # "Invited with code X" only for a code someone holds: a mistyped link says nothing it cannot keep.
    code = form["invite_code"].value() or ""
    invited = bool(code) and Node.objects.filter(invite_code=tree.normalise_code(code)).exists()
    return render(request, "pages/register.html", {"form": form, "invited": invited}, status=status)


def _add_field_errors(form, exc: InvalidFields) -> None:
    for field, errors in exc.fields.items():
        target = field if field in form.fields else None
        for error in errors if isinstance(errors, list) else [errors]:
            form.add_error(target, str(error))


# --------------------------------------------------------------------------- home and points


def _expiring_soon(balance, months: int = 2):
    return balance.expiring[:months]


@login_required
@require_GET
def home(request):
    member = request.user
    balance = points_selectors.balance(member, months=2)
    offer = catalog_selectors.welcome_offer_for(member)
    # Affordable for one unit at this member's price (the welcome offer included).
    recommended = catalog_selectors.product_list(
        max_points=balance.available + offer, ordering="-points", page_size=RECOMMENDED,
        tier=member.tier,
    )["results"]
    affordable = bool(recommended)
    if not affordable:
        recommended = catalog_selectors.product_list(
            ordering="points", page_size=RECOMMENDED, tier=member.tier,
        )["results"]
    for_you = _cards(recommendations.recommended_ids(member, limit=RECOMMENDED,
                                                     available=balance.available),
                     offer, balance.available, tier=member.tier)
    return render(request, "pages/home.html", {
        "for_you": for_you,
        "balance": balance,
        "expiring": _expiring_soon(balance),
        **_check_in_card(member),
        "tier": mall_selectors.tier_progress(member),
        "tasks": play.tasks_today(member),
        "recommended": catalog_selectors.with_member_prices(recommended, offer),
        "affordable": affordable,
        "nav": "home",
    })


def _check_in_card(member) -> dict:
    """The check-in card's context: the week (``points.selectors.check_in_calendar``) and the
    free draws of the open lotteries a longer streak earns (``streak_draws``: days, name, in)."""
    calendar = points_selectors.check_in_calendar(member, timezone.localdate())
    # Short weekday names that fit seven columns on a phone (周一 rather than 星期一).
    calendar["days"] = [{**day, "name": WEEKDAYS[day["day"].weekday()]} for day in calendar["days"]]
    streak = calendar["streak"]
    # Names and days only: not the prizes open_lotteries() prefetches for the odds.
    draws = [{"days": lottery.streak_days, "name": lottery.name, "in_days": lottery.streak_days - streak}
             for lottery in catalog_selectors.open_lotteries().filter(streak_days__gt=streak)
             .prefetch_related(None).order_by("streak_days")[:3]]
    return {"check_in": calendar, "streak_draws": draws}


@login_required
@require_POST
def check_in(request):
    result = earning.check_in(request.user)
    days = ngettext("%(streak)s day in a row", "%(streak)s days in a row", result.streak) % {
        "streak": result.streak
    }
    if result.already_checked_in:
        text = _("You have already checked in today (%(days)s).") % {"days": days}
        level = messages.INFO
    elif result.points:
        text = _("Checked in: +%(points)s points, %(days)s.") % {"points": result.points, "days": days}
        level = messages.SUCCESS
    else:
        text = _("Checked in, %(days)s.") % {"days": days}
        level = messages.SUCCESS
    if _is_htmx(request):
        # The card (with its week) is swapped in place; the balance on the page is updated out
        # of band.
        available = points_selectors.balance(request.user, months=0).available
        # So is the task list: the check-in may have completed a task (its listener ran at commit).
        return render(request, "pages/_check_in.html",
                      {**_check_in_card(request.user), "check_in_message": text,
                       "oob_available": available, "oob_tasks": True,
                       "tasks": play.tasks_today(request.user)})
    messages.add_message(request, level, text)
    return redirect("home")


@login_required
@require_GET
def coupons(request):
    """The coupon wallet: the member's codes with copy buttons, validity and how to use them."""
    state = request.GET.get("state", "")
    if state not in ("", "valid", "used", "expired"):
        state = ""
    now = timezone.now()
    page = Paginator(catalog_selectors.coupon_wallet(request.user, state=state, now=now),
                     HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "pages/coupons.html", {
        "page": page, "state": state, "nav": "me",
        "coupons": [{"code": code, "state": catalog_selectors.coupon_state(code, now)} for code in page],
    })


@login_required
@require_POST
def use_coupon(request, coupon_id: int):
    code = CouponCode.objects.filter(pk=coupon_id, redemption__member_id=request.user.pk).first()
    if code is None:
        raise Http404(_("No such coupon."))
    catalog_services.mark_code_used(code, member=request.user)
    messages.success(request, _("Marked as used."))
    return redirect("coupons")


@login_required
@require_GET
def badges(request):
    standings = play.badges_of(request.user)
    return render(request, "pages/badges.html", {
        "standings": standings,
        "earned": [s for s in standings if s.award is not None],
        "nav": "me",
    })


@login_required
@require_GET
@stale_ok  # a few seconds behind is fine for a list (common.db: the read replica when there is one)
def history(request):
    form = HistoryFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    entries = points_selectors.entries(
        request.user, kind=filters.get("kind") or "", date_from=filters.get("date_from"),
        date_to=filters.get("date_to"),
    )
    page = Paginator(entries, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    rows = _history_rows(request.user, entries, page, filters)
    return render(request, "pages/history.html", {
        "form": form,
        "page": page,
        "rows": rows,
        "months": _by_month(rows),
        "query": query.urlencode(),
        "balance": points_selectors.balance(request.user, months=0),
        "nav": "points",
    })


def signed_points(points: int) -> str:
    """``+1,288,000`` / ``-120`` / ``0``: a change of points as the history shows it."""
    return f"{points:+,}" if points else "0"


def _by_month(rows: list[dict]) -> list[dict]:
    """``rows`` (newest first) under their local month: ``[{"month": date, "rows": [...]}]``."""
    months: list[dict] = []
    for row in rows:
        month = timezone.localtime(row["at"]).date().replace(day=1)
        if not months or months[-1]["month"] != month:
            months.append({"month": month, "rows": []})
        months[-1]["rows"].append(row)
    return months


def _history_rows(member, entries, page, filters) -> list[dict]:
    """The page's entries with the member's tier changes of the same stretch of time between
    them, newest first: a change is on the page whose entries surround it (after this page's
    last entry, before the previous page's last one)."""
    page.object_list = list(page.object_list)  # read once, for the rows and the bounds
    now = timezone.now()
    rows = []
    for entry in page.object_list:
        details = points_selectors.entry_details(entry, now=now)
        # A hold or a release changes no total but names its points (unsigned: not a change).
        amount = signed_points(entry.delta) if entry.delta else f"{details['points']:,}"
        rows.append({"entry": entry, "at": entry.created_at,
                     "reason": points_selectors.reason_text(entry),
                     "lines": points_selectors.explanation_lines(entry), "amount": amount,
                     "balance_after": f"{entry.balance_after:,}", **details})
    if filters.get("kind") not in ("", None, "tier"):
        return rows
    changes = tier_services.changes_of(member)
    if filters.get("date_from") is not None:
        changes = changes.filter(at__date__gte=filters["date_from"])
    if filters.get("date_to") is not None:
        changes = changes.filter(at__date__lte=filters["date_to"])
    if page.object_list and page.has_next():
        changes = changes.filter(at__gte=page.object_list[-1].created_at)
    if page.object_list and page.has_previous():
        previous_last = entries[page.start_index() - 2]  # the last entry of the page before
        changes = changes.filter(at__lt=previous_last.created_at)
    table = published_tiers()

    def name(code):
        info = tier_info(code, table)
        return info.label() if info is not None else code

    for change in changes:
        if change.reason == change.Reason.GRACE:
            text = _("%(tier)s, kept until %(date)s") % {"tier": name(change.from_tier),
                                                        "date": change.grace_until}
        elif change.reason == change.Reason.RECOVERED:
            text = _("%(tier)s, kept") % {"tier": name(change.from_tier)}
        else:
            text = f"{name(change.from_tier)} → {name(change.to_tier)}"
        rows.append({"change": change, "at": change.at, "text": text})
    rows.sort(key=lambda row: row["at"], reverse=True)  # stable: entries keep their order
    return rows


# --------------------------------------------------------------------------- the mall


def _tier(request) -> str:
    """The tier whose products the visitor sees: the member's, or the lowest published tier."""
    return request.user.tier if request.user.is_authenticated else default_tier_code()


def _available(request) -> int | None:
    """The member's available points; None for an anonymous visitor."""
    if not request.user.is_authenticated:
        return None
    return points_selectors.balance(request.user, months=0).available


def _with_points_short(products: list[dict], available: int | None) -> list[dict]:
    """``points_short`` on each product dict: the points the member lacks for one unit (0 when
    they can pay), None for an anonymous visitor; ``points_short_display`` the same with
    thousands separators in every language (``1,250``: the Chinese locale's own format has
    none)."""
    priced = []
    for product in products:
        short = None if available is None else max(0, product["member_points"] - available)
        priced.append({**product, "points_short": short,
                       "points_short_display": f"{short:,}" if short is not None else ""})
    return priced


def _cards(product_ids: list[int], offer: int, available: int | None, *, tier: str) -> list[dict]:
    """Products (ids from ``catalog.recommendations``) as the product cards' dicts at the
    visitor's prices, read through the catalog cache (a product gone off sale meanwhile is left
    out)."""
    products = [catalog_selectors.product_detail(pid, tier=tier) for pid in product_ids]
    return _with_points_short(catalog_selectors.with_member_prices(
        [item for item in products if item is not None], offer), available)


@require_GET
@stale_ok
def mall(request):
    """The mall, open to anonymous visitors too: they see what the lowest tier sees, without
    points (no balance, no affordability, the \"affordable\" filter ignored)."""
    form = MallFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    category = filters.get("category")
    available = _available(request)
    listing = catalog_selectors.product_list(
        category=category, search=filters.get("q") or "", ordering=filters.get("ordering") or "default",
        page=filters.get("page") or 1, page_size=MALL_PAGE_SIZE, tier=_tier(request),
        max_points=available if filters.get("affordable") and available is not None else None,
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "pages/mall.html", {
        "form": form,
        "listing": listing,
        "products": _with_points_short(catalog_selectors.with_member_prices(
            listing["results"], catalog_selectors.welcome_offer_for(request.user)), available),
        "categories": catalog_selectors.categories(),
        "category": category,
        "q": filters.get("q") or "",
        "query": query.urlencode(),
        "previous_page": listing["page"] - 1 if listing["page"] > 1 else None,
        "next_page": listing["page"] + 1 if listing["page"] < listing["num_pages"] else None,
        "available": available,
        "affordable": bool(filters.get("affordable")) and available is not None,
        "lotteries": list(catalog_selectors.open_lotteries().prefetch_related(None)[:5]),  # names only
        "nav": "mall",
    })


def _product_or_404(request, product_id: int) -> dict:
    """The product on sale, as the visitor's tier may see it (``_tier``); 404 otherwise."""
    product = catalog_selectors.product_detail(product_id, tier=_tier(request))
    if product is None:
        raise Http404(_("This product is not in the mall."))
    return product


@require_GET
def product(request, product_id: int):
    """A product's page, open to anonymous visitors (a "log in to redeem" link back here)."""
    item = _product_or_404(request, product_id)
    available = _available(request)
    offer = catalog_selectors.welcome_offer_for(request.user)
    [item] = _with_points_short(catalog_selectors.with_member_prices([item], offer), available)
    related = recommendations.related_ids(item["id"], request.user, limit=RECOMMENDED)
    return render(request, "pages/product.html", {
        "product": item,
        "related": _cards(related, offer, available, tier=_tier(request)),
        "available": available,
        "login_url": f"{reverse('login')}?{urlencode({'next': request.path})}",
        "nav": "mall",
    })


REFUSAL_TITLES = {
    "insufficient_points": _lazy("You do not have enough points."),
    "out_of_stock": _lazy("Out of stock."),
    "limit_reached": _lazy("Limit reached."),
    "not_available": _lazy("Not available."),
    "idempotency_conflict": _lazy("This form was already sent with other values."),
    "welcome_offer_used": _lazy("Your new-member offer has already been used."),
}


def _refusal(exc) -> dict:
    code = getattr(exc, "code", "error")
    title = REFUSAL_TITLES.get(code) or _("The redemption was refused.")
    return {"code": code, "title": str(title), "detail": str(getattr(exc, "message", "") or exc)}


def _addresses(member) -> list:
    return list(Address.objects.filter(member_id=member.pk).order_by("-is_default", "-id"))


@login_required
@require_http_methods(["GET", "POST"])
def redeem(request, product_id: int):
    """GET: the confirmation step (with a fresh key); POST: redeem under that key. A points +
    cash product then goes to the payment provider's page; the member lands on the redemption
    page after paying."""
    addresses = _addresses(request.user)
    if request.method == "GET":
        item = _product_or_404(request, product_id)
        try:
            quantity = max(1, min(99, int(request.GET.get("quantity", 1))))
        except ValueError:
            quantity = 1
        form = RedeemForm(initial={"key": _new_key(), "quantity": quantity},
                          needs_address=item["kind"] == ProductKind.PHYSICAL, addresses=addresses)
        return _render_confirm(request, item, form, quantity)

    # A product the member's tier may not see is not in their mall at all (404); one taken off
    # sale since the confirmation is refused by redeem() below, with the reason shown.
    product_row = get_object_or_404(Product.objects.visible_to(request.user.tier), pk=product_id)
    item = (catalog_selectors.product_detail(product_id, tier=request.user.tier)
            or _row_as_item(product_row))
    physical = product_row.kind == ProductKind.PHYSICAL
    form = RedeemForm(request.POST, needs_address=physical, addresses=addresses)
    if not form.is_valid():
        quantity = form.cleaned_data.get("quantity") or 1
        return _render_confirm(request, item, form, quantity, status=400)
    data = form.cleaned_data
    try:
        redemption = catalog_services.redeem(
            request.user, product_row, data["quantity"], key=data["key"],
            saved_address=data["address_id"] if physical else None,
        )
    except DomainError as exc:
        # Nothing was written: show why, with a fresh key for another try.
        fresh = RedeemForm(initial={"key": _new_key(), "quantity": data["quantity"],
                                    "address_id": data["address_id"]},
                           needs_address=physical, addresses=addresses)
        return _render_confirm(request, item, fresh, data["quantity"], refusal=_refusal(exc),
                               status=status_of(exc))
    if redemption.status == RedemptionStatus.AWAITING_PAYMENT:
        payment = redemption.payment
        if payment.status == PaymentStatus.PENDING:
            return redirect(get_provider(payment.provider).start(payment))
        return redirect("redemption", redemption_id=redemption.pk)
    messages.success(request, _("Redeemed %(product)s × %(quantity)s for %(points)s points.") % {
        "product": redemption.product.name, "quantity": redemption.quantity,
        "points": redemption.points,
    })
    return redirect("redemption", redemption_id=redemption.pk)


def _row_as_item(product_row: Product) -> dict:
    # A product taken off sale since the form was shown: enough to show the refusal.
    return {"id": product_row.pk, "name": product_row.name, "kind": product_row.kind,
            "points_price": product_row.points_price, "cash_price": f"{product_row.cash_price:.2f}",
            "image": "", "stock": product_row.stock, "category": None, "description": ""}


def _render_confirm(request, item, form, quantity, *, refusal=None, status=200):
    available = points_selectors.balance(request.user, months=0).available
    # Priced as redeem() prices it now (the welcome offer off the whole, not per unit).
    price = catalog_selectors.price_for(request.user, item, quantity)
    short = max(0, price.points - available)
    return render(request, "pages/redeem_confirm.html", {
        "product": item,
        "form": form,
        "quantity": quantity,
        "list_total": price.list_points,
        "welcome_discount": price.welcome_discount,
        "total": price.points,
        "cash_total": f"{price.cash:.2f}",
        "available": available,
        # Never a negative remainder: a member who cannot afford it is told how many are missing.
        "after": max(0, available - price.points),
        "short": short,
        "can_afford": short == 0,
        "add_address_url": reverse("address-add") + "?" + urlencode(
            {"next": f"{reverse('redeem', args=[item['id']])}?quantity={quantity}"}),
        "refusal": refusal,
        "nav": "mall",
    }, status=status)


# --------------------------------------------------------------------------- redemptions


@login_required
@require_GET
def redemptions(request):
    page = Paginator(catalog_selectors.redemptions(request.user), HISTORY_PAGE_SIZE).get_page(
        request.GET.get("page"))
    return render(request, "pages/redemptions.html", {"page": page, "query": "", "nav": "orders"})


def _own_redemption(request, redemption_id: int):
    redemption = catalog_selectors.redemption(request.user, redemption_id)
    if redemption is None:
        raise Http404(_("No such redemption."))
    return redemption


@login_required
@require_GET
def redemption(request, redemption_id: int):
    redemption = _own_redemption(request, redemption_id)
    payment = getattr(redemption, "payment", None) if redemption.cash else None
    pay_url = (get_provider(payment.provider).start(payment)
               if payment is not None and payment.status == PaymentStatus.PENDING else "")
    return render(request, "pages/redemption.html", {
        "redemption": redemption,
        "payment": payment,
        "pay_url": pay_url,
        "cancellable": RedemptionStatus.CREATED,
        "nav": "orders",
    })


@login_required
@require_http_methods(["GET", "POST"])
def cancel_redemption(request, redemption_id: int):
    """GET: the confirmation step; POST: cancel (the service is idempotent: a second submit finds
    the redemption cancelled and changes nothing)."""
    item = _own_redemption(request, redemption_id)
    form = CancelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        reason = form.cleaned_data["reason"].strip() or stored_text(
            gettext_noop("Cancelled by the member"))
        try:
            cancelled = catalog_services.cancel(item, reason=reason)
        except DomainError as exc:
            show_error(request, exc)
        else:
            messages.success(request, _("Redemption #%(id)s is cancelled; %(points)s points are back "
                                        "in your account.") % {"id": cancelled.pk,
                                                               "points": cancelled.points})
        return redirect("redemption", redemption_id=item.pk)
    if item.status not in (RedemptionStatus.CREATED, RedemptionStatus.AWAITING_PAYMENT):
        messages.error(request, _("A redemption that has been fulfilled cannot be cancelled."))
        return redirect("redemption", redemption_id=item.pk)
    return render(request, "pages/cancel_confirm.html", {"redemption": item, "form": form,
                                                         "nav": "orders"},
                  status=400 if request.method == "POST" else 200)


# --------------------------------------------------------------------------- invite and account


@login_required
@require_GET
def invite_page(request):
    url = invite.invite_url(request, request.user)
    friends = invite.invited_friends(request.user, limit=INVITEES_SHOWN)
    total = referral_selectors.direct_invitees(request.user).count() if len(friends) >= INVITEES_SHOWN \
        else len(friends)
    return render(request, "pages/invite.html", {
        "code": invite.invite_code(request.user),
        "url": url,
        "qr": invite.qr_svg(url),
        "rules": invite.plan_rules(request.user),
        "friends": friends,
        "more_friends": max(0, total - len(friends)),
        "share_text": _("Join me in the points mall with my invite code %(code)s.")
        % {"code": invite.invite_code(request.user)},
        "nav": "me",
    })


def _reward_row(record, now) -> dict:
    status = referral_selectors.record_status(record, now=now)
    return {"record": record, "status": status,
            "status_label": referral_selectors.RecordStatus.labels[status],
            "explanation": referral_selectors.member_explanation(record)}


@login_required
@require_GET
def team(request):
    member = request.user
    now = timezone.now()
    summary = referral_selectors.team_summary(member, now=now)
    invitees = [{"name": referral_selectors.masked(node.member), "qualified": node.qualified,
                 "is_leader": node.is_leader, "invited_at": node.invited_at}
                for node in referral_selectors.direct_invitees(member)[:INVITEES_SHOWN]]
    page = Paginator(referral_selectors.reward_records(member), HISTORY_PAGE_SIZE).get_page(
        request.GET.get("page"))
    records = [_reward_row(record, now) for record in page.object_list]
    return render(request, "pages/team.html", {
        "summary": summary,
        "inviter": referral_selectors.masked(summary.inviter) if summary.inviter else None,
        "invitees": invitees,
        "more_invitees": max(0, summary.direct_count - len(invitees)),
        "page": page,
        "records": records,
        "query": "",
        "nav": "me",
    })


@login_required
@require_http_methods(["GET", "POST"])
def account(request):
    member = request.user
    if request.method == "POST":
        form = AccountForm(request.POST)
        if form.is_valid():
            try:  # the phone first: a taken one saves nothing
                members.change_phone(member, phone=form.cleaned_data["phone"] or None)
            except InvalidFields as exc:
                _add_field_errors(form, exc)
            else:
                members.update_profile(member, nickname=form.cleaned_data["nickname"])
                messages.success(request, _("Your account is saved."))
                return redirect("account")
        status = 400
    else:
        form = AccountForm(initial={"nickname": member.nickname, "phone": member.phone or ""})
        status = 200
    return render(request, "pages/account.html", {
        "form": form,
        "invite_code": invite.invite_code(member),
        "tier_name": tier_name(member.tier),
        "nav": "me",
    }, status=status)


@sensitive_post_parameters("current_password", "new_password", "new_password2")
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def password_change(request):
    """Change the password; every app token of the member is revoked (``accounts``), this
    session stays signed in and the member's other sessions end."""
    form = PasswordChangeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                member = accounts.change_password(
                    request.user, current_password=form.cleaned_data["current_password"],
                    new_password=form.cleaned_data["new_password"])
            except InvalidFields as exc:
                _add_field_errors(form, exc)
            else:
                update_session_auth_hash(request, member)
                messages.success(request, _("Your password is changed. The apps ask you to sign "
                                            "in again."))
                return redirect("account")
    return render(request, "pages/password.html", {"form": form, "nav": "me"}, status=status)


@sensitive_post_parameters("password")
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def close_account(request):
    """Close the account for good, with the password (``accounts.close_account``); the member
    is signed out after."""
    form = CloseAccountForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                accounts.close_account(request.user, password=form.cleaned_data["password"])
            except InvalidFields as exc:
                _add_field_errors(form, exc)
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = status_of(exc)
            else:
                auth_logout(request)
                messages.info(request, _("Your account is closed and your personal data erased."))
                return redirect("login")
    return render(request, "pages/close_account.html", {
        "form": form, "nav": "me",
        "available": points_selectors.balance(request.user, months=0).available,
    }, status=status)


# --------------------------------------------------------------------------- messages


def _site_link(request, link: str) -> str:
    """``link`` when it is a page of this site (what staff write: /mall/...), else empty."""
    if link.startswith("/") and url_has_allowed_host_and_scheme(
            link, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return link
    return ""


@login_required
@require_GET
def inbox(request):
    """The member's messages, newest first, in the request's language; unread ones marked."""
    page = Paginator(inbox_messages.inbox(request.user), HISTORY_PAGE_SIZE).get_page(
        request.GET.get("page"))
    language = translation.get_language() or settings.LANGUAGE_CODE
    rows = []
    for message in page.object_list:
        title, body = message.text(language)
        rows.append({"message": message, "title": title, "body": body,
                     "link": _site_link(request, message.link)})
    return render(request, "pages/messages.html", {"page": page, "rows": rows, "query": "",
                                                   "nav": "messages"})


@login_required
@require_POST
def read_message(request, message_id: int):
    """Mark one of the member's messages read (again: nothing changes), then open its link
    (``open``) or go back to the list."""
    try:
        message = inbox_messages.mark_read(request.user, message_id)
    except MessageNotFound as exc:
        raise Http404(exc.message) from None
    link = _site_link(request, message.link)
    if request.POST.get("open") and link:
        return redirect(link)
    return redirect(_safe_next(request, "messages"))


@login_required
@require_POST
def read_all_messages(request):
    marked = inbox_messages.mark_all_read(request.user)
    if marked:
        messages.success(request, ngettext("Marked %(count)s message read.",
                                           "Marked %(count)s messages read.", marked)
                         % {"count": marked})
    return redirect("messages")


# --------------------------------------------------------------------------- lottery


def _open_lottery_or_404(lottery_id: int, member):
    lottery = catalog_selectors.open_lotteries(member=member).filter(pk=lottery_id).first()
    if lottery is None:
        raise Http404(_("No such lottery."))
    return lottery


@login_required
@require_http_methods(["GET", "POST"])
def lottery(request, lottery_id: int):
    """GET: the lottery with each prize's odds and a draw button (with a fresh key); POST: draw
    under that key (a double click posts the same key: one draw) and show the prize."""
    current = _open_lottery_or_404(lottery_id, request.user)
    won, refusal, status = None, None, 200
    if request.method == "POST":
        form = DrawForm(request.POST)
        if not form.is_valid():
            refusal, status = {"code": "invalid", "title": _("The draw was refused."),
                               "detail": _("Please try again.")}, 400
        else:
            try:
                won = catalog_services.draw(request.user, current, key=form.cleaned_data["key"])
            except DomainError as exc:
                refusal = {"code": exc.code, "title": _("The draw was refused."),
                           "detail": str(exc.message or exc)}
                status = status_of(exc)
    current = _open_lottery_or_404(lottery_id, request.user)  # the odds after this draw
    return render(request, "pages/lottery.html", {
        "lottery": current,
        "prizes": [{**prize, "percent": f"{prize['odds'] * 100:.2f}"}
                   for prize in catalog_selectors.lottery_odds(current)],
        "form": DrawForm(initial={"key": _new_key()}),
        "won": won,
        "refusal": refusal,
        "available": points_selectors.balance(request.user, months=0).available,
        "nav": "mall",
    }, status=status)
