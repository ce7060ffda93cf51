"""Settings of the django-hordak peer bench (``bench/bench_hordak.py``), and only of it.

django-hordak is a bench-only dependency (requirements-bench.txt): it never enters the project's
INSTALLED_APPS. This module runs it in a process and a database of its own (``DATABASE_URL``,
set by the bench to ``<name>_bench_peer_hordak``), on the same Django, psycopg and PostgreSQL
as the project, with the same connection handling (no persistent connections across threads'
ends, client-side binding: Django's defaults, as for our own side).
"""

import os

import dj_database_url

SECRET_KEY = "bench-only, never served"
DEBUG = False
USE_TZ = True
TIME_ZONE = "Asia/Shanghai"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "mptt",
    "djmoney",
    "hordak",
]

DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}

# Points are whole numbers; hordak keeps Money amounts, so they are booked in one currency.
HORDAK_INTERNAL_CURRENCY = "CNY"
DEFAULT_CURRENCY = "CNY"
HORDAK_CURRENCIES = ["CNY"]
CURRENCIES = ["CNY"]
