# The README's two commands: `make demo` and `make test`. Both work on a fresh clone:
# they create .venv here if it is missing and install the package into it first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test test-oldest lint format clean install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/gapmap demo

test: $(VENV)/.installed-test
	$(BIN)/ruff check geo tests scripts
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

# The oldest supported pandas, NumPy and pyarrow (pyproject's lower bounds) laid over the venv, for the
# tests of the pandas-heavy stages (inputs, coverage, tables, findings, report). CI runs it.
OLDEST := .venv/oldest
OLDEST_PINS := "pandas==2.1.4" "numpy==1.26.4" "pyarrow==14.0.2" "pytz"
OLDEST_TESTS := tests/test_population.py tests/test_facilities.py tests/test_need.py \
	tests/test_gaps.py tests/test_truth.py tests/test_suppression.py tests/test_findings_regions.py \
	tests/test_pipeline.py tests/test_report.py tests/test_awkward_regions.py tests/test_sites.py \
	tests/test_workshop.py

$(OLDEST)/.installed: | $(BIN)/python
	$(BIN)/python -m pip install --quiet --no-deps --target $(OLDEST) $(OLDEST_PINS)
	touch $@

test-oldest: $(VENV)/.installed-test $(OLDEST)/.installed
	PYTHONPATH=$(OLDEST) $(BIN)/python -m pytest -n 2 $(OLDEST_TESTS) $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check geo tests scripts
	$(BIN)/ruff format --check geo tests scripts
	$(BIN)/lint-imports

format: $(VENV)/.installed-test
	$(BIN)/ruff format geo tests scripts
	$(BIN)/ruff check --fix geo tests scripts

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
