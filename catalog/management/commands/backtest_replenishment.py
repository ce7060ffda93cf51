"""``manage.py backtest_replenishment``: replay a generated year of redemptions (weekly pattern,
双十一 and 春节 spikes) under the forecast policy and a naive fixed reorder point, and print
stock-out days and average stock side by side (``catalog.replenishment_backtest``). Needs no
database. Exits non-zero when the forecast does not have fewer stock-out days at no more than 1.2×
the naive policy's average stock.

    manage.py backtest_replenishment
    manage.py backtest_replenishment --seed 3 --lead-days 10 --review-days 14
"""

from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError

from catalog.replenishment_backtest import backtest, report


class Command(BaseCommand):
    help = "Backtest the replenishment forecast against a naive fixed reorder point (no database)."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=15)
        parser.add_argument("--lead-days", type=int, default=5)
        parser.add_argument("--review-days", type=int, default=7)
        parser.add_argument("--service-level", type=Decimal, default=Decimal("0.95"))
        parser.add_argument("--base", type=float, default=20.0, help="mean units a day (default 20)")

    def handle(self, *args, **options):
        if options["lead_days"] < 1 or options["review_days"] < 1:
            raise CommandError("--lead-days and --review-days must be at least 1")
        if not Decimal("0.5") <= options["service_level"] < 1:
            raise CommandError("--service-level must be from 0.5 to below 1")
        result = backtest(options["seed"], lead_days=options["lead_days"], review_days=options["review_days"],
                          service_level=float(options["service_level"]), base=options["base"])
        self.stdout.write(f"replenishment backtest: seed {options['seed']}, lead time {options['lead_days']} "
                          f"days, review {options['review_days']} days, service level "
                          f"{options['service_level']}, one replayed year after one of history")
        for row in report(result):
            self.stdout.write(row)
        if not result.claim_holds:
            raise CommandError("the forecast policy did not beat the naive reorder point")
