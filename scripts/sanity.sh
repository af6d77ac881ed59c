#!/usr/bin/env bash
# ansible-test sanity on a copy of this tree laid out as
# ansible_collections/runbook/ops (what ansible-test requires), in a fresh
# temporary directory so parallel runs do not collide.
#   scripts/sanity.sh                  all tests
#   scripts/sanity.sh --test pep8      extra ansible-test arguments pass through
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d /tmp/runbook-sanity.XXXXXX)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/runbook/ops"
mkdir -p "$dest"
# tracked files plus new, not ignored ones; the in-place collections symlink stays out
(cd "$repo" && git ls-files -co --exclude-standard | grep -v '^collections/') > "$work/files"
rsync -a --files-from="$work/files" "$repo/" "$dest/"
cd "$dest"
git init -q . && git add -A >/dev/null   # ansible-test asks git which files belong
export PATH="$repo/.venv/bin:$PATH"
ansible-test sanity --venv --python 3.11 --color no "$@"
