#!/usr/bin/env bash
# The feedback tests start a real PostgreSQL (initdb in a temporary folder, loopback port) from
# Debian's `postgresql` package, whose programs live in /usr/lib/postgresql/N/bin. Install it with
# apt when it is missing; fail loudly when that is impossible. No server is left running: the
# tests start their own and stop it.
set -euo pipefail
found() { command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }
if found; then exit 0; fi
if [ "$(id -u)" = "0" ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "PostgreSQL is missing and cannot be installed without root: apt-get install postgresql" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq postgresql >/dev/null
# Debian's package starts a cluster of its own; the tests do not use it.
if command -v pg_ctlcluster >/dev/null 2>&1; then
  for conf in /etc/postgresql/*/main; do
    [ -d "$conf" ] || continue
    version=$(basename "$(dirname "$conf")")
    $SUDO pg_ctlcluster "$version" main stop 2>/dev/null || true
  done
fi
found || { echo "PostgreSQL install failed" >&2; exit 1; }
