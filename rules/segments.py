"""RFM segments (seed 000): the eight standard groups a member falls in by whether their recency,
frequency and monetary value are high or low against staff-set thresholds.

The vocabulary lives in ``rules`` because every layer targets members by it: gray release
(``rules``), lottery eligibility and the high-value fulfilment queue (``catalog``), tasks, message
broadcasts and the member list (``mall``). The nightly job that scores members (``mall``) writes
the code to ``Member.segment``; an empty code means the member has not been scored yet.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Segment(models.TextChoices):
    # (recency high, frequency high, monetary high) -> segment; "high recency" = bought recently.
    IMPORTANT_VALUE = "important_value", _("Important value")          # 重要价值: R↑ F↑ M↑
    IMPORTANT_KEEP = "important_keep", _("Important to keep")          # 重要保持: R↓ F↑ M↑
    IMPORTANT_DEVELOP = "important_develop", _("Important to develop")  # 重要发展: R↑ F↓ M↑
    IMPORTANT_RETAIN = "important_retain", _("Important to win back")  # 重要挽留: R↓ F↓ M↑
    GENERAL_VALUE = "general_value", _("General value")                # 一般价值: R↑ F↑ M↓
    GENERAL_KEEP = "general_keep", _("General to keep")                # 一般保持: R↓ F↑ M↓
    GENERAL_DEVELOP = "general_develop", _("General to develop")       # 一般发展: R↑ F↓ M↓
    GENERAL_RETAIN = "general_retain", _("General to win back")        # 一般挽留: R↓ F↓ M↓


_BY_SPLIT = {
    (True, True, True): Segment.IMPORTANT_VALUE,
    (False, True, True): Segment.IMPORTANT_KEEP,
    (True, False, True): Segment.IMPORTANT_DEVELOP,
    (False, False, True): Segment.IMPORTANT_RETAIN,
    (True, True, False): Segment.GENERAL_VALUE,
    (False, True, False): Segment.GENERAL_KEEP,
    (True, False, False): Segment.GENERAL_DEVELOP,
    (False, False, False): Segment.GENERAL_RETAIN,
}

# The segment whose members get high-value service (the fulfilment queue's priority, beside the
# top tier).
HIGH_VALUE_SEGMENTS = (Segment.IMPORTANT_VALUE,)


def segment_for(recent: bool, frequent: bool, valuable: bool) -> Segment:
    """The segment of a member whose recency / frequency / monetary value is high (True) or low."""
    return _BY_SPLIT[(bool(recent), bool(frequent), bool(valuable))]


def segment_label(code: str) -> str:
    """The segment's name in the active language; "-" for a member not scored yet."""
    return str(Segment(code).label) if code in Segment.values else "-"


def segments_form_field(*, label, help_text, required: bool = False):
    """Checkboxes of the eight segments for a form (a model's ``ArrayField`` of segment codes):
    lotteries, tasks, broadcasts and gray releases target members by them."""
    from django import forms

    return forms.MultipleChoiceField(label=label, choices=Segment.choices, required=required,
                                     widget=forms.CheckboxSelectMultiple, help_text=help_text)
