# Ka-Ro LMS. `make run` to try it, `make test` for the whole suite. See README.md.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEV_ENV := DEBUG=true

.PHONY: run test test-fast test-browser lint typecheck bench bench-fault install clean worker test-celery

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python requirements.txt requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

run: install
	$(DEV_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEV_ENV) $(BIN)/python manage.py seed_demo
	$(DEV_ENV) $(BIN)/python manage.py send_reminders
	@echo "Serving on http://127.0.0.1:8000 (Ctrl-C to stop)"
	$(DEV_ENV) $(BIN)/python manage.py runserver 127.0.0.1:8000

# The whole suite: unit, integration and browser tests (browser tests say why if they skip).
test: install
	$(BIN)/pytest -n 2 -q $(PYTEST_ARGS)

test-fast: install
	$(BIN)/pytest -n 2 -q -m "not browser"

test-browser: install
	$(BIN)/pytest -q -m browser

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	DEBUG=true $(BIN)/mypy .

bench: install
	bash bench/run.sh

# Redis stopped, restarted, hung and resumed under postings and page loads (PostgreSQL).
bench-fault: install
	$(BIN)/python bench/redis_fault.py

# A Celery worker for the background work (needs CELERY_BROKER_URL, e.g. redis://127.0.0.1:6379/9;
# without one, `make run` does the work in the web process and needs no worker).
worker: install
	$(DEV_ENV) $(BIN)/celery -A karo worker --loglevel=INFO

# Real workers against a broker and PostgreSQL (a close on a worker, a worker killed mid-close).
test-celery: install
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-redis://127.0.0.1:6379/9} \
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/karo_celery} \
	$(BIN)/pytest -q -m celery_worker --create-db tests/collecting

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .mypy_cache .ruff_cache
