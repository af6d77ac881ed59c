#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Debian's headless-capable Chromium for the HTML run report's browser tests
# (tests/integration/run_report). Idempotent: does nothing when chromium is installed.
#
#   scripts/setup_browser.sh
set -euo pipefail

log() { printf '[setup-browser] %s\n' "$*"; }

packages=(chromium fonts-dejavu-core)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  log "chromium present ($(chromium --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  log "missing Debian packages (${missing[*]}); run as root or install them" >&2
  exit 1
fi
log "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
log "chromium installed ($(chromium --version 2>/dev/null || echo 'version unknown'))"
