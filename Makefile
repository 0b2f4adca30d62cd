# The few commands everyone uses. `make up` runs the whole stack, `make test` the test suite.
# VENV may be overridden (.ci/run uses its own, fresh one).

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The browser tests drive Debian's Chromium (never a downloaded browser).
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: install up test lint format faults

# A virtualenv with passnum installed (editable) and the test tools.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

$(CHROMIUM):
	@echo "Installing Debian's chromium for the browser tests"
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver

# The OpenID Provider of the sign-in tests (tests/oidc: the npm package oidc-provider, pinned
# by its lock file) runs on the machine's Node.js.
NODE := /usr/bin/node
OIDC_PROVIDER := tests/oidc/node_modules/.package-lock.json

$(NODE):
	@echo "Installing Debian's Node.js for the OpenID Provider of the tests"
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm

$(OIDC_PROVIDER): tests/oidc/package-lock.json | $(NODE)
	npm ci --prefix tests/oidc --no-audit --no-fund
	touch $@

# Temporal dev server, database, worker and API on this machine; data in ./.data.
up: $(STAMP)
	$(BIN)/passnum up --demo

# Lint, format and types first (seconds), then the suite.
test: $(STAMP) $(CHROMIUM) $(OIDC_PROVIDER)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/python -m pytest

# The fault suite at full length: 300 journeys on PostgreSQL, two workers, two API processes,
# each part killed (PostgreSQL restarted) 4 times at seeded random moments; a bounded one
# runs in `make test` (tests/test_topology.py).
faults: $(STAMP)
	$(BIN)/python -m bench.topology --faults --journeys 300 --rounds 4

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
