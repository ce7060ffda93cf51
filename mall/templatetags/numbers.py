"""``{% load numbers %}``: points with thousands separators in every language (1,288,000).

Django's Chinese number format has no thousands separator, so ``intcomma`` and localisation
would print 1288000 on the Chinese pages."""

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def thousands(value) -> str:
    """An integer with commas between thousands (a Decimal keeps its places); anything else as it is."""
    if isinstance(value, Decimal):
        return f"{value:,}"
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return value
