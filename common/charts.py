"""Server-side SVG charts for admin pages: no JavaScript, no CDN, markup built here and escaped.

``column_chart`` draws one column per label around a zero line (positive up, negative down), for
series such as a daily difference. Labels and values are escaped; the result is safe to put in a
template as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 720
HEIGHT = 220
PAD_TOP = 20
PAD_BOTTOM = 36  # room for the labels under the columns
PAD_LEFT = 56  # room for the scale
PAD_RIGHT = 8


def column_chart(labels: Sequence[str], values: Sequence[int], *, title: str,
                 width: int = WIDTH, height: int = HEIGHT, label_every: int = 5) -> SafeString:
    """An SVG column chart of ``values`` (ints, any sign) under ``labels``: a column per value,
    the zero line, the largest magnitude on the scale and every ``label_every``-th label."""
    if len(labels) != len(values):
        raise ValueError("one label per value")
    top = max((abs(value) for value in values), default=0) or 1
    has_negative = any(value < 0 for value in values)
    plot_height = height - PAD_TOP - PAD_BOTTOM
    # With negative values the zero line sits in the middle, else at the bottom.
    zero_y = PAD_TOP + (plot_height / 2 if has_negative else plot_height)
    scale = (plot_height / 2 if has_negative else plot_height) / top
    slot = (width - PAD_LEFT - PAD_RIGHT) / max(len(values), 1)
    bar = max(slot * 0.7, 1)
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{PAD_LEFT}" y1="{zero_y:.1f}" x2="{width - PAD_RIGHT}" y2="{zero_y:.1f}" '
        f'stroke="currentColor" stroke-width="1"></line>',
        f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + 4}" text-anchor="end" font-size="11">{top}</text>',
        f'<text x="{PAD_LEFT - 4}" y="{zero_y + 4:.1f}" text-anchor="end" font-size="11">0</text>',
    ]
    if has_negative:
        parts.append(f'<text x="{PAD_LEFT - 4}" y="{height - PAD_BOTTOM + 4}" text-anchor="end" '
                     f'font-size="11">-{top}</text>')
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = PAD_LEFT + index * slot + (slot - bar) / 2
        size = abs(value) * scale
        y = zero_y - size if value >= 0 else zero_y
        kind = "up" if value >= 0 else "down"
        colour = "#2e7d32" if value >= 0 else "#ba2121"
        parts.append(
            f'<rect class="{kind}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{size:.1f}" '
            f'fill="{colour}"><title>{escape(label)}: {value:+d}</title></rect>'
        )
        if index % label_every == 0 or index == len(values) - 1:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - PAD_BOTTOM + 16}" text-anchor="middle" '
                         f'font-size="11">{escape(label)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (every text above is escaped)
