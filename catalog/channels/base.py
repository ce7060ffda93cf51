"""The adapter interface and the rows it yields (see ``catalog.channels``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from catalog.channel_errors import FeedError, FeedInvalid

# The columns of a feed, in the documented order. sku and name are required for an import, sku
# and stock for a stock sync; other columns are ignored.
COLUMNS = ("sku", "name", "description", "image_url", "category", "cash_price", "stock")
MAX_STOCK = 2**31 - 1  # the stock column is a PostgreSQL integer


@dataclass(frozen=True)
class ChannelRow:
    """One product of a feed as the feed wrote it: ``values`` maps each column present in the
    feed to its text (stripped; "" for an empty cell). ``row`` is its row number as staff find
    it in the file (the header is row 1) or its position in a JSON feed's list (from 1)."""

    row: int
    values: dict[str, str] = field(default_factory=dict)

    @property
    def sku(self) -> str:
        return self.values.get("sku", "")


@dataclass(frozen=True)
class RowError:
    """Why one row of a feed is refused: ``field`` is the column, ``code`` a machine code
    (``required``, ``too_long``, ``duplicate_sku``, ``invalid_price``, ``invalid_url``,
    ``unknown_category``, ``invalid_stock``, ``invalid_row``), ``message`` human text."""

    row: int
    sku: str
    field: str
    code: str
    message: str


class ChannelAdapter:
    """Reads one channel's feed. Subclasses implement ``read()``; nothing is ever pushed back."""

    def __init__(self, channel):
        self.channel = channel

    def read(self) -> tuple[frozenset[str], list[ChannelRow]]:
        """The feed's columns (of ``COLUMNS``) and its rows; raises ``FeedError``."""
        raise NotImplementedError

    def _read_with(self, *required: str) -> list[ChannelRow]:
        columns, rows = self.read()
        missing = [name for name in required if name not in columns]
        if missing:
            raise FeedError(_("The feed has no %(columns)s column.") % {"columns": ", ".join(missing)},
                            code="feed_bad_header")
        return rows

    def import_products(self) -> list[ChannelRow]:
        """The feed's products, raw (the import service validates them). Raises ``FeedError``,
        also for a feed without a sku or name column."""
        return self._read_with("sku", "name")

    def read_stock(self) -> dict[str, int]:
        """``{sku: units at the channel}``. Raises ``FeedInvalid`` listing every row with no SKU,
        a repeated SKU, or a stock that is not a whole number from 0 (none is returned then), and
        ``FeedError`` when the feed has no sku or stock column."""
        rows = self._read_with("sku", "stock")
        figures: dict[str, int] = {}
        errors: list[RowError] = []
        for row in rows:
            sku = row.sku
            if not sku:
                errors.append(RowError(row.row, "", "sku", "required", _("The SKU is required.")))
                continue
            if sku in figures:
                errors.append(RowError(row.row, sku, "sku", "duplicate_sku",
                                       _("The SKU %(sku)s appears more than once.") % {"sku": sku}))
                continue
            units = parse_stock(row.values.get("stock", ""))
            if units is None:
                errors.append(RowError(row.row, sku, "stock", "invalid_stock",
                                       _("The stock must be a whole number of at least 0.")))
                continue
            figures[sku] = units
        if errors:
            raise FeedInvalid(errors)
        return figures


def parse_stock(text: str) -> int | None:
    """A stock cell as a whole number from 0 ("12", "12.0" as a spreadsheet writes it), or None."""
    text = text.strip()
    if text.endswith(".0"):
        text = text[:-2]
    if not text.isdigit() or not text.isascii():
        return None
    units = int(text)
    return units if units <= MAX_STOCK else None
