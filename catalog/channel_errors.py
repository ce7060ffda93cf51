"""Refusals of the channel import and stock sync (``catalog.channels``,
``catalog.services.channels``); nothing is written when one is raised."""

from django.utils.translation import gettext_lazy as _

from catalog.errors import CatalogError
from common.errors import Kind


class FeedError(CatalogError):
    """The channel's feed could not be read as a whole: missing, outside the feed folder, too
    large, too slow, not in its format, or without its required columns. ``code`` says which."""

    code = "feed_unreadable"
    # Every code a FeedError carries (the API schema's error-code enum lists them all).
    codes = ("feed_unreadable", "feed_outside_root", "feed_unreachable", "feed_too_large",
             "feed_bad_format", "feed_bad_header")
    kind = Kind.INVALID
    default_message = _("The channel's feed could not be read.")

    def __init__(self, message: str = "", *, code: str | None = None):
        if code:
            assert code in self.codes, code
            self.code = code
        super().__init__(message)


class FeedInvalid(CatalogError):
    """Rows of the feed are invalid; ``errors`` lists every one (``catalog.channels.RowError``:
    row number, SKU, field, code, message). Nothing was imported or synced."""

    code = "feed_invalid"
    kind = Kind.INVALID
    default_message = _("Rows of the channel's feed are invalid; nothing was imported.")

    def __init__(self, errors, message: str = ""):
        self.errors = list(errors)
        super().__init__(message)


class FeedChanged(CatalogError):
    """The feed says something else than the preview staff confirmed: nothing was imported;
    review the new preview."""

    code = "feed_changed"
    default_message = _("The feed changed since the preview; nothing was imported. Review the "
                        "changes again.")
