# HDTickets Alerts — the two commands that matter: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install migrate lint types contracts unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/hdtickets migrate

run: migrate
	$(BIN)/python -m bot run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: install
	$(BIN)/mypy core bot adapters ml

contracts: install
	$(BIN)/lint-imports

unit: install
	$(BIN)/python -m pytest -q -rs

test: lint types contracts unit

bench: install
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/delivery.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
