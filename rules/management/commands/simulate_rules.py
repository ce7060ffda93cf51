"""``manage.py simulate_rules <version> --days 30``: the admin's "Simulate" page, in a terminal."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from rules.models import RuleSet
from rules.simulation import MAX_DAYS, simulate_recent, summary_lines


class Command(BaseCommand):
    help = ("Re-evaluate the paid orders of the last N days under a rule-set version and under the "
            "active one, and print the difference. Writes nothing.")

    def add_arguments(self, parser):
        parser.add_argument("version", type=int, help="The rule-set version to simulate, e.g. 2.")
        parser.add_argument("--days", type=int, default=30, help="Days of paid orders (default 30).")
        parser.add_argument("--top", type=int, default=20,
                            help="How many of the largest per-member changes to list (default 20).")

    def handle(self, *args, version, days, top, **options):
        if not 1 <= days <= MAX_DAYS:
            raise CommandError(_("--days must be from 1 to %(max)s.") % {"max": MAX_DAYS})
        if top < 0:
            raise CommandError(_("--top cannot be negative."))
        try:
            rule_set = RuleSet.objects.get(version=version)
        except RuleSet.DoesNotExist:
            raise CommandError(_("There is no rule set v%(version)s.") % {"version": version}) from None
        result = simulate_recent(rule_set, days=days, top=top)
        for line in summary_lines(result):
            self.stdout.write(line)
