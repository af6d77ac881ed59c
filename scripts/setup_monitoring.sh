#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The monitoring servers the alert-rule tests run against: Debian's prometheus
# (with promtool), prometheus-alertmanager (amtool), prometheus-pushgateway and
# prometheus-node-exporter. Idempotent: installs only what is missing.
# The tests start each binary themselves (temporary data directory, free port),
# so any daemon the install started (where an init system exists) is stopped.
#
#   scripts/setup_monitoring.sh
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
packages=(prometheus prometheus-alertmanager prometheus-pushgateway prometheus-node-exporter)

# shellcheck source=scripts/lib/debian_packages.sh
. "$repo/scripts/lib/debian_packages.sh"
ensure_debian_packages setup_monitoring "${packages[@]}"
if [ -n "$DEBIAN_PACKAGES_INSTALLED" ]; then
  for unit in "${packages[@]}"; do
    # only units this install started; nothing runs them on a machine without an init system
    if command -v systemctl >/dev/null && systemctl is-active --quiet "$unit" 2>/dev/null; then
      systemctl stop "$unit" || true
    elif [ -x "/etc/init.d/$unit" ]; then
      "/etc/init.d/$unit" stop >/dev/null 2>&1 || true
    fi
  done
fi
promtool --version | sed -n 1p
