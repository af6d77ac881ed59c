# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of the off-host copy tests: backups made by the real modules, a real sshd on a loopback port
(the backup host), and an S3 API emulator (moto in server mode) on a loopback port."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from harness.ansible import run_playbook  # noqa: E402
from harness.net import free_port, wait_until  # noqa: E402

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
BIN = Path(sys.executable).parent
BUCKET = "runbook-offsite"


def make_file_backups(tmp_path, n: int, name: str = "app", size: int = 200_000, backup_dir: str | None = None) -> str:
    """``n`` verified file_backup archives of a directory of new random data (one ansible-playbook run, the
    module looped ``n`` times); returns the backup directory."""
    src = tmp_path / f"src-{name}"
    src.mkdir(exist_ok=True)
    backup_dir = backup_dir or str(tmp_path / "backups")
    (src / "data.bin").write_bytes(os.urandom(size))
    playbook = tmp_path / f"make-backups-{name}.yml"
    playbook.write_text(json.dumps([{
        "hosts": "localhost", "gather_facts": False,
        "tasks": [{"name": "File backups", "runbook.ops.file_backup": {
            "name": name, "paths": [str(src)], "backup_dir": backup_dir, "compression": "gzip"},
            "loop": list(range(n))}],
    }]))
    run = run_playbook(playbook, extra_vars={"ansible_python_interpreter": sys.executable})
    assert run.rc == 0, run.stdout[-3000:]
    return backup_dir


def copy_manifests(directory) -> dict:
    out = {}
    for p in sorted(Path(directory).glob("*.copy.json")):
        out[p.name[:-len(".copy.json")]] = json.loads(p.read_text())
    return out


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class Sshd:
    """A real OpenSSH server on 127.0.0.1:<free port>, key authentication for the current user only."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.host_key = base / "host_ed25519"
        self.client_key = base / "client_ed25519"
        self.known_hosts = base / "known_hosts"
        self.authorized = base / "authorized_keys"
        self.config = base / "sshd_config"

    def setup(self) -> "Sshd":
        os.chmod(self.base, 0o700)
        for key in (self.host_key, self.client_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        shutil.copy(f"{self.client_key}.pub", self.authorized)
        os.chmod(self.authorized, 0o600)
        pub = Path(f"{self.host_key}.pub").read_text().split()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {pub[0]} {pub[1]}\n")
        self.config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {self.authorized}", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password", "UsePAM no", f"PidFile {self.base}/sshd.pid", "LogLevel ERROR",
            "StrictModes no", "MaxStartups 50",
        ]) + "\n")
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        return self

    def start(self) -> "Sshd":
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)], stdout=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                                     stderr=open(self.base / "sshd.log", "ab"), start_new_session=True)

        def up() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.base / 'sshd.log').read_text()}")
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                return s.recv(4).startswith(b"SSH-")
        wait_until(up, 30, "sshd")
        return self

    def stop(self) -> None:
        """Stop the listener and every session it forked (the whole process group)."""
        if self.proc is None:
            return
        # sessions call setsid(): find them as descendants of the listener, not by process group
        for pid in [self.proc.pid] + descendants(self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=30)
        self.proc = None

    def destination(self, path: str, **extra) -> dict:
        d = {"type": "ssh", "host": "127.0.0.1", "port": self.port, "user": os.environ.get("USER") or "root",
             "identity_file": str(self.client_key), "known_hosts_file": str(self.known_hosts), "path": path}
        d.update(extra)
        return d


class MotoServer:
    """moto's S3 API server (an emulator, not AWS) on 127.0.0.1:<free port>."""

    def __init__(self, base: Path, auth: bool = False) -> None:
        self.base = base
        self.port = free_port()
        self.auth = auth
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> "MotoServer":
        env = dict(os.environ, AWS_ACCESS_KEY_ID="setup", AWS_SECRET_ACCESS_KEY="setup")
        if self.auth:
            # moto checks signatures and IAM policies after this many unauthenticated requests (the IAM setup)
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = "4"
        self.proc = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],  # pylint: disable=consider-using-with
                                     stdout=subprocess.DEVNULL, stderr=open(self.base / "moto.log", "ab"), env=env,
                                     start_new_session=True)

        def up() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited: {(self.base / 'moto.log').read_text()[-2000:]}")
            with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2) as resp:  # noqa: S310 - loopback
                return resp.status == 200
        wait_until(up, 60, "moto_server")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=20)
        self.proc = None

    key = ""
    secret = ""

    def client(self, key: str = "", secret: str = ""):
        import boto3  # pylint: disable=import-outside-toplevel
        return boto3.session.Session().client("s3", endpoint_url=self.url, region_name="us-east-1",
                                              aws_access_key_id=key or self.key, aws_secret_access_key=secret or self.secret)


def wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise TimeoutError(what)
