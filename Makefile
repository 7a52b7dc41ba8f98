# DDBDjango: the two commands for a fresh machine are `make run` and `make test`.
# Everything else is built on demand (the venv, node_modules) and rebuilt when
# pyproject.toml / package.json change.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VENV_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# Extra arguments for pytest: make test PYTEST_ARGS="-k cache -x"
PYTEST_ARGS ?=
# Extra arguments for seed_blog: make seed SEED_ARGS="--authors 20 --posts 200"
SEED_ARGS ?=
# Where `python -m scripts.devstack` (make run) leaves the embedded emulator's URL for `make seed`.
DEVSTACK_STATE_DIR ?= .run

.PHONY: help venv node_modules run lint fmt test integration seed load bench lock clean distclean

help:  ## Show the targets
	@grep -hE '^[a-z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

venv: $(VENV_STAMP)  ## Create .venv and install the project with its dev extra

$(VENV_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed, $(PYTHON) is " + sys.version.split()[0] + "; try: make PYTHON=python3.11 ...")'
	@if [ ! -x $(BIN)/python ]; then \
		echo "Creating $(VENV) with $(PYTHON)"; \
		$(PYTHON) -m venv $(VENV) || { echo "python venv failed; on Debian/Ubuntu: apt-get install python3-venv"; exit 1; }; \
	fi
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --disable-pip-version-check -e '.[dev]'
	@touch $@

node_modules: $(NODE_STAMP)  ## Install dynalite (a second DynamoDB emulator for the tests)

$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --no-audit --no-fund && touch $@; \
	else \
		echo "WARNING: npm not found; the dynalite tests will be skipped (and fail under CI=true)."; \
		echo "         Install Node.js >= 20 to run them."; \
	fi

run: venv  ## Serve the API at http://127.0.0.1:8000 with an embedded emulator (HOST, PORT; Ctrl-C stops)
	$(BIN)/python -m scripts.devstack

lint: venv  ## ruff (lint + format check) and mypy on the library: the gate CI runs before the tests
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: venv  ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: venv node_modules  ## Run the whole test suite
	$(BIN)/pytest $(PYTEST_ARGS)

integration: venv  ## Library + blog engine tests against DDB_INTEGRATION_ENDPOINT, or a moto server it starts
	$(BIN)/python -m scripts.integration $(PYTEST_ARGS)

seed: venv  ## Fill the running stack (`make run`) with demo data
	@endpoint="$${AWS_ENDPOINT_URL_DYNAMODB:-$$(cat $(DEVSTACK_STATE_DIR)/dynamodb-endpoint 2>/dev/null || true)}"; \
	if [ -z "$$endpoint" ]; then \
		echo "No DynamoDB endpoint: start 'make run' in another terminal, or set AWS_ENDPOINT_URL_DYNAMODB."; \
		echo "(For real AWS run: .venv/bin/python manage.py seed_blog)"; \
		exit 1; \
	fi; \
	AWS_ENDPOINT_URL_DYNAMODB="$$endpoint" DJANGO_DEBUG="$${DJANGO_DEBUG:-1}" \
		$(BIN)/python manage.py seed_blog $(SEED_ARGS)

load: venv  ## Locust blog mix, headless (TARGET=url of a running stack, else its own; USERS, DURATION)
	$(BIN)/python -m loadtests.run_load

bench: venv  ## Side-by-side benchmarks; writes reports/bench.md
	$(BIN)/python -m bench

# Lock files for the Docker image (pip install --require-hashes): resolved from
# pyproject.toml on PyPI alone, for the image's Python (3.11), in a venv of
# their own so neither the dev venv nor a local pip configuration (extra
# indexes, find-links, constraints) leaks into them.
LOCK_PYTHON ?= python3.11
LOCK_VENV := build/lock-venv
LOCK_INDEX_URL ?= https://pypi.org/simple
LOCK_ENV := env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_CONSTRAINT -u PIP_INDEX_URL \
	PIP_CONFIG_FILE=/dev/null CUSTOM_COMPILE_COMMAND="make lock"
PIP_COMPILE = $(LOCK_ENV) $(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --index-url $(LOCK_INDEX_URL) --rebuild
TOML_LIST = $(LOCK_VENV)/bin/python -c 'import sys, tomllib; d = tomllib.load(open("pyproject.toml", "rb")); \
	print("\n".join(eval(sys.argv[1], {}, {"d": d})))'

lock:  ## Regenerate requirements/*.txt (pinned, with hashes) from pyproject.toml
	@$(LOCK_PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "make lock resolves for the image'"'"'s Python 3.11; set LOCK_PYTHON")'
	@test -x $(LOCK_VENV)/bin/pip-compile || { \
		$(LOCK_PYTHON) -m venv $(LOCK_VENV) && \
		$(LOCK_ENV) $(LOCK_VENV)/bin/pip install --quiet --index-url $(LOCK_INDEX_URL) 'pip-tools>=7.4,<8'; }
	mkdir -p requirements
	# prod.txt: the web image's runtime dependencies ([project].dependencies)
	$(PIP_COMPILE) --output-file requirements/prod.txt pyproject.toml
	# build.txt: the build backend, to build the project's wheel without build isolation
	$(TOML_LIST) 'd["build-system"]["requires"]' | $(PIP_COMPILE) --output-file requirements/build.txt -
	# load.txt: locust for the compose `load` profile (its range from the dev extra)
	$(TOML_LIST) '[r for r in d["project"]["optional-dependencies"]["dev"] if r.startswith("locust")]' \
		| $(PIP_COMPILE) --output-file requirements/load.txt -

clean:  ## Remove reports, caches and build output
	rm -rf reports .pytest_cache build dist .run ./*.egg-info
	find . -path ./$(VENV) -prune -o -path ./node_modules -prune -o -name __pycache__ -type d -print0 \
		| xargs -0 rm -rf

distclean: clean  ## Also remove .venv and node_modules
	rm -rf $(VENV) node_modules
