"""Tiers as data: the rows of a rule set's tier table (``rules.models.TierRule``: code, Chinese
and English names, rank, multiplier, points to qualify), read as immutable ``TierInfo`` tuples.

Every app that stores or checks a member's tier (``mall.Member.tier``, product visibility, gray
release, the shop's hook, the API, the admin forms and importers) asks this module which codes
exist: the *published* rule set's. A released rule set's tables never change, so its table is
cached by primary key (like ``rules.selectors``' rule books); finding which set is published is
one indexed query per call, so a publish is seen at once by every process.

The cross-row rules of a tier table are ``table_errors``, used by the admin formset and again by
``rules.services`` before a release. Publishing a table that drops a code members or products
still hold is refused (``rules.services.publish``): apps above ``rules`` say how many rows hold a
code through ``register_usage`` (``rules`` cannot import them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils import translation
from django.utils.translation import gettext as _

from rules.models import RuleSet, RuleSetStatus, TierRule

# ``Member.tier``'s static default, and the lowest tier while no rule set is published (a fresh
# database before its data migration, a test that flushed it). Sign-up uses the published
# lowest tier (``default_tier_code``).
FALLBACK_TIER = "normal"


@dataclass(frozen=True)
class TierInfo:
    code: str
    name: str
    name_en: str
    rank: int
    multiplier: Decimal
    qualify_points: int

    def label(self, language: str | None = None) -> str:
        """The tier's name in ``language`` (default: the active one); English falls back to the
        Chinese name when none was written."""
        language = language or translation.get_language() or settings.LANGUAGE_CODE
        if language.startswith("en") and self.name_en:
            return self.name_en
        return self.name

    @property
    def names(self) -> dict[str, str]:
        """``{language: name}``, as message placeholders take it (``mall.services.messages``)."""
        return {"zh-hans": self.name, "en": self.name_en or self.name}

    def __str__(self):
        return self.label()


def _info(row) -> TierInfo:
    return TierInfo(code=row.code, name=row.name, name_en=row.name_en, rank=row.rank,
                    multiplier=row.multiplier, qualify_points=row.qualify_points)


@lru_cache(maxsize=32)
def _frozen_table(rule_set_id: int) -> tuple[TierInfo, ...]:
    # Only rule sets that left the draft stage are cached: their tables no longer change.
    return tuple(_info(row) for row in TierRule.objects.filter(rule_set_id=rule_set_id).order_by("rank"))


def tiers_of(rule_set: RuleSet) -> tuple[TierInfo, ...]:
    """``rule_set``'s tiers, lowest rank first."""
    if rule_set.status == RuleSetStatus.DRAFT:
        return tuple(_info(row) for row in rule_set.tiers.order_by("rank"))
    return _frozen_table(rule_set.pk)


def published_tiers() -> tuple[TierInfo, ...]:
    """The published rule set's tiers, lowest rank first; empty while none is published."""
    published = (RuleSet.objects.filter(status=RuleSetStatus.PUBLISHED)
                 .values_list("pk", flat=True).first())
    if published is None:
        return ()
    return _frozen_table(published)


def tier_codes() -> list[str]:
    return [tier.code for tier in published_tiers()]


def tier_choices() -> list[tuple[str, str]]:
    """``(code, name)`` of the published tiers in rank order, names in the active language.
    A callable: give it to a form field as ``choices=tier_choices`` so it is read per form."""
    return [(tier.code, tier.label()) for tier in published_tiers()]


def tier_info(code: str, table: Iterable[TierInfo] | None = None) -> TierInfo | None:
    """The published tier (or the one in ``table``) with ``code``, or None."""
    for info in published_tiers() if table is None else table:
        if info.code == code:
            return info
    return None


def tier_name(code: str, language: str | None = None) -> str:
    """The name of the published tier ``code`` in ``language``; the code itself if there is none."""
    info = tier_info(code)
    return info.label(language) if info is not None else code


def tier_names(code: str) -> Mapping[str, str]:
    """``{language: name}`` of tier ``code``, for message placeholders."""
    info = tier_info(code)
    return info.names if info is not None else {"zh-hans": code, "en": code}


def name_expression(field: str):
    """SQL for the name, in the active language, of the published tier whose code is in
    ``field`` (the code itself when there is none): annotate a list with it instead of asking
    ``tier_name`` once per row."""
    language = translation.get_language() or settings.LANGUAGE_CODE
    label = Coalesce(NullIf(F("name_en"), Value("")), F("name")) if language.startswith("en") else F("name")
    rows = (TierRule.objects.filter(rule_set__status=RuleSetStatus.PUBLISHED, code=OuterRef(field))
            .annotate(label=label).values("label")[:1])
    return Coalesce(Subquery(rows), F(field))


