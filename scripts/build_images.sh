#!/usr/bin/env bash
# Build the molecule host images locally (no container registry can be reached):
#
#   localhost/runbook-host-systemd  Debian bookworm rootfs (debootstrap minbase) with
#                                   systemd as PID 1 and postgresql, redis-server,
#                                   nginx, cron, logrotate ... as units
#   localhost/runbook-host-podman   runbook-host-systemd + nested podman (crun, vfs
#                                   storage) + podman-compose
#   localhost/runbook-service       small rootfs the service containers run from
#                                   inside a container host (postgres, redis)
#   localhost/myapp:{v1,v2,v3-broken}  the sample app (tests/sampleapp), FROM runbook-service
#
# plus $RUNBOOK_IMAGE_CACHE/service-images.tar (runbook-service + myapp images, a
# docker-archive that a container host loads into its nested podman).
#
# Cached: every image is tagged with a hash of its build definition (this script,
# the package lists under scripts/images/, the app files); an image whose tag
# exists is not rebuilt. Each image is also tagged :latest.
#
#   scripts/build_images.sh            build what is missing
#   scripts/build_images.sh --force    rebuild everything
#   scripts/build_images.sh --print    print the image references and exit
#
# Environment: DEBIAN_MIRROR (default: the bookworm mirror from the machine's apt
# sources), RUNBOOK_IMAGE_CACHE (default /var/cache/runbook-images: downloaded .debs,
# the service archive), RUNBOOK_BUILD_TMP (where rootfs trees are assembled; default
# /dev/shm when it has 4 GiB free, else the cache directory). Needs root, podman and debootstrap
# (scripts/setup_molecule_hosts.sh installs them).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
defs=$repo/scripts/images
app=$repo/tests/sampleapp
cache=${RUNBOOK_IMAGE_CACHE:-/var/cache/runbook-images}
suite=bookworm
releases=(v1 v2 v3-broken)
podman_compose_version=1.5.0   # PyPI; Debian's 1.0.3 ignores network_mode: host

force=0
print_only=0
for arg in "$@"; do
  case $arg in
    --force) force=1 ;;
    --print) print_only=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

log() { printf '[build_images %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { log "ERROR: $*" >&2; exit 1; }

# --- hashes of the build definitions -------------------------------------------------
# A hash over file names and contents (12 hex digits), plus any extra strings given.
hash_of() {
  local extra=() files=() a
  for a in "$@"; do
    if [ -d "$a" ]; then
      while IFS= read -r f; do files+=("$f"); done < <(find "$a" -type f ! -name '*.pyc' ! -path '*/__pycache__/*' | LC_ALL=C sort)
    elif [ -f "$a" ]; then
      files+=("$a")
    else
      extra+=("$a")
    fi
  done
  {
    printf '%s\n' "${extra[@]+"${extra[@]}"}"
    for f in "${files[@]}"; do
      printf '== %s\n' "${f#"$repo"/}"
      cat "$f"
    done
  } | sha256sum | cut -c1-12
}

self=$repo/scripts/build_images.sh
h_systemd=$(hash_of "$self" "$defs/host-systemd.packages")
h_podman=$(hash_of "$h_systemd" "podman-compose==$podman_compose_version" "$defs/Containerfile.podman-host" "$defs/podman-host.packages" "$defs/podman-host")
h_service=$(hash_of "$self" "$defs/service.packages")
h_app=$(hash_of "$h_service" "$defs/Containerfile.app" "$app/myapp.py" "$app/releases")

img_systemd=localhost/runbook-host-systemd:$h_systemd
img_podman=localhost/runbook-host-podman:$h_podman
img_service=localhost/runbook-service:$h_service
archive=$cache/service-images-$h_app.tar

if [ "$print_only" = 1 ]; then
  printf '%s\n' "$img_systemd" "$img_podman" "$img_service"
  for r in "${releases[@]}"; do printf 'localhost/myapp:%s-%s\n' "$r" "$h_app"; done
  printf '%s\n' "$archive"
  exit 0
fi

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap and podman import need it)"
command -v podman >/dev/null || die "podman missing: run scripts/setup_molecule_hosts.sh"
command -v debootstrap >/dev/null || die "debootstrap missing: run scripts/setup_molecule_hosts.sh"
mkdir -p "$cache/debs"
if [ -z "${RUNBOOK_BUILD_TMP:-}" ]; then
  RUNBOOK_BUILD_TMP=$cache
  if [ -d /dev/shm ] && [ "$(df -Pk /dev/shm | awk 'NR==2 {print $4}')" -gt 4194304 ]; then
    RUNBOOK_BUILD_TMP=/dev/shm
  fi
