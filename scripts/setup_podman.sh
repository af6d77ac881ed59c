#!/usr/bin/env bash
# Podman for the container tests (Debian bookworm, root), as DESIGN.md found by trying:
#   - Debian's podman with runc as the runtime (crun fails here: "cgroups in
#     hybrid mode not supported");
#   - default_ulimits = [] (else "setrlimit RLIMIT_NOFILE: Operation not permitted");
#   - busybox-static, from which the tests build a tiny local image (no registry
#     can be reached, so nothing is pulled).
# Idempotent: re-running installs nothing already present and rewrites the
# config only when it differs.
#
#   scripts/setup_podman.sh
set -euo pipefail

log() { printf '[setup_podman] %s\n' "$*"; }

packages=(podman runc busybox-static)

# shellcheck source=scripts/lib/debian_packages.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/debian_packages.sh"
ensure_debian_packages setup_podman "${packages[@]}"

conf=/etc/containers/containers.conf
want='# Written by runbook.ops scripts/setup_podman.sh
[containers]
default_ulimits = []

[engine]
runtime = "runc"
'
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
printf '%s' "$want" > "$tmp"
if [ -f "$conf" ] && cmp -s "$tmp" "$conf"; then
  log "$conf up to date"
else
  mkdir -p "$(dirname "$conf")"
  if [ -f "$conf" ] && ! grep -q 'runbook.ops scripts/setup_podman.sh' "$conf"; then
    cp -p "$conf" "$conf.runbook-ops.bak"
    log "kept the previous $conf as $conf.runbook-ops.bak"
  fi
  install -m 0644 "$tmp" "$conf"
  log "wrote $conf (runtime runc, default_ulimits = [])"
fi

podman --version >/dev/null
log "ready: $(podman --version), runtime $(podman info --format '{{.Host.OCIRuntime.Name}}' 2>/dev/null || echo '?')"
