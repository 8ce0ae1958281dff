#!/usr/bin/env bash
# make test: the whole suite against the real Redis and the database of DATABASE_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python scripts/ensure_services.py
scripts/ensure_chromium.sh  # the browser tests drive Debian's Chromium
exec .venv/bin/pytest "$@"
