# The two commands of the README: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
export DJANGO_SETTINGS_MODULE := examsite.settings
export PYTHONUNBUFFERED := 1

.PHONY: run test install lint format

$(VENV)/.installed: requirements.txt requirements-dev.txt
	scripts/install.sh
	touch $@

install: $(VENV)/.installed
	@scripts/install_db_driver.sh

## make run: install, make sure Redis and the database are there, migrate, load the demo, serve.
run: install
	scripts/run.sh

## make test: the whole suite against the real Redis and the database of DATABASE_URL.
test: install
	scripts/test.sh

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
