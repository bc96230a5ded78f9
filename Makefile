# The README's two commands: `make demo` and `make test`. Both work on a fresh clone:
# they create .venv here if it is missing and install the package into it first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test lint format clean install

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

lint: $(VENV)/.installed-test
	$(BIN)/ruff check geo tests scripts
	$(BIN)/ruff format --check geo tests scripts
	$(BIN)/lint-imports

format: $(VENV)/.installed-test
	$(BIN)/ruff format geo tests scripts
	$(BIN)/ruff check --fix geo tests scripts

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
