"""Member pages of points auctions: ``/auctions/`` and ``/auctions/<id>/`` with a bid form; the
price block polls ``/auctions/<id>/price/`` every few seconds (htmx) so it stays live."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_GET, require_POST

from catalog import auction_selectors as selectors
from catalog import services as catalog_services
from common.errors import DomainError
from common.pages import show_error
from points import selectors as points_selectors

POLL_SECONDS = 3


class BidForm(forms.Form):
    points = forms.IntegerField(label=_lazy("Your bid (points)"), min_value=1,
                                max_value=catalog_services.MAX_POINTS)
    key = forms.CharField(widget=forms.HiddenInput, max_length=64)


def _auction_or_404(auction_id: int):
    auction = selectors.auction(auction_id)
    if auction is None:
        raise Http404(_("No such auction."))
    return auction


def _price_context(request, auction) -> dict:
    own = selectors.own_bid(auction, request.user)
    return {
        "auction": auction, "current_price": selectors.current_price(auction),
        "minimum_bid": selectors.lowest_bid(auction), "leader": selectors.leader(auction),
        "leading_is_you": bool(own) and auction.leading_bid_id == own.pk, "own_bid": own,
        "poll_seconds": POLL_SECONDS,
    }


@login_required
@require_GET
def auctions(request):
    rows = [{"auction": a, "current_price": selectors.current_price(a)} for a in selectors.auctions()[:100]]
    return render(request, "pages/auctions.html", {"rows": rows, "nav": "mall"})


@login_required
@require_GET
def auction(request, auction_id: int):
    item = _auction_or_404(auction_id)
    context = _price_context(request, item)
    context.update({
        "form": BidForm(initial={"key": uuid.uuid4().hex, "points": context["minimum_bid"]}),
        "available": points_selectors.balance(request.user, months=0).available,
        "nav": "mall",
    })
    return render(request, "pages/auction.html", context)


@login_required
@require_GET
def auction_price(request, auction_id: int):
    """The live price block alone (what htmx swaps in)."""
    return render(request, "pages/_auction_price.html",
                  _price_context(request, _auction_or_404(auction_id)))


@login_required
@require_POST
def bid(request, auction_id: int):
    item = _auction_or_404(auction_id)
    form = BidForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Please enter a whole number of points."))
        return redirect("auction", auction_id=item.pk)
    try:
        placed = catalog_services.place_bid(request.user, item, form.cleaned_data["points"],
                                            key=f"page:{request.user.pk}:{form.cleaned_data['key']}")
    except DomainError as exc:
        show_error(request, exc)
    else:
        messages.success(request, _("You bid %(points)s points. They are held until you are "
                                    "outbid or the auction closes.") % {"points": placed.points})
    return redirect("auction", auction_id=item.pk)
