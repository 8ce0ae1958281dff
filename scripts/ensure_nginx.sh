#!/usr/bin/env bash
# Debian's nginx (and openssl, for the test's self-signed certificate) for tests/scale/test_nginx.py:
# installed with apt-get when missing and we are root (CI is). Anywhere else it only says what is
# missing; that test then skips itself with that reason. Nothing is started or enabled here: the
# test runs its own nginx from a configuration in a temporary folder.
set -euo pipefail

missing=()
[ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure_nginx: ${missing[*]} missing and we are not root; install with: sudo apt-get install -y ${missing[*]}" >&2
  exit 0
fi
echo "ensure_nginx: installing Debian's ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d's answer 101 keeps the package from starting its own nginx on port 80 (containers
# often have one already; then it is left as it is).
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
/usr/sbin/nginx -v
