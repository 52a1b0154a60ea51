# Two commands for a newcomer: `make run` and `make test`. Both build .venv from requirements.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: run test venv migrate lint format worker seed audit bench clean

venv: $(STAMP) .env

# A local .env with development defaults (DEBUG on); production sets real variables instead.
.env:
	cp .env.example .env

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

migrate: venv
	$(BIN)/python manage.py migrate --noinput

run: migrate
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

worker: migrate
	$(BIN)/celery -A lenme worker --beat --loglevel=info

seed: migrate
	$(BIN)/python manage.py seed_demo

audit: venv
	$(BIN)/python manage.py audit_ledger

# The money endpoints under load against pgbench on the local PostgreSQL (see scripts/bench.py).
bench: venv
	$(BIN)/python scripts/bench.py

clean:
	rm -rf $(VENV) .pytest_cache
