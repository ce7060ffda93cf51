"""``manage.py evaluate_recommendations``: hit-rate@10 and coverage of the recommendations against
a popularity baseline on a population with planted tastes, then the nightly job's time and memory
at scale (``catalog.recommendation_eval``). Runs in a scratch database of its own,
``<name>_bench_recs`` on DATABASE_URL's server, created, migrated and dropped (``--keep`` keeps
it); never in the database the mall uses. Exits non-zero when the recommender does not beat the
baseline.

    manage.py evaluate_recommendations                          # 5,000 members; 100,000 at scale
    manage.py evaluate_recommendations --members 300 --skip-scale
"""

import os

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections


class Command(BaseCommand):
    help = ("Measure the recommendations (hit-rate@10 and coverage against a popularity baseline) "
            "and the nightly job's time and memory at scale, in a scratch database.")

    def add_arguments(self, parser):
        quality = parser.add_argument_group("quality")
        quality.add_argument("--members", type=int, default=5000,
                             help="members of the planted population (default 5,000)")
        quality.add_argument("--products", type=int, default=300, help="products (default 300)")
        quality.add_argument("--groups", type=int, default=8, help="taste groups (default 8)")
        quality.add_argument("--sample", type=int, default=2000,
                             help="members asked for recommendations (default 2,000)")
        quality.add_argument("--seed", type=int, default=14)
        scale = parser.add_argument_group("scale")
        scale.add_argument("--skip-scale", action="store_true", help="quality only")
        scale.add_argument("--scale-members", type=int, default=100_000)
        scale.add_argument("--scale-products", type=int, default=1_000)
        scale.add_argument("--redemptions", type=int, default=1_000_000,
                           help="redemptions at scale (default 1,000,000)")
        scale.add_argument("--orders", type=int, default=200_000,
                           help="shop orders at scale, one line each (default 200,000)")
        parser.add_argument("--keep", action="store_true", help="keep the scratch database")

    def handle(self, *args, **options):
        if options["members"] < 10 or options["products"] < options["groups"] or options["groups"] < 1:
            raise CommandError("Need at least 10 members and a product per taste group.")
        from bench.dbs import Server, url_name
        from catalog import recommendation_eval as evaluation

        # DEBUG=1 may only be supplying development secrets; its query log is no part of what is
        # measured (as in bench/run.py).
        settings.DEBUG = False
        url = os.environ["DATABASE_URL"]
        scratch = f"{url_name(url)}_bench_recs"[:60]
        settings_dict = connection.settings_dict
        original = settings_dict["NAME"]
        server = Server(url)
        connections.close_all()
        try:
            server.create(scratch)
            settings_dict["NAME"] = scratch
            call_command("migrate", verbosity=0)
            quality = evaluation.evaluate_quality(
                members=options["members"], products=options["products"],
                groups=options["groups"], sample=options["sample"], seed=options["seed"])
            self.stdout.write(evaluation.quality_report(quality))
            if not options["skip_scale"]:
                scale = evaluation.evaluate_scale(
                    members=options["scale_members"], products=options["scale_products"],
                    redemptions=options["redemptions"], orders=options["orders"])
                self.stdout.write(evaluation.scale_report(scale))
        finally:
            connections.close_all()
            settings_dict["NAME"] = original
            if not options["keep"]:
                server.drop(scratch)
            server.close()
        if not quality.beats_baseline:
            raise CommandError("The recommender does not beat the popularity baseline.")
