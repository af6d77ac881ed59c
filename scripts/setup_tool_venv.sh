#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# A venv of its own for a tool whose dependencies must not meet .venv's pins:
#   galaxy-importer  Galaxy's importer (requirements/galaxy-importer.txt), for scripts/build_check.sh
#   antsibull-docs   antsibull-docs + Sphinx (requirements/antsibull-docs.txt), for scripts/build_docs.sh
# The venv is $RUNBOOK_TOOL_VENVS/<name> (default ~/.cache/runbook-ops/<name>), made by the one
# venv helper of the setup scripts (scripts/lib/tool_venv.sh: pinned, idempotent).
#
#   scripts/setup_tool_venv.sh galaxy-importer
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
name=${1:?usage: setup_tool_venv.sh galaxy-importer|antsibull-docs}
reqs="$repo/requirements/$name.txt"
[ -f "$reqs" ] || { echo "setup_tool_venv: no $reqs" >&2; exit 2; }

# shellcheck source=scripts/lib/tool_venv.sh
. "$repo/scripts/lib/tool_venv.sh"
ensure_tool_venv setup-tool-venv "${RUNBOOK_TOOL_VENVS:-$HOME/.cache/runbook-ops}/$name" "$reqs" "${PYTHON:-python3}" >/dev/null
