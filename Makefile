# The two commands of the README: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
export DJANGO_SETTINGS_MODULE := examsite.settings
export PYTHONUNBUFFERED := 1

.PHONY: run test test-scale install lint format bench

$(VENV)/.installed: requirements.txt requirements-dev.txt
	scripts/install.sh
	touch $@

install: $(VENV)/.installed
	@scripts/install_db_driver.sh

## make run: install, make sure Redis and the database are there, migrate, load the demo, serve.
run: install
	scripts/run.sh

## make test: the whole suite against the real Redis and the database of DATABASE_URL (not tests/scale).
test: install
	scripts/test.sh

## make test-scale: tests/scale (marker `scale`): Redis Sentinel, Redis Cluster and nginx, started by the tests.
test-scale: install
	scripts/test_scale.sh

## make lint: ruff, and the import contract of pyproject.toml (the domain never imports the transport).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## make bench: the benchmarks of bench/README.md (small sizes; larger ones with ARGS="--sockets 1000,5000,10000 ...").
bench: install
	$(BIN)/pip install --quiet -r requirements-bench.txt
	DATABASE_URL=$${BENCH_DATABASE_URL:-mysql://root@127.0.0.1:3306/examtimer_bench} $(BIN)/python scripts/ensure_services.py
	ulimit -n 30000 2>/dev/null || ulimit -n $$(ulimit -Hn); $(BIN)/python -m bench $(ARGS)
