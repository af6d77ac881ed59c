#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# A venv of its own for a tool whose dependencies must not meet .venv's pins:
#   galaxy-importer  Galaxy's importer (requirements/galaxy-importer.txt), for scripts/build_check.sh
#   antsibull-docs   antsibull-docs + Sphinx (requirements/antsibull-docs.txt), for scripts/build_docs.sh
# The venv is $RUNBOOK_TOOL_VENVS/<name> (default ~/.cache/runbook-ops/<name>): outside the tree, so
# neither the collection build nor the linters see it. Pinned, from PyPI; idempotent: a venv whose
# requirements file did not change is left as it is. Prints nothing but errors when up to date.
#
#   scripts/setup_tool_venv.sh galaxy-importer
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
name=${1:?usage: setup_tool_venv.sh galaxy-importer|antsibull-docs}
reqs="$repo/requirements/$name.txt"
[ -f "$reqs" ] || { echo "setup_tool_venv: no $reqs" >&2; exit 2; }
python_bin=${PYTHON:-python3}
venv="${RUNBOOK_TOOL_VENVS:-$HOME/.cache/runbook-ops}/$name"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$reqs" | cut -d' ' -f1)

log() { printf '[setup-tool-venv] %s\n' "$*"; }

if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
[ -x "$venv/bin/python" ] || { log "creating $venv"; mkdir -p "$(dirname "$venv")"; "$python_bin" -m venv "$venv"; }
log "installing $reqs into $venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r "$reqs"
echo "$want" > "$stamp"
