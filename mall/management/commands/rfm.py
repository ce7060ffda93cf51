"""``manage.py rfm``: score every member now (the nightly job, ``mall.rfm.score_members``; a run
the same day replaces that day's) and print the thresholds used and the members per segment."""

import time

from django.core.management.base import BaseCommand

from rules.segments import Segment


class Command(BaseCommand):
    help = "Score every member on recency, frequency and monetary value and assign RFM segments now."

    def handle(self, *args, **options):
        from mall.rfm import score_members

        started = time.perf_counter()
        summary = score_members()
        elapsed = time.perf_counter() - started
        thresholds = summary["thresholds"]
        self.stdout.write(
            f"RFM {summary['day']}: {summary['members_scored']} members scored, "
            f"{summary['members_active']} active in the window, in {elapsed:.2f} s")
        self.stdout.write(f"thresholds: recency <= {thresholds['recency']} days, frequency >= "
                          f"{thresholds['frequency']}, monetary >= {thresholds['monetary']}")
        for code, label in Segment.choices:
            self.stdout.write(f"  {code:<18} {summary['counts'].get(code, 0):>8}  {label}")
