# mandate-sim: `make run` sets everything up and starts the main job; `make test` sets up and runs the tests.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test test-fast fuzz bench loadtest report clean

$(STAMP): pyproject.toml
	@set -e; py=$$(scripts/find-python); \
	  echo "Using $$py ($$($$py --version))"; \
	  if [ ! -x $(PY) ]; then $$py -m venv $(VENV); fi
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

# The main job: the app on http://127.0.0.1:8050 (gunicorn, debug off; Ctrl-C stops it and all its workers). HOST/PORT override.
HOST ?= 127.0.0.1
PORT ?= 8050
run: setup
	$(VENV)/bin/mandate-sim app --host $(HOST) --port $(PORT)

# The comparison report of the built-in policies, without the app.
report: setup
	$(VENV)/bin/mandate-sim compare mandate_single_tool mandate_any_tool free_choice outcome_goals pilot_and_measure \
	  --replicates 10 --html reports/compare.html

# The suite on 2 worker processes, each test file kept on one worker (its module fixtures computed once).
# One process: `$(PY) -m pytest -q -p no:xdist`.
test: setup
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder

test-fast: setup
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder -m "not slow and not browser and not cluster"

# The property tests and the readers' fuzz tests, longer: FUZZ_FACTOR (25) times the suite's examples, larger
# models, fresh random examples every run (about 3 minutes; a failure prints how to reproduce it).
FUZZ_FACTOR ?= 25
fuzz: setup
	MANDATE_SIM_FUZZ=1 MANDATE_SIM_FUZZ_FACTOR=$(FUZZ_FACTOR) $(PY) -m pytest -q tests/test_properties.py tests/test_fuzz_inputs.py

bench: setup
	$(PY) benchmarks/run.py

# The app under load: 20 simulated users for 120 s on loopback (gunicorn, 2 server and 2 run workers), about 3 minutes.
loadtest: setup
	$(PY) benchmarks/loadtest.py

clean:
	rm -rf $(VENV) .pytest_cache reports
