# Two commands for a newcomer: `make run` and `make test`. Both build .venv from requirements.lock,
# the full pinned dependency set generated from requirements.txt (the human-edited list) by `make lock`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: run test venv lock migrate lint format worker seed audit bench clean

venv: $(STAMP) .env

# A local .env with development defaults (DEBUG on); production sets real variables instead.
.env:
	cp .env.example .env

# Reinstalls whenever the lock (or the list it was compiled from) changes; pip-sync-like: exact pins.
$(STAMP): requirements.lock requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	touch $(STAMP)

# After editing requirements.txt: regenerate the lock (pip-tools lives in .venv only, to compile).
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links \
		--output-file=requirements.lock requirements.txt

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
