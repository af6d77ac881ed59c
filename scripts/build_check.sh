#!/usr/bin/env bash
# `ansible-galaxy collection build` must give a tarball that installs and works:
# build it, install it into an empty collections path, and call a module's docs
# and the module itself from outside the repository.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$repo/.venv/bin:$PATH"
work=$(mktemp -d /tmp/runbook-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$repo"
ansible-galaxy collection build --output-path "$work" --force >/dev/null
tarball=$(ls "$work"/runbook-ops-*.tar.gz)
echo "built $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB)"
if tar -tzf "$tarball" | grep -E '^(tests/integration|tests/harness|bench|\.venv|collections)/' ; then
  echo "build_ignore failed: test or local files are in the tarball" >&2
  exit 1
fi
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
