#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# One venv per older ansible-core the collection claims to support
# (meta/runtime.yml requires_ansible), for make test-ansible-cores:
#   $RUNBOOK_CORE_VENVS/core216  ansible-core 2.16 (requirements/ansible-core-2.16.txt)
#   $RUNBOOK_CORE_VENVS/core218  ansible-core 2.18 (requirements/ansible-core-2.18.txt)
# (.venv has 2.19.) RUNBOOK_CORE_VENVS defaults to ~/.cache/runbook-ops: outside
# the tree, so neither the collection build nor the linters see the venvs.
# Pinned, from PyPI; idempotent: a venv whose requirements file did not change
# is left as it is.
#
#   scripts/setup_ansible_cores.sh
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
python_bin=${PYTHON:-python3}
venvs=${RUNBOOK_CORE_VENVS:-$HOME/.cache/runbook-ops}

log() { printf '[setup-ansible-cores] %s\n' "$*"; }

install_core_venv() {
  local reqs=$2 venv="$venvs/core$1" stamp want
  stamp="$venv/.requirements.sha256"
  want=$(sha256sum "$reqs" | cut -d' ' -f1)
  if [ -x "$venv/bin/ansible-playbook" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    log "$venv up to date ($reqs)"
    return 0
  fi
  [ -x "$venv/bin/python" ] || { log "creating $venv"; mkdir -p "$venvs"; "$python_bin" -m venv "$venv"; }
  log "installing $reqs into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$reqs"
  echo "$want" > "$stamp"
  log "$venv: $("$venv/bin/ansible" --version | sed -n 1p)"
}

install_core_venv 216 requirements/ansible-core-2.16.txt
install_core_venv 218 requirements/ansible-core-2.18.txt
