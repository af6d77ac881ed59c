#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The collection's docs site, as the community collections publish theirs: antsibull-docs (its own
# venv, scripts/setup_tool_venv.sh) lints the docs strictly, then writes a page for every module, role
# and the callback from this repository, and Sphinx builds the HTML with warnings as errors.
#
#   scripts/build_docs.sh              lint + site in build/docs (open build/docs/html/index.html)
#   DOCS_DEST=/tmp/site scripts/build_docs.sh
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${DOCS_DEST:-$repo/build/docs}
bash "$repo/scripts/setup_tool_venv.sh" antsibull-docs
venv="${RUNBOOK_TOOL_VENVS:-$HOME/.cache/runbook-ops}/antsibull-docs"
export PATH="$venv/bin:$PATH"
# the collection as runbook.ops from the in-place collections path (collections/ links back to the
# repository), under an empty configuration (not the repository's: its callback and settings are for runs)
work=$(mktemp -d /tmp/runbook-docs.XXXXXX)
trap 'rm -rf "$work"' EXIT
: > "$work/ansible.cfg"
export ANSIBLE_COLLECTIONS_PATH="$repo/collections" ANSIBLE_CONFIG="$work/ansible.cfg"
cd "$repo"

start=$SECONDS
# references to other collections must resolve and name declared dependencies only
antsibull-docs lint-collection-docs --plugin-docs --validate-collection-refs all --disallow-unknown-collection-refs .
echo "docs lint: clean ($((SECONDS - start)) s)"

start=$SECONDS
rm -rf "$dest"
mkdir -p "$dest"
antsibull-docs sphinx-init --use-current --squash-hierarchy --fail-on-error --dest-dir "$dest" \
  --project runbook.ops --copyright "runbook.ops contributors" --title "runbook.ops collection" \
  --html-short-title runbook.ops runbook.ops >/dev/null
cd "$dest"
mkdir -p rst && chmod og-w rst   # antsibull-docs wants the directory readable by itself only
antsibull-docs --config-file antsibull-docs.cfg collection --cleanup everything --fail-on-error \
  --use-current --squash-hierarchy --dest-dir rst runbook.ops >/dev/null
# docs.ansible.com's labels from a local inventory: the build needs no network (scripts/docs_intersphinx.py)
python "$repo/scripts/docs_intersphinx.py" rst ansible_devel.inv
cat >> conf.py <<PY

# scripts/build_docs.sh: links to docs.ansible.com resolve through a local inventory (no download).
intersphinx_mapping = {
    'ansible_devel': ('https://docs.ansible.com/projects/ansible/devel/', '$dest/ansible_devel.inv'),
}
PY
sphinx-build -q -b html -W --keep-going -c . rst html
echo "docs site: $dest/html/index.html ($(find html -name '*.html' | wc -l) pages, $((SECONDS - start)) s)"
