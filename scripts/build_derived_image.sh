#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Build an image derived from localhost/runbook-host-systemd with a few more Debian packages:
#
#   monitoring-host  localhost/runbook-host-monitoring: Debian's prometheus, prometheus-alertmanager
#                    and prometheus-node-exporter as units (molecule/monitoring's systemd host)
#   ssh-host         localhost/runbook-host-ssh: openssh-server (bench/fleet_ssh_bench.py's hosts,
#                    reached over SSH the way fleets are)
#
# Each has scripts/images/Containerfile.<name> and <name>.packages. Cached like
# scripts/build_images.sh: the tag is a hash of the base image's tag and the definition; an
# existing tag is not rebuilt. Kept out of build_images.sh so that adding one leaves the other
# images' hashes (and caches) as they are. Needs the base image (scripts/build_images.sh first).
#
#   scripts/build_derived_image.sh NAME            build when missing
#   scripts/build_derived_image.sh NAME --force    rebuild
#   scripts/build_derived_image.sh NAME --print    print the image reference and exit
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
defs=$repo/scripts/images
kind=${1:-}
case $kind in
  monitoring-host|ssh-host) shift ;;
  *) echo "usage: $0 monitoring-host|ssh-host [--force|--print]" >&2; exit 2 ;;
esac
name=localhost/runbook-host-${kind%-host}
log() { printf '[build_derived_image %s %s] %s\n' "$kind" "$(date -u +%H:%M:%S)" "$*"; }

force=0
print_only=0
for arg in "$@"; do
  case $arg in
    --force) force=1 ;;
    --print) print_only=1 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

base=$(bash "$repo/scripts/build_images.sh" --print | grep '^localhost/runbook-host-systemd:')
hash=$( { echo "$base"; cat "${BASH_SOURCE[0]}" "$defs/Containerfile.$kind" "$defs/$kind.packages"; } \
  | sha256sum | cut -c1-12)
img=$name:$hash
if [ "$print_only" = 1 ]; then echo "$img"; exit 0; fi

podman image exists "$base" || { log "ERROR: base image $base missing: run scripts/build_images.sh" >&2; exit 1; }
if [ "$force" = 1 ] || ! podman image exists "$img"; then
  t0=$SECONDS
  log "podman build $img (FROM $base)"
  podman build -q --network host --layers=false -f "$defs/Containerfile.$kind" \
    --build-arg "BASE=$base" -t "$img" "$defs" >/dev/null
  log "built in $((SECONDS - t0)) s"
else
  log "cached $img"
fi
podman tag "$img" "$name:latest"
# only the current tag (and :latest) stays
podman images --format '{{.Repository}}:{{.Tag}}' "$name" | while read -r ref; do
  case $ref in
    "$name:latest"|"$img") ;;
    *) if podman rmi "$ref" >/dev/null 2>&1; then log "removed old $ref"; fi ;;
  esac
done
