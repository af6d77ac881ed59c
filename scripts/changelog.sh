#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The changelog checks of make lint, with antsibull-changelog from its own venv
# ($RUNBOOK_CORE_VENVS/antsibull-changelog, pinned in requirements/antsibull-changelog.txt):
#   - every fragment in changelogs/fragments/ is valid (`antsibull-changelog lint`),
#   - changelogs/changelog.yaml is valid (`lint-changelog-yaml`),
#   - CHANGELOG.md is what `antsibull-changelog generate` writes from changelog.yaml
#     (it is generated, never edited by hand).
#
#   scripts/changelog.sh            the checks
#   scripts/changelog.sh release    fold the fragments into the current release and write
#                                   CHANGELOG.md (README, "Changelog"); extra arguments pass
#                                   through to `antsibull-changelog release`
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
venv=${RUNBOOK_CORE_VENVS:-$HOME/.cache/runbook-ops}/antsibull-changelog
# shellcheck source=scripts/lib/tool_venv.sh
. "$repo/scripts/lib/tool_venv.sh"
ensure_tool_venv changelog "$venv" requirements/antsibull-changelog.txt "${PYTHON:-python3}" >/dev/null
changelog="$venv/bin/antsibull-changelog"

if [ "${1:-}" = release ]; then
  shift
  # the plugin list comes from ansible-doc: .venv's, which resolves runbook.ops in place
  PATH="$repo/.venv/bin:$PATH" "$changelog" release "$@"
  exit
fi

"$changelog" lint
"$changelog" lint-changelog-yaml changelogs/changelog.yaml
work=$(mktemp -d /tmp/runbook-changelog.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/changelogs/fragments"
cp galaxy.yml "$work/"
cp changelogs/config.yaml changelogs/changelog.yaml "$work/changelogs/"
(cd "$work" && "$changelog" generate >/dev/null)
if ! diff -u CHANGELOG.md "$work/CHANGELOG.md"; then
  echo "CHANGELOG.md is not what antsibull-changelog generates from changelogs/changelog.yaml:" \
    "it is generated, never edited by hand (README, \"Changelog\")" >&2
  exit 1
fi
echo "changelog: fragments, changelogs/changelog.yaml and CHANGELOG.md OK"
