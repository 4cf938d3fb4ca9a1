# One command per job on a fresh machine: `make demo` and `make test` create .venv, install, run.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MG := $(VENV)/bin/mg
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install demo test test-integration test-browser lint format bench clean system-deps

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages some commands need (audio rendering); installed only when missing.
system-deps:
	@command -v fluidsynth >/dev/null || { apt-get update -qq && apt-get install -y -qq fluidsynth >/dev/null; }

demo: install
	bash scripts/demo.sh

test: install
	$(PY) -m pytest -q -m "not integration and not browser" $(PYTEST_ARGS)

test-integration: install
	$(PY) -m pytest -q -m integration $(PYTEST_ARGS)

test-browser: install
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
	$(PY) -m pytest -q -m browser $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) build *.egg-info demo-out .pytest_cache .ruff_cache
