"""``manage.py simulate_plan [--plan VERSION] [--days N]``: the admin's plan "Simulate" page, in a
terminal. Writes nothing."""

import unicodedata

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from referrals.models import PlanStatus, RewardPlan
from referrals.simulation import MAX_DAYS, column_title, compare_with_published, comparison_rows


class Command(BaseCommand):
    help = ("Replay the paid orders of the last N days under a reward plan (default: the newest "
            "draft, else the published plan) and under the published one, side by side. Writes nothing.")

    def add_arguments(self, parser):
        parser.add_argument("--plan", type=int, dest="version", default=None,
                            help="The plan version to simulate (default: the newest draft, else the "
                                 "published plan).")
        parser.add_argument("--days", type=int, default=30, help="Days of paid orders (default 30).")

    def handle(self, *args, version, days, **options):
        if not 1 <= days <= MAX_DAYS:
            raise CommandError(_("--days must be from 1 to %(max)s.") % {"max": MAX_DAYS})
        plan = self._plan(version)
        mine, published = compare_with_published(plan, days=days)
        self.stdout.write(
            _("Reward plan v%(version)s against the published plan, paid orders of the last %(days)s days "
              "(%(since)s to %(until)s)") % {
                "version": plan.version, "days": days,
                "since": timezone.localtime(mine.since).strftime("%Y-%m-%d %H:%M"),
                "until": timezone.localtime(mine.until).strftime("%Y-%m-%d %H:%M"),
            })
        if published is mine:  # the plan simulated is the published one: one column
            titles, shown = [column_title(mine)], [mine]
        else:
            titles = [column_title(mine), column_title(published) if published else _("No published plan")]
            shown = [mine, published]
        rows = [(row.label, *row.values) for row in comparison_rows(*shown)]
        for line in _table([("", *titles), *rows]):
            self.stdout.write(line)
        self.stdout.write(_("At %(rate)s points per yuan. Computed in %(seconds).2f s; nothing was written.")
                          % {"rate": mine.redemption_points_per_yuan, "seconds": mine.seconds})

    @staticmethod
    def _plan(version: int | None) -> RewardPlan:
        if version is not None:
            plan = RewardPlan.objects.filter(version=version).first()
            if plan is None:
                raise CommandError(_("There is no reward plan v%(version)s.") % {"version": version})
            return plan
        plan = (RewardPlan.objects.filter(status=PlanStatus.DRAFT).order_by("-version").first()
                or RewardPlan.objects.filter(status=PlanStatus.PUBLISHED).first())
        if plan is None:
            raise CommandError(_("There is no draft and no published reward plan to simulate."))
        return plan


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    """Left-aligned labels, right-aligned figures."""
    widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [_pad(row[0], widths[0], left=True)]
        cells += [_pad(cell, width, left=False) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    return lines


def _width(text: str) -> int:
    # CJK characters take two columns in a terminal (labels may be translated to Chinese).
    return sum(2 if unicodedata.east_asian_width(char) in ("W", "F") else 1 for char in text)


def _pad(text: str, width: int, *, left: bool) -> str:
    space = " " * (width - _width(text))
    return text + space if left else space + text
