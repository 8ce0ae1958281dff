#!/usr/bin/env bash
# make test-scale: the tests of tests/scale (marker `scale`), which start Redis Sentinel, a Redis
# Cluster or nginx themselves. One at a time: they time failovers and load the machine with
# their own processes. `make test` leaves them out. With arguments, plain pytest on tests/scale
# with those arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python scripts/ensure_services.py
scripts/ensure_nginx.sh

exec .venv/bin/pytest -m scale tests/scale "$@"
