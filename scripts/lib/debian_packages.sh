# shellcheck shell=bash
# SPDX-License-Identifier: GPL-3.0-or-later
# One way for every setup script to install Debian packages: only the missing
# ones, as root, after an `apt-get update`. Source it, then:
#
#   ensure_debian_packages TAG PACKAGE...
#
# TAG prefixes the log lines. Sets DEBIAN_PACKAGES_INSTALLED to what it
# installed (empty when everything was present). Exits when a package is
# missing and this is not root.

# DEBIAN_PACKAGES_INSTALLED is read by the scripts that source this file
# shellcheck disable=SC2034
ensure_debian_packages() {
  local tag=$1 p
  shift
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  DEBIAN_PACKAGES_INSTALLED=""
  if [ ${#missing[@]} -eq 0 ]; then
    printf '[%s] Debian packages present (%s)\n' "$tag" "$*"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    printf '[%s] missing Debian packages (%s); run as root or install them\n' "$tag" "${missing[*]}" >&2
    exit 1
  fi
  printf '[%s] installing Debian packages: %s\n' "$tag" "${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  DEBIAN_PACKAGES_INSTALLED="${missing[*]}"
}
