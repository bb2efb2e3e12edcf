# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/openrooms
PYTEST := $(BIN)/python -m pytest

.PHONY: demo test test-sqlite test-postgres lint system-deps bench clean

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

test: $(VENV)/.installed-dev system-deps lint test-sqlite test-postgres

test-sqlite: $(VENV)/.installed-dev
	@echo "== openrooms on SQLite, and the Microsoft 365 emulator's conformance suite"
	DATABASE_URL= $(PYTEST) -q openrooms m365_emulator

test-postgres: $(VENV)/.installed-dev
	@echo "== openrooms on PostgreSQL ($(TEST_DATABASE_URL))"
	@$(BIN)/python scripts/check_postgres.py "$(TEST_DATABASE_URL)"
	DATABASE_URL=$(TEST_DATABASE_URL) $(PYTEST) -q openrooms

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/availability.py

clean:
	rm -rf $(VENV) var
