# The two commands a new user needs: `make demo` and `make test`.
# Each creates .venv when it is missing and (re)installs the project when
# pyproject.toml changes, so they work on a machine with only Python 3.11 and make.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean install plain-install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/early-warning demo --workdir demo
	$(BIN)/early-warning --config demo/daemon.toml daemon --once --run-for 3

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest

# The demo from a plain `pip install .` (no test extras) in a scratch environment:
# proves the run-time dependencies are declared (the test extras hide a missing one).
plain-install:
	rm -rf .plain-venv
	$(PYTHON) -m venv .plain-venv
	.plain-venv/bin/python -m pip install --quiet .
	cd "$$(mktemp -d)" && $(CURDIR)/.plain-venv/bin/early-warning demo > demo.log && tail -3 demo.log
	rm -rf .plain-venv

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# Each benchmark prints `goal | path | ratio | floor | goal | met` lines:
# `make bench | tee bench.log; .venv/bin/python benchmarks/goals.py < bench.log` tabulates them.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_ingest.py
	$(BIN)/python benchmarks/bench_scoring.py
	$(BIN)/python benchmarks/bench_cli.py
	$(BIN)/python benchmarks/bench_report.py
	cd benchmarks && ../$(BIN)/python bench_backtest.py
	cd benchmarks && ../$(BIN)/python bench_alerts.py
	cd benchmarks && ../$(BIN)/python bench_workbench.py
	cd benchmarks && ../$(BIN)/python bench_gdelt.py
	$(BIN)/python benchmarks/bench_hostile.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist
