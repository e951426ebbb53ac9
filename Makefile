# Vajra — every entry point a developer or CI uses. See CONTRIBUTING.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV = $(shell scripts/venv.sh)
PY = $(VENV)/bin/python

.PHONY: help venv check lint typecheck unit test interop testbed demo fuzz bench

help:
	@echo "make demo      run the main job on embedded defaults"
	@echo "make test      every test: lint, types, unit, fuzz smoke, interop with real peers, e2e"
	@echo "make check     ruff + mypy + fast unit tests (seconds, no external processes)"
	@echo "make testbed   install btcd, LND, LDK harness, lnprototest and run the self-check"
	@echo "make fuzz      run every fuzz target for FUZZ_SECONDS (default 60) each"
	@echo "make bench     run the benchmarks and append to bench/RESULTS.md"

venv:
	@scripts/venv.sh >/dev/null

lint: venv
	$(VENV)/bin/ruff check src tests bench testbed
	$(VENV)/bin/ruff format --check src tests bench testbed

typecheck: venv
	$(VENV)/bin/mypy

unit: venv
	$(PY) -m pytest -q -p no:cacheprovider tests/unit

check: lint typecheck unit

testbed: venv
	testbed/install.sh
	$(PY) -m vajra testbed selfcheck

test: check
	testbed/install.sh
	$(PY) -m pytest -q -p no:cacheprovider --durations=30 tests/fuzz tests/interop tests/e2e

interop: venv
	testbed/install.sh
	$(PY) -m pytest -q -p no:cacheprovider -m interop tests/interop

fuzz: venv
	$(PY) -m tests.fuzz.run --seconds $${FUZZ_SECONDS:-60}

bench: venv
	$(PY) -m vajra bench protocol --json
	$(PY) -m vajra bench signer --json
	$(PY) -m vajra bench hosting --nodes 10000 --json

demo: venv
	testbed/install.sh
	$(PY) -m vajra demo
