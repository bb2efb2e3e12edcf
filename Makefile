# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/openrooms
# Both cores (pytest-xdist), idle workers take tests from busy ones; the slowest 15 at the end.
PYTEST := $(BIN)/python -m pytest -n auto --dist worksteal --durations=15

.PHONY: demo test test-sqlite test-postgres lint typecheck soak scale-out system-deps bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "openrooms needs Python 3.11 or newer: set PYTHON=python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/openrooms demo

# Browser tests drive Debian's Chromium; Playwright cannot download its own browsers here.
system-deps:
	@bash scripts/install-system-deps.sh

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

test: $(VENV)/.installed-dev system-deps lint typecheck test-sqlite test-postgres

test-sqlite: $(VENV)/.installed-dev
	@echo "== openrooms on SQLite, and the Microsoft 365 emulator's conformance suite"
	DATABASE_URL= $(PYTEST) -q openrooms m365_emulator

test-postgres: $(VENV)/.installed-dev
	@echo "== openrooms on PostgreSQL ($(TEST_DATABASE_URL))"
	@$(BIN)/python scripts/check_postgres.py "$(TEST_DATABASE_URL)"
	DATABASE_URL=$(TEST_DATABASE_URL) $(PYTEST) -q openrooms

# Before a release: the fault scenario with Microsoft 365 down for the full two minutes (the
# suite's own run takes it down for SYNC_FAULTS_OUTAGE_SECONDS, 20), on both databases.
soak: $(VENV)/.installed-dev
	SYNC_FAULTS_OUTAGE_SECONDS=120 DATABASE_URL= $(PYTEST) -q \
		openrooms/integrations/microsoft365/tests/test_sync_faults.py
	@$(BIN)/python scripts/check_postgres.py "$(TEST_DATABASE_URL)"
	SYNC_FAULTS_OUTAGE_SECONDS=120 DATABASE_URL=$(TEST_DATABASE_URL) $(PYTEST) -q \
		openrooms/integrations/microsoft365/tests/test_sync_faults.py

# Scale-out, full length: two web processes and three workers (one SIGKILLed and restarted),
# 100 clients for a minute on PostgreSQL; the suite runs it for 15 s with 40 clients.
scale-out: $(VENV)/.installed-dev
	@$(BIN)/python scripts/check_postgres.py "$(TEST_DATABASE_URL)"
	OPENROOMS_SCALE_OUT_SECONDS=60 OPENROOMS_SCALE_OUT_CLIENTS=100 \
		DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/python -m pytest -q -s \
		openrooms/operations/tests/test_scale_out.py

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/availability.py

clean:
	rm -rf $(VENV) var
