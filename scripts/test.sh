#!/usr/bin/env bash
# make test: the whole suite against the real Redis and the database of DATABASE_URL.
#
# Most tests spend their time waiting on real clocks (TTLs, deadlines, reconnects), so they run on
# TEST_WORKERS pytest-xdist workers (each with its own test database; Redis keys, channel-layer
# groups and ports are already per test). The tests marked `solo` load the machine themselves and
# time what they see (a saturated server, a flood, bursts at a deadline): they run afterwards, alone.
# The tests marked `scale` (tests/scale: Sentinel, Cluster, nginx) are `make test-scale`'s, not these.
# With arguments, it is plain pytest with those arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python scripts/ensure_services.py
scripts/ensure_chromium.sh  # the browser tests drive Debian's Chromium

if [ "$#" -gt 0 ]; then
  exec .venv/bin/pytest "$@"
fi
status=0
.venv/bin/pytest -n "${TEST_WORKERS:-2}" -m "not solo and not scale" || status=$?
.venv/bin/pytest -m "solo and not scale" || status=$((status ? status : $?))
exit "$status"
