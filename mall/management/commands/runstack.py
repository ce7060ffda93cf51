"""``make run``: migrate, load the demo data, then run web + celery worker + beat in the foreground.

Ctrl-C (or SIGTERM) stops all three; if this command started the embedded PostgreSQL it stops
that too, so nothing is left running.
"""

import os
import sys

from django.core.management import call_command
from django.core.management.base import BaseCommand

from mall import embedded


class Command(BaseCommand):
    help = "Migrate, load demo data, and run web + celery worker + beat together (Ctrl-C stops all)."

    def add_arguments(self, parser):
        parser.add_argument("--port", default=os.environ.get("PORT", "8000"))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--no-demo", action="store_true", help="Do not load the demo data.")

    def handle(self, *args, port, host, no_demo, **options):
        from honcho.manager import Manager

        call_command("migrate", interactive=False, verbosity=1)
        if not no_demo:
            call_command("load_demo")
        python = sys.executable
        # Children inherit DATABASE_URL (the embedded server's, if that is in use), so they
        # connect to the same database without starting anything themselves.
        env = os.environ.copy()
        env.setdefault("PYTHONUNBUFFERED", "1")
        manager = Manager()
        manager.add_process("web", f"{python} manage.py runserver {host}:{port} --noreload", env=env)
        manager.add_process(
            "worker", f"{python} -m celery -A mall worker --loglevel=INFO --concurrency=2", env=env
        )
        manager.add_process("beat", f"{python} -m celery -A mall beat --loglevel=INFO", env=env)
        self.stdout.write(self.style.SUCCESS(f"Points mall on http://{host}:{port}/  (admin: /admin/)"))
        try:
            manager.loop()
        finally:
            if embedded.started_here:
                self.stdout.write("Stopping the embedded PostgreSQL")
                embedded.stop_database()
        sys.exit(manager.returncode or 0)
