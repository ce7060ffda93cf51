"""A celery worker (``celery -A mall worker``) whose ledger jobs work in small batches, so that a
kill lands between two of them: ``python -m tests.faults.worker <batch accounts> <worker args>``."""

import sys

from mall.celery import app


def main():
    import django

    django.setup()
    from points.services import jobs

    jobs.JOB_BATCH_ACCOUNTS = int(sys.argv[1])
    app.worker_main(["worker", *sys.argv[2:]])


if __name__ == "__main__":
    main()
