#!/usr/bin/env bash
# Installs mysqlclient when DATABASE_URL names MySQL/MariaDB (SQLite needs nothing).
set -euo pipefail
cd "$(dirname "$0")/.."

case "${DATABASE_URL:-}" in
  mysql://* | mysql2://* | mariadb://*) ;;
  *) exit 0 ;;
esac
if .venv/bin/python -c 'import MySQLdb' 2>/dev/null; then
  exit 0
fi
if ! pkg-config --exists mysqlclient 2>/dev/null && ! pkg-config --exists libmariadb 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing the MySQL client headers (libmariadb-dev) for mysqlclient..."
    apt-get install -y -qq libmariadb-dev pkg-config >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null && apt-get install -y -qq libmariadb-dev pkg-config >/dev/null; }
  else
    echo "mysqlclient needs the MySQL client headers: install libmariadb-dev (Debian/Ubuntu)" >&2
    echo "or mysql-devel (Fedora), then run this again." >&2
    exit 1
  fi
fi
.venv/bin/python -m pip install --quiet -r requirements-mysql.txt
