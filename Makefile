# Two commands for a newcomer: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEV_ENV := DEBUG=1

.PHONY: run test install migrate superuser check clean bench bench-smoke chromium

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

migrate: install
	$(DEV_ENV) $(PY) manage.py migrate --noinput

## run: install, migrate and serve on http://127.0.0.1:8000 (SQLite, no other setup)
run: migrate
	@echo ""
	@echo "  authsvc on http://127.0.0.1:8000"
	@echo "  API docs:  http://127.0.0.1:8000/api/docs/   (schema: /api/schema/)"
	@echo "  Admin:     http://127.0.0.1:8000/admin/      (make superuser to create an account)"
	@echo ""
	$(DEV_ENV) $(PY) manage.py runserver 127.0.0.1:8000

superuser: migrate
	$(DEV_ENV) $(PY) manage.py createsuperuser

## test: the import rules (.importlinter), then the whole suite (set DATABASE_URL / REDIS_URL to run it on PostgreSQL / Redis)
test: install
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest $(PYTEST_ARGS)

## bench: authsvc against a stock simplejwt peer on the local PostgreSQL + Redis (15–20 min), writes bench/RESULTS.md
bench: $(VENV)/.bench-installed
	$(PY) bench/run.py $(BENCH_ARGS)

## bench-smoke: the same bench in about a minute, tiny tables: checks it still works (numbers mean nothing)
bench-smoke: $(VENV)/.bench-installed
	$(PY) bench/run.py --smoke $(BENCH_ARGS)

$(VENV)/.bench-installed: requirements-bench.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-bench.txt
	touch $@

## chromium: Debian's chromium, for the browser tests (needs root; they are skipped without it)
chromium:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

check: install
	$(DEV_ENV) $(PY) manage.py check
	$(DEV_ENV) $(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) db.sqlite3 .pytest_cache
