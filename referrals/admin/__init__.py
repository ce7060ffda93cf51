"""Referrals in the admin: reward plans (``plans``: versioned drafts, four-eyes publishing),
reward records and rewarded orders (``records``: read-only, filtered, exported), merchants and
referral positions (``network``). Importing this package registers them all.

Every write goes through ``referrals.services`` except a merchant's own fields (see ``network``);
records, rewarded orders and positions are read-only here. The plan simulation page is
``referrals.admin_simulation``, reached from a plan's page.
"""

from referrals.admin import network, plans, records  # noqa: F401 (registers)
