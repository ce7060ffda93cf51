"""Text written into rows (ledger reasons shown to members, stock-movement reasons, task and badge
reasons) is in the site's default language, whatever language the request that wrote it had."""

from django.conf import settings
from django.utils.translation import gettext, override


def stored_text(message: str, **params) -> str:
    """``message`` (a ``gettext_noop`` literal) translated into the default language, with
    ``params`` filled in."""
    with override(settings.LANGUAGE_CODE):
        text = gettext(message)
    return text % params if params else text
