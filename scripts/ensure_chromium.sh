#!/usr/bin/env bash
# Debian's Chromium for the browser tests: installed with apt-get when /usr/bin/chromium is
# missing and we are root (CI is). Anywhere else it only says what is missing; the browser
# tests then skip themselves with that reason.
set -euo pipefail
CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure_chromium: $CHROMIUM is missing and we are not root; install it with: sudo apt-get install -y chromium" >&2
  exit 0
fi
echo "ensure_chromium: installing Debian's chromium" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
"$CHROMIUM" --version >&2
