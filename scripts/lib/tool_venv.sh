# shellcheck shell=bash
# SPDX-License-Identifier: GPL-3.0-or-later
# One way for every setup script to make a venv of its own from a pinned requirements
# file, outside the tree (so neither the collection build nor the linters see it).
# Source it, then:
#
#   ensure_tool_venv TAG VENV REQUIREMENTS [PYTHON]
#
# Idempotent: a venv whose requirements file and Python did not change is left as it
# is; a venv of another Python is made anew. PYTHON defaults to python3.
ensure_tool_venv() {
  local tag=$1 venv=$2 reqs=$3 py=${4:-python3} stamp want pyver
  stamp="$venv/.requirements.sha256"
  pyver=$("$py" -c 'import sys; print(sys.version)')
  want=$( { cat "$reqs"; echo "$pyver"; } | sha256sum | cut -d' ' -f1)
  if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    printf '[%s] %s up to date (%s)\n' "$tag" "$venv" "$reqs"
    return 0
  fi
  if [ ! -x "$venv/bin/python" ] || [ "$("$venv/bin/python" -c 'import sys; print(sys.version)')" != "$pyver" ]; then
    printf '[%s] creating %s with %s\n' "$tag" "$venv" "$py"
    mkdir -p "$(dirname "$venv")"
    "$py" -m venv --clear "$venv"
  fi
  printf '[%s] installing %s into %s\n' "$tag" "$reqs" "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$reqs"
  echo "$want" > "$stamp"
}
