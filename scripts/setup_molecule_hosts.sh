#!/usr/bin/env bash
# Everything the molecule scenarios need on a fresh machine (Debian bookworm, root):
#   1. podman + runc + /etc/containers/containers.conf   (scripts/setup_podman.sh)
#   2. debootstrap, to build the host images locally      (no registry can be reached)
#   3. the images themselves                               (scripts/build_images.sh, cached)
#      and molecule/monitoring's host image               (scripts/build_derived_image.sh, cached)
#   4. Debian's Prometheus, Alertmanager and node_exporter on this machine: molecule/monitoring's
#      container host runs them from here, mounted read-only (scripts/setup_monitoring.sh)
# The Python side (molecule, molecule-plugins, pytest-testinfra, the `ansible`
# package with containers.podman) comes from the pinned .venv (scripts/setup.sh).
# Idempotent and fast when nothing changed.
#
#   scripts/setup_molecule_hosts.sh              packages + images
#   SKIP_IMAGES=1 scripts/setup_molecule_hosts.sh   packages only
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf '[setup_molecule_hosts] %s\n' "$*"; }

[ "$(id -u)" -eq 0 ] || { log "run as root" >&2; exit 1; }

packages=(debootstrap)
if [ -f "$repo/scripts/setup_podman.sh" ]; then
  bash "$repo/scripts/setup_podman.sh"
else
  # Fallback when setup_podman.sh is absent: the same configuration (DESIGN.md):
  # runc (crun fails here: "cgroups in hybrid mode not supported") and no
  # default ulimits ("setrlimit RLIMIT_NOFILE: Operation not permitted").
  packages+=(podman runc)
  conf=/etc/containers/containers.conf
  if [ ! -f "$conf" ]; then
    mkdir -p /etc/containers
    printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n' > "$conf"
  fi
fi

# shellcheck source=scripts/lib/debian_packages.sh
. "$repo/scripts/lib/debian_packages.sh"
ensure_debian_packages setup_molecule_hosts "${packages[@]}"
bash "$repo/scripts/setup_monitoring.sh"

if [ -z "${SKIP_IMAGES:-}" ]; then
  bash "$repo/scripts/build_images.sh"
  bash "$repo/scripts/build_derived_image.sh" monitoring-host
fi
