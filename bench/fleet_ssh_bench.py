# SPDX-License-Identifier: GPL-3.0-or-later
"""The controller's cost per host: daily.yml and backup.yml over SSH on 10, 30 and 100 hosts.

    .venv/bin/python bench/fleet_ssh_bench.py [--hosts 10 30 100] [--forks 20] [--compare]

The hosts are containers of localhost/runbook-host-ssh (the molecule host image plus openssh-server,
built by scripts/build_derived_image.sh ssh-host when missing), reached over SSH the way fleets are:
each runs ``sshd`` as PID 1 on its own loopback port (host network, no NAT in the way) and a
``redis-server`` on another, with a few thousand keys. Every host is in the ``app`` and ``redis``
groups: daily.yml probes its disk and Redis, summarises its logs and writes its report; backup.yml
takes a verified Redis backup with retention. PostgreSQL is left out on purpose: a hundred pg_dumps
on this one machine would measure the hosts, not the controller (bench/pg_backup_bench.py measures
pg_backup against pg_dump).

For each fleet size it measures, in the same run:

- one ``ansible -m ping`` round over the same hosts (the floor: one connection and one module per host);
- daily.yml and backup.yml: the wall time, the wall time per host, the ratio to the ping round
  (goal: <= 8x), and the CPU seconds the controller spent per host (ansible-playbook, its workers
  and its ssh clients, the ControlPersist masters included) and the hosts spent (their containers'
  cgroups). Goal: <= 0.7 s per host at 100 hosts.

Each measurement starts cold: its own ControlPath directory, the masters ended after it. The
settings are those of inventory/example/group_vars/all.yml (README "Benchmarks"): forks 20, pipelining, ControlPersist,
an explicit interpreter. ``--compare`` also runs daily.yml at the largest size with Ansible's
defaults and with the free strategy, to show what each setting is worth. The callback
runbook.ops.run_report is enabled (ansible.cfg), as for a real schedule. The containers are removed
at the end, also on failure or Ctrl-C.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import ctypes
import json
import re
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
IMAGE = "localhost/runbook-host-ssh:latest"
GOAL_PER_HOST_S = 0.7
GOAL_PING_RATIO = 8.0
REDIS_KEYS = 2000

# What inventory/example/group_vars/all.yml recommends for fleets (README "Benchmarks").
RECOMMENDED = {
    "ANSIBLE_FORKS": "20",
    "ANSIBLE_PIPELINING": "True",
    "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=300s -o ServerAliveInterval=15",
    "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3",
}
# Ansible's own defaults (ssh_args -C -o ControlMaster=auto -o ControlPersist=60s, no pipelining,
# interpreter discovery), with the same forks so that only the settings differ.
DEFAULTS = {
    "ANSIBLE_FORKS": "20",
    "ANSIBLE_PIPELINING": "False",
    "ANSIBLE_SSH_ARGS": "-C -o ControlMaster=auto -o ControlPersist=60s",
    "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
}


_TAKEN: set[int] = set()


def free_port() -> int:
    """A loopback port free now and not handed out before (the kernel may offer a closed one again)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _TAKEN:
            _TAKEN.add(port)
            return port


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)


