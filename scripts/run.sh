#!/usr/bin/env bash
# make run: Redis and database, migrations, demo data, then daphne and the expiry worker together.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PORT="${PORT:-8000}"

$PY scripts/ensure_services.py
$PY manage.py migrate --noinput
$PY manage.py collectstatic --noinput >/dev/null
$PY manage.py load_demo

pids=()
stop() {
  trap - INT TERM EXIT
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

.venv/bin/daphne -b 127.0.0.1 -p "$PORT" examsite.asgi:application &
pids+=($!)
$PY manage.py expiry_worker &
pids+=($!)
echo "Serving on http://127.0.0.1:$PORT/ (Ctrl-C stops the web server and the expiry worker)"
wait -n "${pids[@]}"
