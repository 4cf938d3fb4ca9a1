# One command per job on a fresh machine: `make demo` and `make test` create .venv, install, run.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MG := $(VENV)/bin/mg
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install demo test test-integration test-browser lint format bench bench-polyphonic clean system-deps

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages some commands need (audio rendering); installed only when missing.
system-deps:
	@command -v fluidsynth >/dev/null || { apt-get update -qq && apt-get install -y -qq fluidsynth >/dev/null; }

# The demo installs as its first timed stage (a no-op when .venv is current).
demo:
	bash scripts/demo.sh

# Two test processes on two cores; a test module stays on one process so that its expensive
# fixtures (an ingested corpus, a trained model, a server) are built once. One BLAS/OpenMP
# thread per process: small models run far faster than with threads fighting for the cores.
test: install
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n 2 --dist loadfile -m "not integration and not browser" $(PYTEST_ARGS)

test-integration: install
	@command -v pg_ctl >/dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; }
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -m integration $(PYTEST_ARGS)

test-browser: install
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -m browser $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	$(PY) -m benchmarks.run

# The polyphonic-music benchmark: about an hour per dataset on 2 cores; its MLflow store stays
# outside the repo.
BENCH_TRACKING ?= sqlite:////tmp/mg-bench/mlflow.db
bench-polyphonic: install
	mkdir -p /tmp/mg-bench
	$(MG) benchmark polyphonic --dataset jsb --time-budget 60 --tracking-uri $(BENCH_TRACKING)
	$(MG) benchmark polyphonic --dataset nottingham --time-budget 60 --tracking-uri $(BENCH_TRACKING)

clean:
	rm -rf $(VENV) build *.egg-info demo-out .pytest_cache .ruff_cache
