"""The generic JSON HTTP feed: ``Channel.source`` is an http(s) URL (or a file under the feed
folder) answering UTF-8 JSON of this shape:

    {"products": [
        {"sku": "TEA-1", "name": "Green tea", "description": "...", "image_url": "https://...",
         "category": "Drinks / Tea", "cash_price": "12.50", "stock": 40},
        ...
    ]}

The keys are the file feed's columns (``catalog.channels.files``) with the same meaning and the
same required ones; ``cash_price`` may be a string or a JSON number (read exactly, as a decimal),
``stock`` a whole number; a key that is absent is an absent column for that product, ``null`` an
empty cell; other keys are ignored. Row numbers in errors are positions in the list, from 1.
"""

from __future__ import annotations

import json
from decimal import Decimal

from django.utils.translation import gettext as _

from catalog.channel_errors import FeedError
from catalog.channels.base import COLUMNS, ChannelAdapter, ChannelRow
from catalog.channels.fetch import fetch


class JsonFeedAdapter(ChannelAdapter):
    def read(self):
        data = fetch(self.channel.source)
        try:
            document = json.loads(data.decode("utf-8-sig"), parse_float=Decimal)
        except (UnicodeDecodeError, ValueError):
            raise FeedError(_("The feed is not valid JSON."), code="feed_bad_format") from None
        products = document.get("products") if isinstance(document, dict) else None
        if not isinstance(products, list):
            raise FeedError(_("The feed has no “products” list."), code="feed_bad_format")
        columns: set[str] = set()
        rows = []
        for number, item in enumerate(products, start=1):
            if not isinstance(item, dict):
                # Kept as a row with no values: validation reports it with its number.
                rows.append(ChannelRow(number, {}))
                continue
            values = {name: _text(item[name]) for name in COLUMNS if name in item}
            columns.update(values)
            rows.append(ChannelRow(number, values))
        # A list of products without a column at all still has the required ones checked.
        return frozenset(columns) if rows else frozenset(COLUMNS), rows


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Decimal | int):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    return json.dumps(value, ensure_ascii=False)
