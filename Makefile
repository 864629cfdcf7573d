# enginev2d — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_BIN := /usr/lib/postgresql/15/bin
STAMP := $(VENV)/.installed

.PHONY: demo-deps pm2 install test test-unit test-integration test-acceptance lint format demo serve bench clean system-deps

install: $(STAMP) system-deps

# Editable install with the dev extra; redone when pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# PostgreSQL 15 server (tests and the demo run a private cluster) and Chromium (browser test).
system-deps:
	@scripts/ensure-system-deps.sh

# The demo needs PostgreSQL but no browser.
demo-deps:
	@ENGINEV2_SKIP_CHROMIUM=1 scripts/ensure-system-deps.sh

# pm2 for the supervisor acceptance test (skipped with a reason where npm is missing).
pm2: $(STAMP)
	@scripts/ensure-pm2.sh

test: install pm2
	$(BIN)/pytest tests

test-unit: install
	$(BIN)/pytest tests/unit

test-integration: install
	$(BIN)/pytest tests/integration

test-acceptance: install pm2
	$(BIN)/pytest tests/acceptance

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: $(STAMP) demo-deps
	$(BIN)/enginev2d demo $(if $(PROMPT),"$(PROMPT)",)

# Serve the demo game as it is (no job); PORT=8000 by default.
serve: $(STAMP) demo-deps
	$(BIN)/enginev2d demo --serve --port $(or $(PORT),8000)

bench: install
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
