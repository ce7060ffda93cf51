# The two commands: `make run` and `make test`. Everything else is a helper of those or of CI.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test fault smoke bench load lint migrations-check messages clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

venv: $(STAMP)

## Set up everything and start web + worker + beat on the embedded defaults (Ctrl-C stops all).
run: $(STAMP)
	DEBUG=$${DEBUG:-1} $(PY) manage.py runstack

## Run the whole test suite (embedded PostgreSQL unless DATABASE_URL is set).
test: $(STAMP)
	DEBUG=1 $(PY) -m pytest $(PYTEST_ARGS)

## The fault tests (tests/faults): PostgreSQL restarted, Redis stopped and hung, a worker killed,
## each on private servers the tests start under var/faults/ (never the machine's).
fault: $(STAMP)
	DEBUG=1 $(PY) -m pytest -s -m fault tests/faults $(PYTEST_ARGS)

## Start the embedded stack exactly as `make run` does, check it answers, stop it.
smoke: $(STAMP)
	$(PY) .ci/smoke.py

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP) requirements-bench.txt
	$(PY) -m pip install --quiet -r requirements-bench.txt
	@touch $(BENCH_STAMP)

## Service layer vs plain SQL, and vs the django-hordak peer (bench-only deps), printed as ratios.
bench: $(BENCH_STAMP)
	DEBUG=1 $(PY) bench/run.py $(BENCH_ARGS)

## Load test (locust, headless): gunicorn with the production settings, 50 members for 60 s with and
## without think time, per-endpoint requests/s and p50/p95/p99 (bench/load.py, bench/README.md).
load: $(STAMP)
	$(PY) bench/load.py $(LOAD_ARGS)

## ruff, and import-linter's layers contract (pyproject.toml): no app imports a layer above it.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

migrations-check: $(STAMP)
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

## Recompile the translation catalogs after editing locale/*/LC_MESSAGES/django.po.
messages: $(STAMP)
	DEBUG=1 $(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) var
