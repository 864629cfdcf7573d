# enginev2d — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_BIN := /usr/lib/postgresql/15/bin
STAMP := $(VENV)/.installed

.PHONY: demo-deps demo-web-deps pm2 install test test-unit test-integration test-acceptance lint format demo demo-web serve bench clean system-deps node-deps

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

# The demo needs PostgreSQL but no browser and no Node; the web demo needs Node too.
demo-deps:
	@ENGINEV2_SKIP_CHROMIUM=1 ENGINEV2_SKIP_NODE=1 scripts/ensure-system-deps.sh

demo-web-deps:
	@ENGINEV2_SKIP_CHROMIUM=1 scripts/ensure-system-deps.sh

# pm2 for the supervisor acceptance test (skipped with a reason where npm is missing).
pm2: $(STAMP)
	@scripts/ensure-pm2.sh

# The Node client and the web demo: `npm ci` from their committed lock files, redone when
# a lock file changes (the client first: the demo links to it).
NODE_DIRS := clients/node examples/node-server
NODE_STAMPS := $(addsuffix /node_modules/.package-lock.json,$(NODE_DIRS))

node-deps: $(NODE_STAMPS)

%/node_modules/.package-lock.json: %/package-lock.json %/package.json
	cd $* && npm ci --no-audit --no-fund --loglevel=error
	touch $@

examples/node-server/node_modules/.package-lock.json: clients/node/node_modules/.package-lock.json

test: install node-deps pm2
	$(BIN)/pytest tests

test-unit: install
	$(BIN)/pytest tests/unit

test-integration: install
	$(BIN)/pytest tests/integration

test-acceptance: install node-deps pm2
	$(BIN)/pytest tests/acceptance

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: $(STAMP) demo-deps
	$(BIN)/enginev2d demo $(if $(PROMPT),"$(PROMPT)",)

# The web demo: http://127.0.0.1:8080/ (PORT=0 picks a free port).
demo-web: $(STAMP) demo-web-deps
	@$(MAKE) --no-print-directory node-deps
	$(BIN)/python examples/node-server/demo_web.py $(if $(PORT),--port $(PORT),)

# Serve the demo game as it is (no job); PORT=8000 by default.
serve: $(STAMP) demo-deps
	$(BIN)/enginev2d demo --serve --port $(or $(PORT),8000)

bench: install
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis $(addsuffix /node_modules,$(NODE_DIRS))
