"""The file feed: CSV or XLSX, read from a path under the feed folder or an http(s) URL.

Format. The first row is the header; its column names, in any order and any case:

    sku, name, description, image_url, category, cash_price, stock

``sku`` (the channel's product code, at most 64 characters) and ``name`` are required for an
import, ``sku`` and ``stock`` for a stock sync; other columns are optional and unknown columns are
ignored. ``category`` is a category of the mall written as the admin shows it ("parent / child",
or a top-level name); ``cash_price`` yuan with at most 2 decimals (empty: 0); ``stock`` the
units at the channel, a whole number. Each following row is one product; empty rows are skipped.
A CSV file is UTF-8, with or without a byte-order mark (Excel writes one), comma-separated; an
XLSX file is read from its first sheet. Row numbers in errors are the file's own (the header is
row 1).
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime
from decimal import Decimal

from django.utils.translation import gettext as _

from catalog.channel_errors import FeedError
from catalog.channel_models import ChannelKind
from catalog.channels.base import COLUMNS, ChannelAdapter, ChannelRow
from catalog.channels.fetch import fetch


class FileAdapter(ChannelAdapter):
    """CSV (``Channel.kind`` csv) or XLSX (xlsx) feed in the format of the module docstring."""

    def read(self):
        data = fetch(self.channel.source)
        if self.channel.kind == ChannelKind.XLSX:
            table = _xlsx_rows(data)
        else:
            table = _csv_rows(data)
        return _rows_from_table(table)


def _csv_rows(data: bytes) -> list[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FeedError(_("The CSV file is not UTF-8 text."), code="feed_bad_format") from None
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise FeedError(_("The CSV file cannot be read: %(error)s") % {"error": exc},
                        code="feed_bad_format") from None


def _xlsx_rows(data: bytes) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise FeedError(_("The file is not an XLSX workbook."), code="feed_bad_format") from None
    try:
        sheet = workbook.worksheets[0]
        return [[_cell_text(value) for value in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()


def _cell_text(value) -> str:
    """A spreadsheet cell as the text a CSV would hold: 12.0 as "12", a price as typed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return str(Decimal(repr(value)))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _rows_from_table(table: list[list[str]]) -> tuple[frozenset[str], list[ChannelRow]]:
    if not table:
        raise FeedError(_("The feed is empty: it has no header row."), code="feed_bad_header")
    header = [str(name).strip().lower() for name in table[0]]
    positions = {}
    for index, name in enumerate(header):
        if name in COLUMNS:
            if name in positions:
                raise FeedError(_("The header names the column %(column)s twice.") % {"column": name},
                                code="feed_bad_header")
            positions[name] = index
    rows = []
    for number, cells in enumerate(table[1:], start=2):
        cells = [str(cell).strip() for cell in cells]
        if not any(cells):
            continue
        values = {name: (cells[index] if index < len(cells) else "")
                  for name, index in positions.items()}
        rows.append(ChannelRow(number, values))
    return frozenset(positions), rows
