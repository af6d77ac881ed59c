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
ansible-galaxy collection install --offline -p "$work/installed" "$tarball" >/dev/null
cd "$work"   # away from the repository and its ansible.cfg
export ANSIBLE_CONFIG=/dev/null ANSIBLE_COLLECTIONS_PATH="$work/installed"
for m in $(ls "$repo"/plugins/modules/*.py 2>/dev/null | xargs -n1 basename | sed 's/\.py$//'); do
  ansible-doc "runbook.ops.$m" >/dev/null
done
echo "installed collection: ansible-doc works for every module"
