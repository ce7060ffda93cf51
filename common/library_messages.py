"""Messages of Django and the libraries that their own Chinese catalogs miss, translated in ours.

Nothing imports this module: it is here so ``makemessages`` puts these msgids in our catalog. Each
is the library's exact msgid (Django 5.2 renamed the password-length placeholders, and its zh_Hans
catalog still has the old ones). tests/pages/test_zh_hans_pages.py renders the pages that show
them."""

from django.utils.translation import ngettext_lazy

PASSWORD_TOO_SHORT = ngettext_lazy(
    "This password is too short. It must contain at least %d character.",
    "This password is too short. It must contain at least %d characters.",
    8,
)
