#!/usr/bin/env bash
# Browser tests drive Debian's chromium through Playwright (never `playwright install`).
# Install it with apt when it is missing; fail loudly when that is impossible.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "chromium is missing and cannot be installed without root: apt-get install chromium" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null || { echo "chromium install failed" >&2; exit 1; }