def lowest_tier() -> TierInfo | None:
    table = published_tiers()
    return table[0] if table else None


def top_tier() -> TierInfo | None:
    table = published_tiers()
    return table[-1] if table else None


def default_tier_code() -> str:
    """What a new member starts at: the published lowest tier."""
    lowest = lowest_tier()
    return lowest.code if lowest is not None else FALLBACK_TIER


def validate_tier_code(code: str) -> None:
    """Raise ``ValidationError`` unless ``code`` is a tier of the published rule set."""
    codes = tier_codes()
    if code not in codes:
        raise ValidationError(
            _("“%(code)s” is not a tier; the tiers are %(codes)s.")
            % {"code": code, "codes": ", ".join(codes) or "-"},
            code="invalid_choice",
        )


# --------------------------------------------------------------------------- the table's rules


def table_errors(rows: Iterable[Mapping]) -> list[str]:
    """What is wrong with a tier table as a whole (each row being already valid on its own):
    ``rows`` are mappings with ``code``, ``name``, ``rank``, ``multiplier`` and
    ``qualify_points``. Codes and ranks are unique; there is at least one tier; the lowest rank
    qualifies at 0 points (every member has a tier); going up the ranks, the points to qualify
    rise and the multiplier does not fall."""
    rows = list(rows)
    if not rows:
        return [_("A rule set needs at least one tier.")]
    errors = []
    for key, message in (("code", _("Two tiers have the code %(value)s.")),
                         ("rank", _("Two tiers have the rank %(value)s."))):
        seen = set()
        for row in rows:
            if row[key] in seen:
                errors.append(message % {"value": row[key]})
            seen.add(row[key])
    if errors:
        return errors
    ordered = sorted(rows, key=lambda row: row["rank"])
    if ordered[0]["qualify_points"] != 0:
        errors.append(_("The lowest tier (%(tier)s) must qualify at 0 points: every member has a tier.")
                      % {"tier": ordered[0]["name"] or ordered[0]["code"]})
    for lower, higher in zip(ordered, ordered[1:], strict=False):
        names = {"higher": higher["name"] or higher["code"], "lower": lower["name"] or lower["code"]}
        if higher["qualify_points"] <= lower["qualify_points"]:
            errors.append(_("Points to qualify must rise with the rank: %(higher)s needs more than "
                            "%(lower)s.") % names)
        if higher["multiplier"] < lower["multiplier"]:
            errors.append(_("A higher tier cannot earn a lower multiplier: %(higher)s is below "
                            "%(lower)s.") % names)
    return errors


def rule_set_table_errors(rule_set: RuleSet) -> list[str]:
    """``table_errors`` of ``rule_set``'s stored rows (a release checks them again: an import
    writes rows one at a time, past the admin form's cross-row checks)."""
    return table_errors(
        {"code": row.code, "name": row.name, "rank": row.rank, "multiplier": row.multiplier,
         "qualify_points": row.qualify_points}
        for row in TierRule.objects.filter(rule_set=rule_set)
    )


# --------------------------------------------------------------------------- who holds a code

# key -> (label with %(count)s, e.g. "%(count)s member(s)"; counter(codes) -> {code: rows holding it})
_usage: dict[str, tuple[object, Callable[[set[str]], Mapping[str, int]]]] = {}


def register_usage(key: str, label, counter: Callable[[set[str]], Mapping[str, int]]) -> None:
    """Let an app say how many of its rows hold tier codes (``mall``: members, ``catalog``:
    products), for the refusal to publish a table that drops a code still in use. ``label`` is
    a (lazy) text with ``%(count)s``; ``counter`` takes a set of codes and returns ``{code:
    count}`` (missing codes count 0). Called from the app's ``AppConfig.ready``; registering
    ``key`` again replaces it."""
    _usage[key] = (label, counter)


def usage(codes: Iterable[str]) -> dict[str, list[str]]:
    """``{code: ["12 members", "3 products"]}`` for the codes of ``codes`` some rows still hold."""
    codes = set(codes)
    found: dict[str, list[str]] = {}
    if not codes:
        return found
    for _key, (label, counter) in sorted(_usage.items()):
        for code, count in sorted(counter(codes).items()):
            if count:
                found.setdefault(code, []).append(str(label) % {"count": count})
    return found
