"""The member's saved shipping addresses: ``/addresses/`` (list, add, edit, delete, make default).
Every write is a ``catalog.services`` address call; another member's address id is a 404."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from catalog import services as catalog_services
from catalog.errors import TooManyAddresses
from catalog.models import Address
from common.errors import InvalidFields
from mall.forms import AddressForm


def _own(request, address_id: int) -> Address:
    found = Address.objects.filter(pk=address_id, member_id=request.user.pk).first()
    if found is None:
        raise Http404(_("No such address."))
    return found


def _next(request) -> str | None:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return None


def _add_errors(form, exc: InvalidFields) -> None:
    for name, errors in exc.fields.items():
        for error in errors:
            form.add_error(name if name in form.fields else None, str(error))


@login_required
@require_GET
def addresses(request):
    rows = Address.objects.filter(member_id=request.user.pk).order_by("-is_default", "-id")
    return render(request, "pages/addresses.html", {"addresses": rows, "nav": "me"})


@login_required
@require_http_methods(["GET", "POST"])
def add(request):
    form = AddressForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            catalog_services.add_address(request.user, **form.cleaned_data)
        except InvalidFields as exc:
            _add_errors(form, exc)
        except TooManyAddresses as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("The address is saved."))
            return redirect(_next(request) or "addresses")
    return render(request, "pages/address_form.html", {
        "form": form, "address": None, "next": _next(request) or "", "nav": "me",
    }, status=400 if request.method == "POST" else 200)


@login_required
@require_http_methods(["GET", "POST"])
def edit(request, address_id: int):
    address = _own(request, address_id)
    if request.method == "POST":
        form = AddressForm(request.POST)
        if form.is_valid():
            try:
                catalog_services.update_address(request.user, address, **form.cleaned_data)
            except InvalidFields as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, _("The address is saved."))
                return redirect(_next(request) or "addresses")
    else:
        form = AddressForm(initial={"recipient": address.recipient, "phone": address.phone,
                                    "region": address.region, "detail": address.detail,
                                    "is_default": address.is_default})
    return render(request, "pages/address_form.html", {
        "form": form, "address": address, "next": _next(request) or "", "nav": "me",
    }, status=400 if request.method == "POST" else 200)


@login_required
@require_POST
def delete(request, address_id: int):
    catalog_services.remove_address(request.user, _own(request, address_id))
    messages.success(request, _("The address is deleted."))
    return redirect("addresses")


@login_required
@require_POST
def make_default(request, address_id: int):
    catalog_services.set_default(request.user, _own(request, address_id))
    messages.success(request, _("This is now your default address."))
    return redirect(_next(request) or "addresses")
