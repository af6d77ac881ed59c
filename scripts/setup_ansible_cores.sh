#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# One venv per other ansible-core the collection is tested with (meta/runtime.yml
# requires_ansible), for make test-ansible-cores:
#   $RUNBOOK_CORE_VENVS/core220  ansible-core 2.20, Python 3.12 (requirements/ansible-core-2.20.txt)
#   $RUNBOOK_CORE_VENVS/core221  ansible-core 2.21, Python 3.13 (requirements/ansible-core-2.21.txt)
# (.venv has 2.19.) RUNBOOK_CORE_VENVS defaults to ~/.cache/runbook-ops: outside
# the tree, so neither the collection build nor the linters see the venvs.
# ansible-core 2.20 and newer need Python 3.12+ on the controller: the machine
# image has pyenv's 3.12 and 3.13, a Debian 13 machine has python3.13; another
# interpreter can be named with RUNBOOK_CORE_PYTHON=/path/to/python3.12.
# Without one, the script stops with an error that says so.
# Pinned, from PyPI; idempotent: a venv whose requirements file and Python did not
# change is left as it is.
#
#   scripts/setup_ansible_cores.sh            every core
#   scripts/setup_ansible_cores.sh 220 221    only these
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
venvs=${RUNBOOK_CORE_VENVS:-$HOME/.cache/runbook-ops}

log() { printf '[setup-ansible-cores] %s\n' "$*"; }
# shellcheck source=scripts/lib/tool_venv.sh
. "$repo/scripts/lib/tool_venv.sh"

# True when $1 runs, has the venv module and is Python 3.$2 or newer.
python_at_least() {
  "$1" -c "import sys, venv; sys.exit(sys.version_info < (3, $2))" >/dev/null 2>&1
}

# The first Python 3.<min> or newer: RUNBOOK_CORE_PYTHON, then the preferred minor
# versions (pyenv's installs, then the PATH), then python3.
find_python() {
  local min=$1 pyenv_root cand v
  shift
  pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
  local cands=()
  [ -z "${RUNBOOK_CORE_PYTHON:-}" ] || cands+=("$RUNBOOK_CORE_PYTHON")
  for v in "$@"; do
    # pyenv's installs of that version, newest patch release first
    while IFS= read -r cand; do
      if [ -x "$cand" ]; then cands+=("$cand"); fi
    done < <(printf '%s\n' "$pyenv_root"/versions/"$v".*/bin/python"$v" | sort -rV)
    # a pyenv shim is not the interpreter: it fails unless that version is active
    cand=$(command -v "python$v" || true)
    if [ -n "$cand" ]; then cands+=("$cand"); fi
  done
  cands+=(python3)
  for cand in "${cands[@]}"; do
    if python_at_least "$cand" "$min"; then
      echo "$cand"
      return 0
    fi
  done
  return 1
}

install_core_venv() {
  ensure_tool_venv setup-ansible-cores "$venvs/core$1" "$2" "$3"
}

# 2.20 runs on 3.12 and 2.21 on 3.13 where
# both exist (two controller and module Pythons), or on whichever 3.12+ there is.
setup_core() {
  local py
  case $1 in
    220 | 221)
      if [ "$1" = 220 ]; then py=$(find_python 12 3.12 3.13 3.14); else py=$(find_python 12 3.13 3.14 3.12); fi || {
        log "ERROR: ansible-core 2.${1#2} needs Python 3.12 or newer on the controller, and none was found"
        log "  (looked at RUNBOOK_CORE_PYTHON, ${PYENV_ROOT:-$HOME/.pyenv}/versions/3.1[234].*, python3.12-3.14 and python3 on PATH)."
        log "  Install one (pyenv install 3.13; on Debian 13: apt-get install python3-venv) or set RUNBOOK_CORE_PYTHON."
        return 1
      }
      install_core_venv "$1" "requirements/ansible-core-2.${1#2}.txt" "$py"
      ;;
    *) log "ERROR: unknown ansible-core '$1' (220 or 221)"; return 1 ;;
  esac
}

cores=("$@")
[ ${#cores[@]} -gt 0 ] || cores=(220 221)
for c in "${cores[@]}"; do
  setup_core "$c"
done
