#!/usr/bin/env bash
# make test: the whole suite against the real Redis and the database of DATABASE_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python scripts/ensure_services.py
exec .venv/bin/pytest "$@"
