# SPDX-License-Identifier: GPL-3.0-or-later
"""daily.yml across a fleet of 10 lightweight container hosts: default vs tuned Ansible settings.

The hosts are podman containers of the locally built host image (scripts/build_images.sh), without
systemd (a plain ``sleep`` as PID 1: lightweight), reached through the containers.podman.podman
connection like the molecule scenarios. Each host is in the ``app`` group: daily.yml probes its disk,
summarises the errors of its logs and writes its JSON report.

Settings compared (environment variables of ansible-playbook):

* default: what Ansible does out of the box: ``forks = 5``, interpreter discovery on every host.
* tuned:   what runbook.ops recommends for fleets: ``forks`` at least the number of hosts run in
  parallel (here 10), ``interpreter_python`` set explicitly (no discovery round trip per host),
  ``gathering = explicit`` with a jsonfile fact cache (the schedule playbooks gather no facts or
  only subsets; a cache keeps later plays from gathering again). With SSH hosts also
  ``pipelining = True`` (already in the project's ansible.cfg); the podman connection cannot pipeline,
  so it makes no difference here.

Prints the wall time of each run and the cost per host (wall time / hosts) and per host and task.
Needs podman and the image (scripts/setup_molecule_hosts.sh); says so and exits 0 when they are
missing. The containers are removed at the end, also on failure or Ctrl-C.

    .venv/bin/python bench/daily_fleet_bench.py [--hosts 10] [--image localhost/runbook-host-systemd:latest]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
DEFAULT_IMAGE = "localhost/runbook-host-systemd:latest"

SETTINGS = {
    "default": {"ANSIBLE_FORKS": "5", "ANSIBLE_PYTHON_INTERPRETER": "auto_silent", "ANSIBLE_GATHERING": "implicit"},
    "tuned": {"ANSIBLE_FORKS": "10", "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3", "ANSIBLE_GATHERING": "explicit",
              "ANSIBLE_CACHE_PLUGIN": "ansible.builtin.jsonfile", "ANSIBLE_CACHE_PLUGIN_TIMEOUT": "3600",
              "ANSIBLE_PIPELINING": "True"},
}


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(["podman", *args], capture_output=True, text=True, check=False)
    if check and res.returncode != 0:
        raise SystemExit(f"podman {' '.join(args)}: {res.stderr.strip()}")
    return res


def inventory(hosts: list[str], report_dir: str) -> str:
    host_lines = "\n".join(f"        {h}:" for h in hosts)
    return f"""all:
  vars:
    ansible_connection: containers.podman.podman
    runbook_runtime: systemd
    runbook_services: []
    runbook_report_dir: {report_dir}
    health_disk_paths: [/]
    logs_summary_paths: [/var/log/dpkg.log, /var/log/apt/history.log]
    logs_summary_max_age: 3650d
    logs_service_logs_enabled: false
  children:
    app:
      hosts:
{host_lines}
"""


def run_daily(inv: str, name: str, workdir: str) -> tuple[float, int, str]:
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    env.update(SETTINGS[name])
    if "ANSIBLE_CACHE_PLUGIN" in env:
        env["ANSIBLE_CACHE_PLUGIN_CONNECTION"] = os.path.join(workdir, f"facts-{name}")
    started = time.monotonic()
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", inv, os.path.join(ROOT, "playbooks", "daily.yml")],
                          env=env, capture_output=True, text=True, check=False, cwd=ROOT)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"daily.yml failed with the {name} settings (rc={proc.returncode})")
    out = json.loads(proc.stdout[proc.stdout.index("{"):])
    tasks = sum(len(p["tasks"]) for p in out["plays"])
    return wall, tasks, json.dumps(out["stats"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--image", default=DEFAULT_IMAGE)
    args = ap.parse_args()

    if shutil.which("podman") is None:
        print("skipped: podman is not installed (scripts/setup_molecule_hosts.sh)")
        return 0
    if podman("image", "exists", args.image, check=False).returncode != 0:
        print(f"skipped: image {args.image} not built (scripts/setup_molecule_hosts.sh)")
        return 0

    tag = uuid.uuid4().hex[:6]
    hosts = [f"runbook-bench-{tag}-h{i:02d}" for i in range(1, args.hosts + 1)]
    started: list[str] = []
    with tempfile.TemporaryDirectory(prefix="runbook-fleet-bench-") as workdir:
        try:
            for h in hosts:
                podman("run", "-d", "--name", h, "--network", "none", args.image, "sleep", "infinity")
                started.append(h)
            inv = os.path.join(workdir, "inventory.yml")
            with open(inv, "w", encoding="utf-8") as fh:
                fh.write(inventory(hosts, os.path.join(workdir, "reports")))
            print(f"daily.yml on {len(hosts)} container hosts ({args.image}, podman connection)")
            results = {}
            for name in ("default", "tuned"):
                wall, tasks, _stats = run_daily(inv, name, workdir)
                results[name] = wall
                settings = " ".join(f"{k.removeprefix('ANSIBLE_').lower()}={v}" for k, v in SETTINGS[name].items())
                print(f"  {name:8s} wall {wall:6.1f} s   per host {wall / len(hosts):5.2f} s   "
                      f"per host and task {wall / len(hosts) / max(tasks, 1) * 1000:6.1f} ms   ({tasks} tasks; {settings})")
            print(f"  tuned / default: {results['tuned'] / results['default']:.2f}")
        finally:
            for h in started:
                podman("rm", "-f", "-t", "0", h, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
