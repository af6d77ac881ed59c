# SPDX-License-Identifier: GPL-3.0-or-later
"""A real Redis server (Debian's redis-server) on loopback in a temporary directory."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass

from .net import free_port, wait_until


@dataclass
class RedisServer:
    password: str | None = None
    extra_config: str = ""
    basedir: str = ""
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def socket_path(self) -> str:
        return os.path.join(self.basedir, "redis.sock")

    def conn_args(self) -> dict:
        args: dict = {"login_host": "127.0.0.1", "login_port": self.port}
        if self.password:
            args["login_password"] = self.password
        return args

    def start(self) -> "RedisServer":
        self.basedir = tempfile.mkdtemp(prefix="runbook-redis-")
        self.port = free_port()
        conf = os.path.join(self.basedir, "redis.conf")
        lines = [
            "bind 127.0.0.1",
            f"port {self.port}",
            f"dir {self.basedir}",
            "dbfilename dump.rdb",
            f"unixsocket {self.socket_path}",
            "unixsocketperm 700",
            "save ''",
            "appendonly no",
            "daemonize no",
            f"logfile {os.path.join(self.basedir, 'redis.log')}",
        ]
        if self.password:
            lines.append(f"requirepass {self.password}")
        with open(conf, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n" + self.extra_config + "\n")
        self.proc = subprocess.Popen(["redis-server", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._ready, 30, "Redis")
        return self

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            reply = s.recv(64)
        # +PONG without a password; -NOAUTH with one: both mean it is serving
        return reply.startswith(b"+PONG") or reply.startswith(b"-NOAUTH")

    def client(self):
        import redis  # imported lazily: only tests that use Redis need it

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.basedir:
            shutil.rmtree(self.basedir, ignore_errors=True)


@contextlib.contextmanager
def redis_factory():
    """``make(password=None, extra_config="")`` starts a private server; every one is stopped at the end."""
    servers: list[RedisServer] = []

    def make(password: str | None = None, extra_config: str = "") -> RedisServer:
        srv = RedisServer(password=password, extra_config=extra_config).start()
        servers.append(srv)
        return srv

    try:
        yield make
    finally:
        for srv in servers:
            srv.stop()


@contextlib.contextmanager
def restartable(srv: RedisServer):
    """``(srv, commands)``: real stop/start argv lists for a restore (redis-cli SHUTDOWN NOSAVE,
    redis-server --daemonize); a server they started is stopped at the end."""
    pidfile = os.path.join(srv.basedir, "restarted.pid")
    commands = {
        "stop_command": ["redis-cli", "-p", str(srv.port), "shutdown", "nosave"],
        "start_command": ["redis-server", os.path.join(srv.basedir, "redis.conf"), "--daemonize", "yes",
                          "--pidfile", pidfile],
    }
    try:
        yield srv, commands
    finally:
        if os.path.exists(pidfile):
            with open(pidfile, encoding="utf-8") as fh:
                pid = int(fh.read().strip())
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
