#!/usr/bin/env bash
# `ansible-galaxy collection build` must give a tarball that holds the collection and nothing
# else, that Galaxy's own importer accepts without a warning, and that installs and works:
# build it from the working tree as it is (untracked files included, as a user's build would),
# check its files against the allow-list (scripts/tarball_allowlist.py), run galaxy-importer on
# it (its own venv, scripts/setup_tool_venv.sh), install it into an empty collections path, and
# call every module's docs and a module itself from outside the repository.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$repo/.venv/bin:$PATH"
work=$(mktemp -d /tmp/runbook-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$repo"
ansible-galaxy collection build --output-path "$work" --force >/dev/null
tarball=$(ls "$work"/runbook-ops-*.tar.gz)
echo "built $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB, $(tar -tzf "$tarball" | wc -l) entries)"
python "$repo/scripts/tarball_allowlist.py" "$tarball" \
  || { echo "the tarball does not match the allow-list: a file that is not part of the collection, or a required file missing (galaxy.yml build_ignore, scripts/tarball_allowlist.py)" >&2; exit 1; }
echo "tarball: every file on the allow-list"

# Galaxy's importer, as Galaxy and Automation Hub run it (ansible-lint and ansible-test: make lint, make sanity).
bash "$repo/scripts/setup_tool_venv.sh" galaxy-importer
importer="${RUNBOOK_TOOL_VENVS:-$HOME/.cache/runbook-ops}/galaxy-importer"
mkdir "$work/importer" && : > "$work/importer/ansible.cfg"
start=$SECONDS
status=0
(cd "$work/importer" && env -u ANSIBLE_COLLECTIONS_PATH PATH="$importer/bin:$PATH" \
  ANSIBLE_CONFIG="$work/importer/ansible.cfg" GALAXY_IMPORTER_CONFIG="$repo/scripts/galaxy-importer.cfg" \
  "$importer/bin/python" -m galaxy_importer.main "$tarball" > "$work/importer/log" 2>&1) || status=$?
if [ "$status" -ne 0 ] || grep -E -v '^(Loading |Importing with |Getting doc strings|Finding content|Collection loading complete|Importer processing completed successfully)' "$work/importer/log"; then
  cat "$work/importer/log" >&2
  echo "galaxy-importer: exit $status, or a warning/error above (anything but its progress lines fails)" >&2
  exit 1
fi
# what Galaxy would show: the docs of every plugin and the README of every role
"$importer/bin/python" - "$work/importer/importer_result.json" <<'PY'
import json, sys
blob = json.load(open(sys.argv[1]))["docs_blob"]["contents"]
bad = [f"{c['content_type']} {c['content_name']}: no docs" for c in blob
       if c["content_type"] in ("module", "callback") and not c.get("doc_strings")]
bad += [f"role {c['content_name']}: no README" for c in blob if c["content_type"] == "role" and not c.get("readme_html")]
sys.exit("\n".join(bad) if bad else 0)
PY
echo "galaxy-importer $("$importer/bin/pip" show galaxy-importer | sed -n 's/^Version: //p'): no warnings ($((SECONDS - start)) s)"

cd "$work"   # away from the repository and its ansible.cfg
# An empty config: the repository's in-place collections path must neither make
# ansible-galaxy think the collection is installed nor help the installed copy.
: > "$work/ansible.cfg"
export ANSIBLE_CONFIG="$work/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$work/installed"
ansible-galaxy collection install --offline --force -p "$work/installed" "$tarball" >/dev/null
test -f "$work/installed/ansible_collections/runbook/ops/MANIFEST.json"
for f in "$repo"/plugins/modules/*.py; do
  m=$(basename "$f" .py)
  # ansible-doc only warns about a module it cannot load: treat any output on stderr as a failure
  err=$(ansible-doc "runbook.ops.$m" 2>&1 >/dev/null) || { echo "$err" >&2; exit 1; }
  if [ -n "$err" ]; then echo "ansible-doc runbook.ops.$m: $err" >&2; exit 1; fi
done
echo "installed collection: ansible-doc works for every module"
# and a module runs from the installed copy (a probe that needs no server)
out=$(ansible localhost -m runbook.ops.health_probe -e ansible_python_interpreter="$repo/.venv/bin/python" \
  -a '{"probes": [{"name": "tmp", "kind": "disk", "path": "/tmp", "warn": 99, "crit": 100}]}' 2>&1) \
  || { echo "$out" >&2; exit 1; }
grep -q '"ok": 1' <<<"$out" || { echo "unexpected health_probe result: $out" >&2; exit 1; }
echo "installed collection: runbook.ops.health_probe runs"
