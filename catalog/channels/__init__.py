"""Channel adapters: how the mall reads a channel's feed. Each adapter imports products and reads
stock; none pushes anything back to the channel.

An adapter (``ChannelAdapter``) turns the feed into ``ChannelRow``s, each the raw text of one
product with its row number: ``import_products()``. ``read_stock()`` is ``{sku: units}`` from the
same rows, validated (any bad row raises ``FeedInvalid`` listing every bad one).
``catalog.services.channels`` validates the import rows and writes the products.

Adapters, by ``Channel.kind`` (``adapter_for``):

- ``csv`` and ``xlsx``: ``FileAdapter`` (``catalog.channels.files``), the documented file format;
- ``json``: ``JsonFeedAdapter`` (``catalog.channels.json_feed``), a generic JSON HTTP feed.

Both read their source with ``catalog.channels.fetch``: an http(s) URL (timeout, size limit) or a
path under ``settings.CHANNEL_FEED_ROOT`` (anything outside it is refused).
"""

from catalog.channel_models import ChannelKind
from catalog.channels.base import COLUMNS, ChannelAdapter, ChannelRow, RowError
from catalog.channels.files import FileAdapter
from catalog.channels.json_feed import JsonFeedAdapter

ADAPTERS = {
    ChannelKind.CSV: FileAdapter,
    ChannelKind.XLSX: FileAdapter,
    ChannelKind.JSON: JsonFeedAdapter,
}


def adapter_for(channel) -> ChannelAdapter:
    """The adapter reading ``channel``'s feed (an explicit registry by kind)."""
    return ADAPTERS[channel.kind](channel)


__all__ = ["ADAPTERS", "COLUMNS", "ChannelAdapter", "ChannelRow", "FileAdapter", "JsonFeedAdapter",
           "RowError", "adapter_for"]
