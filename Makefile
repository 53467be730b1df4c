# mandate-sim: `make run` sets everything up and starts the main job; `make test` sets up and runs the tests.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test test-fast bench report clean

$(STAMP): pyproject.toml
	@set -e; py=$$(scripts/find-python); \
	  echo "Using $$py ($$($$py --version))"; \
	  if [ ! -x $(PY) ]; then $$py -m venv $(VENV); fi
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

# The main job: the app on http://127.0.0.1:8050 (debug off; Ctrl-C stops it). HOST/PORT override.
HOST ?= 127.0.0.1
PORT ?= 8050
run: setup
	$(VENV)/bin/mandate-sim app --host $(HOST) --port $(PORT)

# The comparison report of the built-in policies, without the app.
report: setup
	$(VENV)/bin/mandate-sim compare mandate_single_tool mandate_any_tool free_choice outcome_goals pilot_and_measure \
	  --replicates 10 --html reports/compare.html

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow and not browser and not cluster"

bench: setup
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache reports
