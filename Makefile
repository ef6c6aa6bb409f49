# Two commands matter (see README): `make run` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run demo test lint bench clean ensure-postgres ensure-chromium

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## The main job: the sample journeys on the embedded SQLite default, then the HTTP service on them.
run: $(STAMP)
	$(BIN)/casejourney demo
	$(BIN)/casejourney projections rebuild
	$(BIN)/casejourney serve

demo: $(STAMP)
	$(BIN)/casejourney demo
	$(BIN)/casejourney history --scenario 5

## The tests, on SQLite and on the local PostgreSQL (started if it is down).
test: $(STAMP) ensure-postgres ensure-chromium
	$(BIN)/python -m pytest -q

ensure-postgres:
	@scripts/ensure_postgres.sh

## Headless Chromium for the HTML timeline test (installed with apt-get when missing and root).
ensure-chromium:
	@scripts/ensure_chromium.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy domain projections infrastructure

bench: $(STAMP) ensure-postgres
	$(BIN)/python -m scripts.bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
