"""Text written into rows and shown to members later: ledger reasons and rule explanations, stock
movements, tasks, badges.

A row keeps two things: the text in the site's default language (what staff, exports and older
code read) and the *message* it was made from, message ids and their parameters, so a page or the
API can render it again in the reader's language (``render``). ``Text`` is a ``str`` that carries
its message along, so the services that pass reasons around need not change: the ledger stores
``message_of(reason)`` beside the reason. Rows written before messages were kept have none and
show their stored text.

A message is JSON: a list of parts, each ``[msgid, params]`` (a translatable ``gettext_noop``
literal and its ``%(name)s`` parameters) or ``[null, "literal"]`` (text that is not translated:
numbers, names typed by staff). A parameter that is itself a message is ``{"message": [...]}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext, override


def _plain(value):
    """A parameter as JSON keeps it: numbers and strings as they are, a ``Text`` as its message,
    a lazy translation (a choice's label) as the message of its msgid."""
    if isinstance(value, Text):
        return {"message": value.message}
    if isinstance(value, Promise):
        # gettext_lazy(msgid) keeps its arguments on the proxy (tests/mall/test_i18n.py checks)
        msgid = getattr(value, "_args", (None,))[0]
        if isinstance(msgid, str):
            return {"message": [[msgid, {}]]}
        return str(value)
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, Decimal):
        return f"{value.normalize():f}" if value == value.to_integral() else str(value)
    return str(value)


def _render_part(msgid, params) -> str:
    if msgid is None:
        return "" if params is None else str(params)
    translated = gettext(msgid)
    if not params:
        return translated
    values = {name: (render(value["message"]) if isinstance(value, dict) and "message" in value
                     else value)
              for name, value in params.items()}
    try:
        return translated % values
    except (KeyError, ValueError, TypeError):
        # A translation that lost or renamed a placeholder must not break a history page.
        return msgid % values


class Text(str):
    """A rendered string that remembers its message (``parts``) to be rendered again later."""

    parts: tuple

    def __new__(cls, rendered: str, parts: tuple = ()):
        text = super().__new__(cls, rendered)
        text.parts = parts
        return text

    @classmethod
    def of(cls, message: str, **params) -> Text:
        """``message`` (a ``gettext_noop`` literal) with ``params``, in the active language."""
        plain = {name: _plain(value) for name, value in params.items()}
        return cls(_render_part(message, plain), ((message, plain),))

    @classmethod
    def literal(cls, value: str) -> Text:
        return cls(value, ((None, str(value)),))

    @staticmethod
    def _as_text(value) -> Text:
        return value if isinstance(value, Text) else Text.literal(value)

    def __add__(self, other):
        if not isinstance(other, str):
            return NotImplemented
        other = self._as_text(other)
        return Text(str.__add__(self, other), self.parts + other.parts)

    def __radd__(self, other):
        if not isinstance(other, str):
            return NotImplemented
        return self._as_text(other) + self

    @classmethod
    def join(cls, separator: str, items: Iterable[str]) -> Text:
        result = cls("", ())
        for position, item in enumerate(items):
            result = result + cls._as_text(item) if not position else result + separator + item
        return result

    def clip(self, length: int) -> Text:
        """At most ``length`` characters; a clipped text keeps only what it shows (no message)."""
        return self if len(self) <= length else Text.literal(str(self)[:length])

    @property
    def message(self) -> list:
        return [[msgid, params] for msgid, params in self.parts]


def message_of(value) -> list | None:
    """The message a stored text was made from, or ``None`` for plain text."""
    if isinstance(value, Text) and any(msgid is not None for msgid, _params in value.parts):
        return value.message
    return None


def render(message: list | None, fallback: str = "") -> str:
    """A stored message in the active language; ``fallback`` (the stored text) when there is none
    or it cannot be read."""
    if not message:
        return fallback
    try:
        return "".join(_render_part(msgid, params) for msgid, params in message)
    except (TypeError, ValueError, AttributeError):
        return fallback


def stored_text(message: str, **params) -> Text:
    """``message`` (a ``gettext_noop`` literal) in the default language, with ``params`` filled
    in; the result carries its message so it can be shown in another language later."""
    with override(settings.LANGUAGE_CODE):
        return Text.of(message, **params)


def clip(value: str, length: int) -> str:
    """``value`` cut to ``length`` characters, keeping a ``Text``'s message when nothing is cut."""
    if isinstance(value, Text):
        return value.clip(length)
    return value[:length]


# Chinese text uses full-width punctuation. Placeholders (%(name)s, {{ name }}, {name}), tags and
# numbers (12:00, 1,000) keep their ASCII characters.
_FULL_WIDTH = {",": "，", ":": "：", "?": "？", "(": "（", ")": "）", ";": "；", "!": "！"}
_KEEP = re.compile(r"%\([a-z_0-9]+\)[-+ #0]*\d*(?:\.\d+)?[sdfi]|%%|%[sd]|\{\{.*?\}\}|\{%.*?%\}"
                   r"|\{[a-z_0-9]*\}|<[^>]*>|https?://\S+|&[a-z]+;")
_CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def full_width(text: str) -> str:
    """``text`` with the ASCII punctuation of a Chinese sentence made full-width (the space after
    it dropped); text without Chinese characters is returned as it is."""
    if not _CJK.search(text):
        return text
    out, position = [], 0
    for match in _KEEP.finditer(text):
        out.append(_full_width_plain(text[position:match.start()], text, position))
        out.append(match.group())
        position = match.end()
    out.append(_full_width_plain(text[position:], text, position))
    return "".join(out)


def _full_width_plain(chunk: str, whole: str, offset: int) -> str:
    result = []
    skip_space = False
    for index, char in enumerate(chunk):
        if skip_space and char == " ":
            continue
        skip_space = False
        full = _FULL_WIDTH.get(char)
        at = offset + index
        before = whole[at - 1] if at else ""
        after = whole[at + 1] if at + 1 < len(whole) else ""
        if full and char in ",:" and before.isdigit() and after.isdigit():
            full = None  # 1,000 and 12:00
        if full is None:
            result.append(char)
            continue
        while result and result[-1] == " ":
            result.pop()
        result.append(full)
        skip_space = char != "("
    return "".join(result)
