# Quickstart: `make demo` runs a whole simulated store; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench clean install

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/smartstore demo $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# lint-imports checks the import rules of docs/architecture.md; building the graph takes a second, so no cache.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy smartstore bench

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/rfid.py
	$(BIN)/python bench/vision.py
	$(BIN)/python bench/locker.py

clean:
	rm -rf $(VENV) var build *.egg-info
