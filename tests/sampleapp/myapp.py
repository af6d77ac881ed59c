# SPDX-License-Identifier: GPL-3.0-or-later
"""myapp: the runbook.ops sample application (standard library + psycopg).

    myapp.py serve            HTTP on MYAPP_LISTEN: GET /health, GET /version
    myapp.py migrate          apply RELEASE/migrations/*.sql in name order, each once
    myapp.py worker           a Celery-like worker: jobs from the Redis list myapp:jobs
    myapp.py enqueue PAYLOAD  push one job
    myapp.py done             the results the worker pushed (JSON list)

Configuration from the environment (systemd EnvironmentFile= or a compose file):
    MYAPP_RELEASE_DIR   VERSION, release.json, migrations/ (default: this file's dir)
    MYAPP_DATABASE_URL  libpq conninfo or postgresql:// URL
    MYAPP_REDIS_URL     redis://[:password@]host:port[/db]
    MYAPP_LISTEN        host:port (default 127.0.0.1:8000)

/health answers 200 when every backend the release requires (release.json
"requires") answers, else 503 naming the failing one.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

RELEASE_DIR = Path(os.environ.get("MYAPP_RELEASE_DIR") or Path(__file__).resolve().parent)
MIGRATIONS_TABLE = "myapp_schema_migrations"


def version() -> str:
    return (RELEASE_DIR / "VERSION").read_text().strip()


def release() -> dict:
    path = RELEASE_DIR / "release.json"
    return json.loads(path.read_text()) if path.exists() else {}


# --- Redis: a minimal RESP client --------------------------------------------------
class Redis:
    def __init__(self, url: str, timeout: float = 5.0) -> None:
        u = urlparse(url)
        self.sock = socket.create_connection((u.hostname or "127.0.0.1", u.port or 6379), timeout)
        self.buf = self.sock.makefile("rb")
        if u.password:
            self.call("AUTH", unquote(u.password))
        db = (u.path or "/").strip("/")
        if db:
            self.call("SELECT", db)

    def call(self, *args: str | bytes | int):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))
        return self._read()

    def _read(self):
        line = self.buf.readline()
        if not line:
            raise ConnectionError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.buf.read(n + 2)[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _item in range(n)]
        raise RuntimeError(f"unexpected redis reply {line!r}")

    def close(self) -> None:
        self.sock.close()


def pg_connect():
    import psycopg  # python3-psycopg on the hosts

    return psycopg.connect(os.environ["MYAPP_DATABASE_URL"], connect_timeout=5)


# --- health ----------------------------------------------------------------------------
def check_postgres() -> str:
    if not os.environ.get("MYAPP_DATABASE_URL"):
        raise RuntimeError("MYAPP_DATABASE_URL is not set")
    with pg_connect() as conn:
        conn.execute("SELECT 1")
    return "ok"


def check_redis() -> str:
    if not os.environ.get("MYAPP_REDIS_URL"):
        raise RuntimeError("MYAPP_REDIS_URL is not set")
    r = Redis(os.environ["MYAPP_REDIS_URL"], timeout=3)
    try:
        return "ok" if r.call("PING") == "PONG" else "unexpected PING reply"
    finally:
        r.close()


CHECKS = {"postgres": check_postgres, "redis": check_redis}


def health() -> tuple[int, dict]:
    checks = {}
    for name in release().get("requires", []):
        try:
            check = CHECKS.get(name)
            if check is None:
                raise RuntimeError(f"backend {name!r} is not configured")
            checks[name] = check()
        except Exception as exc:  # report every failure as data, never crash
            checks[name] = f"failed: {exc}"
    ok = all(v == "ok" for v in checks.values())
    return (200 if ok else 503), {"status": "ok" if ok else "failing", "version": version(), "checks": checks}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        if self.path == "/health":
            code, body = health()
        elif self.path == "/version":
            code, body = 200, {"version": version(), "release_dir": str(RELEASE_DIR)}
        else:
            code, body = 404, {"error": "not found"}
        data = json.dumps(body).encode() + b"\n"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args) -> None:
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))


def serve() -> int:
    host, _sep, port = os.environ.get("MYAPP_LISTEN", "127.0.0.1:8000").rpartition(":")
    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
    signal.signal(signal.SIGTERM, _terminate)
    print(f"myapp {version()} listening on {host}:{port}", flush=True)
    try:
        server.serve_forever()
    except SystemExit:
        pass
    finally:
        server.server_close()
    return 0


def _terminate(*_args) -> None:
    raise SystemExit(0)


# --- migrations ----------------------------------------------------------------------
def migrate() -> int:
    files = sorted((RELEASE_DIR / "migrations").glob("*.sql"))
    applied_now = []
    with pg_connect() as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext('myapp-migrate'))")
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (name text PRIMARY KEY,"
            " version text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.commit()
        done = {row[0] for row in conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")}
        for f in files:
            if f.name in done:
                continue
            with conn.transaction():
                conn.execute(f.read_text())
                conn.execute(
                    f"INSERT INTO {MIGRATIONS_TABLE} (name, version) VALUES (%s, %s)", (f.name, version())
                )
            applied_now.append(f.name)
        conn.commit()
        conn.execute("SELECT pg_advisory_unlock(hashtext('myapp-migrate'))")
    print(json.dumps({"version": version(), "applied": applied_now, "already": len(files) - len(applied_now)}))
    return 0


# --- worker ----------------------------------------------------------------------------
def worker() -> int:
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    r = Redis(os.environ["MYAPP_REDIS_URL"], timeout=10)
    print(f"myapp worker {version()} waiting on myapp:jobs", flush=True)
    while not stop:
        r.call("SET", "myapp:worker:heartbeat", str(int(time.time())), "EX", 60)
        job = r.call("BRPOP", "myapp:jobs", 2)
        if job:
            payload = job[1].decode()
            r.call("LPUSH", "myapp:done", f"{version()}:{payload}")
            print(f"done {payload}", flush=True)
    r.close()
    return 0


def enqueue(payload: str) -> int:
    r = Redis(os.environ["MYAPP_REDIS_URL"])
    print(r.call("LPUSH", "myapp:jobs", payload))
    r.close()
    return 0


def done() -> int:
    r = Redis(os.environ["MYAPP_REDIS_URL"])
    print(json.dumps([x.decode() for x in r.call("LRANGE", "myapp:done", 0, -1) or []]))
    r.close()
    return 0


def main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else "serve"
    if cmd == "serve":
        return serve()
    if cmd == "migrate":
        return migrate()
    if cmd == "worker":
        return worker()
    if cmd == "enqueue" and len(argv) == 3:
        return enqueue(argv[2])
    if cmd == "done":
        return done()
    if cmd == "version":
        print(version())
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
