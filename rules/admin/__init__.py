"""Rule sets in the admin: one page per version with its tables as inlines, the release actions,
its history, and import/export of the tables — in ``rule_sets`` (the page and its actions),
``tables`` (the inlines, and each table on its own with import/export) and ``history``. Importing
this package registers them all.

Only drafts are editable (fields and inlines, as ``rules.services.is_editable`` decides); anything
else is shown read-only and a POST to its change URL is refused. Every write goes through
``rules.services``: adding creates a draft with ``create_draft`` and saves its first rows with
``save_rows``; saving a draft hands its changed fields and rows to ``save_draft``, which locks it,
refuses it if it was released meanwhile, writes them and records the edit; and the release actions
(which need ``rules.publish_ruleset``, a permission separate from editing) call the life-cycle
services and show their refusals as error messages.
"""

from rules.admin import history, rule_sets, tables  # noqa: F401 (registers)
from rules.admin.rule_sets import RuleSetAdmin

__all__ = ["RuleSetAdmin"]