fi

# --- the Debian mirror: DEBIAN_MIRROR or the machine's own apt sources -----------------
find_mirror() {
  python3 - "$suite" <<'PY'
import glob, os, sys
suite = sys.argv[1]
found = []
if os.path.exists("/etc/apt/sources.list"):
    for line in open("/etc/apt/sources.list"):
        parts = [p for p in line.split("#")[0].split() if not p.startswith("[")]
        if len(parts) >= 3 and parts[0] == "deb" and parts[2] == suite:
            found.append(parts[1])
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for para in open(path).read().split("\n\n"):
        fields = {}
        for line in para.splitlines():
            if ":" in line and not line.startswith(("#", " ")):
                k, v = line.split(":", 1)
                fields[k.strip().lower()] = v.split()
        if "deb" in fields.get("types", []) and suite in fields.get("suites", []):
            found.extend(fields.get("uris", []))
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
    for line in open(path):
        parts = [p for p in line.split("#")[0].split() if not p.startswith("[")]
        if len(parts) >= 3 and parts[0] == "deb" and parts[2] == suite:
            found.append(parts[1])
if found:
    print(found[0].rstrip("/"))
PY
}
mirror=${DEBIAN_MIRROR:-$(find_mirror)}
[ -n "$mirror" ] || die "no Debian $suite mirror in /etc/apt/sources.list{,.d/}; set DEBIAN_MIRROR"

# --- helpers -----------------------------------------------------------------------
work=""
cleanup_work() {
  [ -n "$work" ] && [ -d "$work" ] || return 0
  # debootstrap may leave /proc, /sys or a bind-mounted /dev inside the rootfs
  { findmnt -rn -o TARGET | grep -F "$work/" || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$work"
  work=""
}
trap cleanup_work EXIT

image_exists() { podman image exists "$1"; }

# Keep only the current hash tag (and :latest) of a repository.
prune_old_tags() {
  local repo_name=$1 keep=$2 ref
  podman images --format '{{.Repository}}:{{.Tag}}' "$repo_name" 2>/dev/null | while read -r ref; do
    case $ref in
      "$repo_name:latest"|"$repo_name:$keep"|*"-$keep") ;;
      localhost/myapp:*) [[ " ${releases[*]} " == *" ${ref#localhost/myapp:} "* ]] || podman rmi "$ref" >/dev/null 2>&1 || true ;;
      *) if podman rmi "$ref" >/dev/null 2>&1; then log "removed old $ref"; fi ;;
    esac
  done
}

