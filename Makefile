# creditline — the README's commands. Each target installs what it needs into ./.venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,fit,spark]'
	touch $(STAMP)

# Creates ./var/creditline.db (SQLite), loads the demo book once, serves the API.
run: install
	$(BIN)/creditline db upgrade
	$(BIN)/creditline demo --if-empty
	$(BIN)/creditline serve --host $(HOST) --port $(PORT)

# The whole suite on SQLite and on PostgreSQL (CREDITLINE_TEST_POSTGRES_URL, default the local
# server's `test` database; each test worker makes its own database beside it), and every
# bench at its --smoke size (tests/e2e/test_benchmarks.py), and the import contracts
# (tests/test_architecture.py runs lint-imports on a copy of this tree).
test: install
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m pip install --quiet -e '.[dev,fit,spark,bench]'
	$(BIN)/python bench/ledger.py
	$(BIN)/python bench/eod.py
	$(BIN)/python bench/review.py
	$(BIN)/python bench/review_book.py
	$(BIN)/python bench/review_spark.py
	$(BIN)/python bench/dispatch.py
	$(BIN)/python bench/portfolio.py
	$(BIN)/python bench/policy_notices.py
	$(BIN)/python bench/lender_attributes.py
	$(BIN)/python bench/http_api.py
	$(BIN)/python bench/metrics_modes.py

lint: install
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy src
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
