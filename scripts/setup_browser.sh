#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Debian's headless-capable Chromium for the HTML run report's browser tests
# (tests/integration/run_report). Idempotent: does nothing when chromium is installed.
#
#   scripts/setup_browser.sh
set -euo pipefail

log() { printf '[setup-browser] %s\n' "$*"; }

packages=(chromium fonts-dejavu-core)

# shellcheck source=scripts/lib/debian_packages.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/debian_packages.sh"
ensure_debian_packages setup-browser "${packages[@]}"
log "chromium: $(chromium --version 2>/dev/null || echo 'version unknown')"