# debootstrap ROOTFS with the packages listed in FILE (services are not started:
# second stage runs with a policy-rc.d that refuses every start).
debootstrap_rootfs() {
  local rootfs=$1 list=$2 pkgs
  pkgs=$(grep -v '^[[:space:]]*#' "$list" | grep -v '^[[:space:]]*$' | paste -sd, -)
  log "debootstrap --variant=minbase $suite from $mirror (+ ${pkgs//,/ })"
  debootstrap --foreign --variant=minbase --include="$pkgs" --cache-dir="$cache/debs" \
    "$suite" "$rootfs" "$mirror" > "$work/debootstrap.log" 2>&1 \
    || { tail -30 "$work/debootstrap.log" >&2; die "debootstrap (first stage) failed"; }
  mkdir -p "$rootfs/usr/sbin" "$rootfs/etc/dpkg/dpkg.cfg.d"
  printf '#!/bin/sh\nexit 101\n' > "$rootfs/usr/sbin/policy-rc.d"
  chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
  # a throwaway rootfs: no fsync per unpacked file
  echo force-unsafe-io > "$rootfs/etc/dpkg/dpkg.cfg.d/runbook-build-unsafe-io"
  chroot "$rootfs" /debootstrap/debootstrap --second-stage >> "$work/debootstrap.log" 2>&1 \
    || { tail -30 "$work/debootstrap.log" >&2; tail -30 "$rootfs/debootstrap/debootstrap.log" >&2 2>/dev/null; die "debootstrap (second stage) failed"; }
  rm -f "$rootfs/usr/sbin/policy-rc.d" "$rootfs/etc/dpkg/dpkg.cfg.d/runbook-build-unsafe-io"
  printf 'deb %s %s main\ndeb %s %s-updates main\n' "$mirror" "$suite" "$mirror" "$suite" > "$rootfs/etc/apt/sources.list"
  # no .debs, indexes, logs, machine identity or host resolver in the image
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log \
         "$rootfs"/debootstrap "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
  # test images: no translations (keeps locale.alias), no docs on later installs either
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
  printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*/LC_MESSAGES/*\n' \
    > "$rootfs/etc/dpkg/dpkg.cfg.d/runbook-nodoc"
  : > "$rootfs/etc/machine-id"
  rm -f "$rootfs/var/lib/dbus/machine-id" "$rootfs/etc/resolv.conf" "$rootfs/etc/hostname"
}

# systemd in a container: boot to multi-user, no gettys, no udev, no hardware units.
tune_for_container() {
  local rootfs=$1 u
  ln -sf /lib/systemd/system/multi-user.target "$rootfs/etc/systemd/system/default.target"
  for u in getty@tty1.service console-getty.service serial-getty@.service systemd-udevd.service \
           systemd-udevd-control.socket systemd-udevd-kernel.socket systemd-udev-trigger.service \
           systemd-modules-load.service sys-kernel-config.mount sys-kernel-debug.mount \
           sys-fs-fuse-connections.mount systemd-remount-fs.service getty.target \
           apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
    ln -sf /dev/null "$rootfs/etc/systemd/system/$u"
  done
  # journald: keep the journal in memory, small
  mkdir -p "$rootfs/etc/systemd/journald.conf.d"
  printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=32M\n' > "$rootfs/etc/systemd/journald.conf.d/runbook.conf"
}

import_rootfs() {
  local rootfs=$1 ref=$2 name=$3; shift 3
  log "importing $ref ($(du -sh --one-file-system "$rootfs" | cut -f1) rootfs)"
  tar --one-file-system -C "$rootfs" -c . \
    | podman import -q "$@" --change "LABEL=org.runbook.ops.image=$name" - "$ref" >/dev/null
}

tag_latest() { podman tag "$1" "${1%:*}:latest"; }

timings=()
stage() { timings+=("$1: $2 s"); }

# --- runbook-host-systemd ------------------------------------------------------------
build_systemd() {
  local t0=$SECONDS
  work=$(mktemp -d "$RUNBOOK_BUILD_TMP/runbook-rootfs.XXXXXX")
  debootstrap_rootfs "$work/rootfs" "$defs/host-systemd.packages"
  tune_for_container "$work/rootfs"
  import_rootfs "$work/rootfs" "$img_systemd" runbook-host-systemd \
    --change 'CMD=["/sbin/init"]' --change 'STOPSIGNAL=SIGRTMIN+3'
  cleanup_work
  stage "runbook-host-systemd (debootstrap + import)" $((SECONDS - t0))
}

# --- runbook-host-podman (podman build FROM runbook-host-systemd) ----------------------
build_podman_host() {
  local t0=$SECONDS
  local pip=${PIP:-$repo/.venv/bin/pip}
  [ -x "$pip" ] || pip=pip3
  mkdir -p "$cache/wheels"
  log "pip download podman-compose==$podman_compose_version"
  "$pip" download -q --no-deps -d "$cache/wheels" "podman-compose==$podman_compose_version"
  log "podman build $img_podman"
  podman build -q --network host --layers=false -f "$defs/Containerfile.podman-host" \
    --build-arg "BASE=$img_systemd" --build-arg "PODMAN_COMPOSE_VERSION=$podman_compose_version" \
    -v "$cache/wheels:/wheels:ro" -t "$img_podman" "$defs" >/dev/null
  stage "runbook-host-podman (podman build)" $((SECONDS - t0))
}

# --- runbook-service + myapp images + the archive --------------------------------------
build_service() {
  local t0=$SECONDS
  work=$(mktemp -d "$RUNBOOK_BUILD_TMP/runbook-rootfs.XXXXXX")
  debootstrap_rootfs "$work/rootfs" "$defs/service.packages"
  import_rootfs "$work/rootfs" "$img_service" runbook-service --change 'CMD=["/bin/bash"]'
  cleanup_work
  stage "runbook-service (debootstrap + import)" $((SECONDS - t0))
}

build_app() {
  local t0=$SECONDS r
  for r in "${releases[@]}"; do
    log "podman build localhost/myapp:$r-$h_app"
    podman build -q --network host --layers=false -f "$defs/Containerfile.app" \
      --build-arg "BASE=$img_service" --build-arg "RELEASE=$r" \
      -t "localhost/myapp:$r-$h_app" "$app" >/dev/null
  done
  stage "myapp images (podman build x${#releases[@]})" $((SECONDS - t0))
}

save_archive() {
  local t0=$SECONDS refs=(localhost/runbook-service:latest) r
  for r in "${releases[@]}"; do refs+=("localhost/myapp:$r"); done
  log "podman save ${refs[*]} -> $archive"
  rm -f "$archive.tmp"
  podman save -q -m --format docker-archive -o "$archive.tmp" "${refs[@]}"
  mv "$archive.tmp" "$archive"
  find "$cache" -maxdepth 1 -name 'service-images-*.tar' ! -name "${archive##*/}" -delete
  ln -sfn "${archive##*/}" "$cache/service-images.tar"
  stage "service image archive (podman save)" $((SECONDS - t0))
}