def become_subreaper() -> None:
    """ssh's ControlPersist masters leave their parent; as subreaper this process reaps them, so
    their CPU time is counted in RUSAGE_CHILDREN with the rest of the controller's."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def reap_children() -> None:
    while True:
        try:
            pid = os.waitpid(-1, os.WNOHANG)[0]
        except ChildProcessError:
            return
        if pid == 0:
            return


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


class Host:
    def __init__(self, name: str):
        self.name = name
        self.ssh_port = free_port()
        self.redis_port = free_port()
        self.cid = ""
        self.cgroup = ""

    def cpu_seconds(self) -> float:
        try:
            with open(self.cgroup, encoding="ascii") as fh:
                return int(fh.read()) / 1e9
        except OSError:
            return 0.0


class Fleet:
    """N containers with sshd and redis-server on loopback ports; removed on exit."""

    def __init__(self, count: int, workdir: str):
        self.workdir = workdir
        tag = uuid.uuid4().hex[:6]
        self.label = f"runbook.ops.bench=fleet-{tag}"
        self.hosts = [Host(f"fleet-{tag}-{i:03d}") for i in range(1, count + 1)]
        self.key = os.path.join(workdir, "id_ed25519")

    def __enter__(self) -> "Fleet":
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.key])
        os.chmod(self.key + ".pub", 0o644)
        try:
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                list(pool.map(self._start, self.hosts))
            deadline = time.monotonic() + 120
            for h in self.hosts:
                self._wait_ready(h, deadline)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self, h: Host) -> None:
        script = (f"redis-server --port {h.redis_port} --bind 127.0.0.1 --save '' --dir /var/lib/redis --daemonize yes"
                  f" && exec /usr/sbin/sshd -D -e -p {h.ssh_port} -o ListenAddress=127.0.0.1")
        res = run(["podman", "run", "-d", "--name", h.name, "--label", self.label, "--network", "host", "--hostname", h.name,
                   "-v", f"{self.key}.pub:/root/.ssh/authorized_keys:ro", IMAGE, "sh", "-c", script])
        if res.returncode != 0:
            raise SystemExit(f"podman run {h.name}: {res.stderr.strip()}")
        h.cid = res.stdout.strip()
        pid = run(["podman", "inspect", "-f", "{{.State.Pid}}", h.cid]).stdout.strip()
        if pid in ("", "0"):
            logs = run(["podman", "logs", h.cid])
            raise SystemExit(f"{h.name} stopped at once: {(logs.stdout + logs.stderr).strip()[-500:]}")
        with open(f"/proc/{pid}/cgroup", encoding="ascii") as fh:
            path = next(line.split(":", 2)[2].strip() for line in fh if ":cpuacct:" in line or ":cpu,cpuacct:" in line)
        h.cgroup = f"/sys/fs/cgroup/cpuacct{path}/cpuacct.usage"

    def _wait_ready(self, h: Host, deadline: float) -> None:
        """sshd answers with its banner and redis with PONG; then the keys are loaded."""
        while True:
            try:
                with socket.create_connection(("127.0.0.1", h.ssh_port), timeout=2) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{h.name}: sshd on port {h.ssh_port} not ready in time")
            time.sleep(0.1)
        # the sample keys, through redis-cli inside the container (mass insertion)
        lines = "".join(f"SET bench:{i} value-{i}\n" for i in range(REDIS_KEYS))
        res = run(["podman", "exec", "-i", h.cid, "redis-cli", "-p", str(h.redis_port), "--pipe"], input=lines)
        if res.returncode != 0:
            raise SystemExit(f"{h.name}: loading Redis keys: {res.stderr.strip() or res.stdout.strip()}")

    def __exit__(self, *exc) -> None:
        # by label: also the containers a failed start left without an id here
        ids = run(["podman", "ps", "-aq", "--filter", f"label={self.label}"]).stdout.split()
        for i in range(0, len(ids), 25):
            run(["podman", "rm", "-f", "-t", "0", *ids[i:i + 25]])

    def inventory(self, count: int, path: str) -> str:
        hosts = {h.name: {"ansible_port": h.ssh_port, "runbook_redis_login": {"login_host": "127.0.0.1", "login_port": h.redis_port}}
                 for h in self.hosts[:count]}
        inv = {
            "all": {
                "vars": {
                    "ansible_host": "127.0.0.1",
                    "ansible_user": "root",
                    "ansible_ssh_private_key_file": self.key,
                    "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
                    "runbook_runtime": "systemd",
                    "runbook_services": [],
                    "runbook_report_dir": os.path.join(self.workdir, "reports"),
                    "runbook_backup_dir": "/var/backups",
                    "health_disk_paths": ["/"],
                    "logs_summary_paths": ["/var/log/dpkg.log", "/var/log/apt/history.log"],
                    "logs_summary_max_age": "3650d",
                    "logs_service_logs_enabled": False,
                },
                "children": {"app": {"hosts": hosts}, "redis": {"hosts": {h: None for h in hosts}}},
            }
        }
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(inv, fh)
        return path

    def host_cpu(self, count: int) -> float:
        return sum(h.cpu_seconds() for h in self.hosts[:count])


def measure(fleet: Fleet, count: int, cmd: list[str], settings: dict, label: str) -> dict:
    """Runs one command cold (its own ControlPath dir); wall, controller CPU and host CPU."""
    cp_dir = tempfile.mkdtemp(prefix="cp-", dir=fleet.workdir)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_SSH_CONTROL_PATH_DIR=cp_dir,
               ANSIBLE_HOST_KEY_CHECKING="False", PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""),
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal" if "ansible-playbook" not in cmd[0] else "ansible.builtin.default",
               ANSIBLE_DISPLAY_OK_HOSTS="False", ANSIBLE_DISPLAY_SKIPPED_HOSTS="False")
    env.update(settings)
    reap_children()
    cpu0, host0 = children_cpu(), fleet.host_cpu(count)
    started = time.monotonic()
    proc = run(cmd, env=env, cwd=ROOT)
    wall = time.monotonic() - started
    # end the masters (they hold no work once the run is over) and count their CPU time too
    for sock in os.listdir(cp_dir):
        run(["ssh", "-o", f"ControlPath={os.path.join(cp_dir, sock)}", "-O", "exit", "x"])
    end = time.monotonic() + 10
    while time.monotonic() < end and os.listdir(cp_dir):
        time.sleep(0.05)
    time.sleep(0.2)
    reap_children()
    shutil.rmtree(cp_dir, ignore_errors=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-6000:] + proc.stderr[-3000:])
        raise SystemExit(f"{label} failed on {count} hosts (rc={proc.returncode})")
    # tasks per host, from the first host's recap line (ok= counts the changed ones too)
    recap = re.search(r"^\S+\s+: ok=(\d+)\s+changed=\d+\s+unreachable=\d+\s+failed=(\d+)\s+skipped=(\d+)", proc.stdout, re.M)
    return {"wall": wall, "controller_cpu": children_cpu() - cpu0, "host_cpu": fleet.host_cpu(count) - host0,
            "tasks": sum(int(g) for g in recap.groups()) if recap else 1}


def ping_cmd(inv: str) -> list[str]:
    return [os.path.join(VENV_BIN, "ansible"), "all", "-i", inv, "-m", "ansible.builtin.ping", "-o"]


def playbook_cmd(inv: str, name: str) -> list[str]:
    return [os.path.join(VENV_BIN, "ansible-playbook"), "-i", inv, os.path.join(ROOT, "playbooks", f"{name}.yml")]


def ensure_image() -> bool:
    if shutil.which("podman") is None:
        print("skipped: podman is not installed (scripts/setup_molecule_hosts.sh)")
        return False
    if run(["podman", "image", "exists", IMAGE]).returncode != 0:
        res = subprocess.run(["bash", os.path.join(ROOT, "scripts", "build_derived_image.sh"), "ssh-host"], check=False)
        if res.returncode != 0:
            print("skipped: localhost/runbook-host-ssh could not be built (scripts/setup_molecule_hosts.sh first)")
            return False
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--hosts", type=int, nargs="+", default=[10, 30, 100])
    ap.add_argument("--forks", type=int, default=20)
    ap.add_argument("--playbooks", nargs="+", default=["daily", "backup"])
    ap.add_argument("--compare", action="store_true", help="also daily.yml with Ansible's defaults and with the free strategy")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="an environment variable for every run (for example ANSIBLE_STRATEGY=free); repeatable")
    args = ap.parse_args()
    if not ensure_image():
        return 0
    become_subreaper()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    settings = dict(RECOMMENDED, ANSIBLE_FORKS=str(args.forks))
    settings.update(e.split("=", 1) for e in args.env)
    sizes = sorted(args.hosts)
    load = os.getloadavg()[0]
    print(f"fleet over SSH: {', '.join(map(str, sizes))} hosts ({IMAGE}, sshd + redis-server each), forks {args.forks}, "
          f"{os.cpu_count()} cores, load average {load:.1f} at the start" + (f"; {' '.join(args.env)}" if args.env else ""))
    rows = []
    with tempfile.TemporaryDirectory(prefix="runbook-fleet-ssh-") as workdir, Fleet(sizes[-1], workdir) as fleet:
        for n in sizes:
            inv = fleet.inventory(n, os.path.join(workdir, f"inventory-{n}.json"))
            ping = measure(fleet, n, ping_cmd(inv), settings, "ping")
            for name in args.playbooks:
                r = measure(fleet, n, playbook_cmd(inv, name), settings, f"{name}.yml")
                rows.append((n, name, ping, r))
                print(f"  {n:4d} hosts  {name + '.yml':11s} wall {r['wall']:6.1f} s  per host {r['wall'] / n:5.2f} s  "
                      f"ping round {ping['wall']:5.1f} s  ratio {r['wall'] / ping['wall']:4.1f}x  "
                      f"controller CPU {r['controller_cpu'] / n:5.2f} s/host (ping {ping['controller_cpu'] / n:4.2f})  "
                      f"hosts' CPU {r['host_cpu'] / n:5.2f} s/host  {r['tasks']} tasks/host",
                      flush=True)
        if args.compare:
            n = sizes[-1]
            inv = fleet.inventory(n, os.path.join(workdir, f"inventory-{n}.json"))
            for label, extra in (("Ansible's defaults", dict(DEFAULTS, ANSIBLE_FORKS=str(args.forks))),
                                 ("free strategy", dict(settings, ANSIBLE_STRATEGY="free"))):
                r = measure(fleet, n, playbook_cmd(inv, "daily"), extra, label)
                print(f"  compare: daily.yml, {n} hosts, {label}: wall {r['wall']:6.1f} s  per host {r['wall'] / n:5.2f} s  "
                      f"controller CPU {r['controller_cpu'] / n:5.2f} s/host", flush=True)

    print()
    print("| hosts | playbook | wall | per host | ping round | ratio | controller CPU / host | hosts' CPU / host |")
    print("|---|---|---|---|---|---|---|---|")
    ok = True
    for n, name, ping, r in rows:
        per_host, ratio = r["wall"] / n, r["wall"] / ping["wall"]
        print(f"| {n} | {name}.yml | {r['wall']:.1f} s | {per_host:.2f} s | {ping['wall']:.1f} s | {ratio:.1f}x | "
              f"{r['controller_cpu'] / n:.2f} s | {r['host_cpu'] / n:.2f} s |")
        ok = ok and ratio <= GOAL_PING_RATIO and (n != max(sizes) or per_host <= GOAL_PER_HOST_S)
    print(f"\ngoal (<= {GOAL_PER_HOST_S} s per host at {max(sizes)} hosts, <= {GOAL_PING_RATIO:.0f}x the ping round): "
          f"{'met' if ok else 'NOT met'}; load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