total0=$SECONDS
if [ "$force" = 1 ] || ! image_exists "$img_systemd"; then build_systemd; else log "cached $img_systemd"; fi
tag_latest "$img_systemd"
if [ "$force" = 1 ] || ! image_exists "$img_podman"; then build_podman_host; else log "cached $img_podman"; fi
tag_latest "$img_podman"
if [ "$force" = 1 ] || ! image_exists "$img_service"; then build_service; else log "cached $img_service"; fi
tag_latest "$img_service"
app_missing=0
for r in "${releases[@]}"; do image_exists "localhost/myapp:$r-$h_app" || app_missing=1; done
if [ "$force" = 1 ] || [ "$app_missing" = 1 ]; then build_app; else log "cached localhost/myapp:{${releases[*]}}-$h_app"; fi
for r in "${releases[@]}"; do podman tag "localhost/myapp:$r-$h_app" "localhost/myapp:$r"; done
if [ "$force" = 1 ] || [ ! -s "$archive" ]; then save_archive; else log "cached $archive"; fi
ln -sfn "${archive##*/}" "$cache/service-images.tar"

prune_old_tags localhost/runbook-host-systemd "$h_systemd"
prune_old_tags localhost/runbook-host-podman "$h_podman"
prune_old_tags localhost/runbook-service "$h_service"
prune_old_tags localhost/myapp "$h_app"

for t in "${timings[@]+"${timings[@]}"}"; do log "time $t"; done
log "total $((SECONDS - total0)) s"
podman images --filter label=org.runbook.ops.image --format '{{.Repository}}:{{.Tag}}  {{.Size}}' \
  | grep -v ':latest\|:v[0-9]' | sed 's/^/  /' || true
log "archive $(du -h "$archive" | cut -f1) $archive"
