# SPDX-License-Identifier: GPL-3.0-or-later
"""Real things for health_probe to check, all started here and stopped at the end:
an HTTP server (ok, slow, 500, JSON, redirect, flaky, barrier), an HTTPS server
whose certificate (from a CA made here) expires in 3 days, a WebSocket server
doing the real RFC 6455 handshake, a Celery worker on a private Redis broker,
podman containers from a busybox image built locally, a nearly full 1 MiB tmpfs
and PM2 apps."""
from __future__ import annotations

import base64
import datetime
import hashlib
import http.server
import ipaddress
import json
import os
import shutil
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from harness.net import wait_until
from harness.redis import RedisServer

HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC11B85"


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------
class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.barriers: dict[str, threading.Barrier] = {}
        self.counters: dict[str, int] = {}

    def barrier(self, key: str, parties: int) -> threading.Barrier:
        with self.lock:
            if key not in self.barriers:
                self.barriers[key] = threading.Barrier(parties)
            return self.barriers[key]

    def count(self, key: str) -> int:
        with self.lock:
            self.counters[key] = self.counters.get(key, 0) + 1
            return self.counters[key]


def _make_handler(state: _State):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

        def _send(self, code: int, body: bytes = b"", ctype: str = "text/plain", headers: dict | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            url = urllib.parse.urlsplit(self.path)
            q = dict(urllib.parse.parse_qsl(url.query))
            parts = [p for p in url.path.split("/") if p]
            head = parts[0] if parts else ""
            if head == "ok":
                self._send(200, b"OK healthy\n")
            elif head == "slow":
                time.sleep(int(q.get("ms", "200")) / 1000.0)  # the server under test is slow on purpose
                self._send(200, b"slow but fine\n")
            elif head == "status":
                self._send(int(parts[1]), f"status {parts[1]}\n".encode())
            elif head == "json":
                doc = {"status": "ok", "db": {"up": True, "lag": 3}, "queues": [1, 2]}
                self._send(200, json.dumps(doc).encode(), "application/json")
            elif head == "notjson":
                self._send(200, b"<html>hello</html>", "text/html")
            elif head == "redirect":
                self._send(302, b"", headers={"Location": "/ok"})
            elif head == "headers":
                ok = self.headers.get("X-Token") == "t0ken-123"
                self._send(200 if ok else 401, b"header checked\n")
            elif head == "flaky":
                # /flaky/<key>/<n>: 503 for the first n requests of <key>, then 200
                n = state.count(parts[1])
                self._send(503 if n <= int(parts[2]) else 200, f"request {n}\n".encode())
            elif head == "barrier":
                # /barrier/<key>/<parties>?wait=S: answers only once <parties> requests are in
                b = state.barrier(parts[1], int(parts[2]))
                try:
                    b.wait(timeout=float(q.get("wait", "20")))
                    self._send(200, b"all arrived\n")
                except threading.BrokenBarrierError:
                    self._send(503, b"barrier broken: not all requests arrived together\n")
            else:
                self._send(404, b"not found\n")

        do_HEAD = do_GET

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            self._send(201, b"got " + body)

    return Handler


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


@dataclass
class HttpServer:
    port: int
    server: _Server
    scheme: str = "http"
    host: str = "127.0.0.1"

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{path}"


def start_http(ssl_context: ssl.SSLContext | None = None) -> HttpServer:
    state = _State()
    srv = _Server(("127.0.0.1", 0), _make_handler(state))
    if ssl_context is not None:
        srv.socket = ssl_context.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return HttpServer(port=srv.server_address[1], server=srv, scheme="https" if ssl_context else "http")


@pytest.fixture(scope="session")
def http_server():
    s = start_http()
    try:
        yield s
    finally:
        s.server.shutdown()
        s.server.server_close()


# ---------------------------------------------------------------------------
# TLS: a CA and a server certificate that expires in 3 days
# ---------------------------------------------------------------------------
@dataclass
class TlsFiles:
    dir: str
    ca_path: str
    cert_path: str
    key_path: str
    days: float


def make_tls(days: float = 3.0) -> TlsFiles:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "runbook.ops test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          # key identifiers and key usage: Python 3.13's default TLS context verifies strictly
          # (RFC 5280) and refuses a chain without them ("Missing Authority Key Identifier")
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    d = tempfile.mkdtemp(prefix="runbook-probe-tls-")
    files = TlsFiles(d, os.path.join(d, "ca.pem"), os.path.join(d, "server.pem"), os.path.join(d, "server.key"), days)
    Path(files.ca_path).write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    Path(files.cert_path).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    Path(files.key_path).write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return files


@pytest.fixture(scope="session")
def tls_files():
    files = make_tls(days=3.0)
    try:
        yield files
    finally:
        shutil.rmtree(files.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def https_server(tls_files):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls_files.cert_path, tls_files.key_path)
    s = start_http(ctx)
    try:
        yield s
    finally:
        s.server.shutdown()
        s.server.server_close()


# ---------------------------------------------------------------------------
# WebSocket: the server side of the RFC 6455 opening handshake
# ---------------------------------------------------------------------------
class _WsHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(10)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(4096)
            if not chunk:
                return
            buf += chunk
        head = buf.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        request_line, *lines = head.split("\r\n")
        path = request_line.split()[1]
        headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines if ":" in ln)}
        key = headers.get("sec-websocket-key", "")
        upgrade_ok = (headers.get("upgrade", "").lower() == "websocket"
                      and "upgrade" in headers.get("connection", "").lower()
                      and headers.get("sec-websocket-version") == "13" and len(base64.b64decode(key or "")) == 16)
        if path == "/ws" and upgrade_ok:
            accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
            sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
            try:  # wait for the client's close frame (or hang-up)
                sock.recv(16)
            except OSError:
                pass
        elif path == "/wrong-accept":
            sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: bm90LXRoZS1yaWdodC1hbnN3ZXI=\r\n\r\n")
        else:
            body = b"no websocket here\n"
            sock.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                         % (len(body), body))


class _WsServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture(scope="session")
def ws_server():
    srv = _WsServer(("127.0.0.1", 0), _WsHandler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"ws://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


# ---------------------------------------------------------------------------
# Celery: a real worker on a private Redis broker
# ---------------------------------------------------------------------------
@dataclass
class CeleryEnv:
    redis: RedisServer
    broker_url: str
    worker_name: str
    app: object
    proc: subprocess.Popen | None = None
    log: str = ""
    extra: dict = field(default_factory=dict)


@pytest.fixture(scope="module")
def celery_worker():
    celery = pytest.importorskip("celery")
    broker = RedisServer().start()
    url = f"redis://127.0.0.1:{broker.port}/0"
    name = f"probe-{os.getpid()}@{socket.gethostname()}"
    env = dict(os.environ, PROBE_BROKER_URL=url, PYTHONPATH=str(HERE))
    log = os.path.join(broker.basedir, "worker.log")
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [str(VENV_BIN / "celery"), "-A", "celery_probe_app", "worker", "--pool", "threads", "--concurrency", "2",
             "-n", name, "-Q", "celery", "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
            cwd=str(HERE), env=env, stdout=fh, stderr=subprocess.STDOUT,
        )
    app = celery.Celery("probe_test_client", broker=url, set_as_current=False)
    try:
        def answers() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"celery worker exited with {proc.returncode}: {Path(log).read_text()[-2000:]}")
            return bool(app.control.ping(timeout=0.5, destination=[name]))

        wait_until(answers, 60, "celery worker ping", interval=0.2)
        yield CeleryEnv(redis=broker, broker_url=url, worker_name=name, app=app, proc=proc, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        app.close()
        broker.stop()


# ---------------------------------------------------------------------------
# podman: a busybox image built from Debian's busybox-static, no registry
# ---------------------------------------------------------------------------
IMAGE = "localhost/runbook-busybox:test"


def _podman(*args: str, check: bool = True, timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, timeout=timeout)


@pytest.fixture(scope="session")
def podman_image():
    if not shutil.which("podman"):
        pytest.skip("podman is not installed: run scripts/setup_podman.sh")
    busybox = shutil.which("busybox")
    if not busybox:
        pytest.skip("busybox-static is not installed: run scripts/setup_podman.sh")
    if _podman("image", "exists", IMAGE, check=False).returncode != 0:
        root = tempfile.mkdtemp(prefix="runbook-busybox-rootfs-")
        try:
            os.makedirs(os.path.join(root, "bin"))
            os.makedirs(os.path.join(root, "tmp"))
            shutil.copy2(busybox, os.path.join(root, "bin", "busybox"))
            applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
            for applet in applets:
                link = os.path.join(root, "bin", applet)
                if not os.path.exists(link):
                    os.symlink("busybox", link)
            tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
            subprocess.run(["podman", "import", "-", IMAGE], stdin=tar.stdout, check=True, capture_output=True)
            tar.stdout.close()
            tar.wait()
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return IMAGE


class PodmanContainers:
    """Containers of one test: ``start`` runs one; every one is removed at the end."""

    def __init__(self, image: str) -> None:
        self.image = image
        self.names: list[str] = []

    def start(self, name: str, health_cmd: str | None = None, labels: dict | None = None,
              command: list[str] | None = None) -> str:
        argv = ["run", "-d", "--name", name, "--network", "none"]
        if health_cmd:
            argv += ["--health-cmd", health_cmd, "--health-interval", "1h", "--health-retries", "1"]
        for k, v in (labels or {}).items():
            argv += ["--label", f"{k}={v}"]
        self.names.append(name)
        _podman(*argv, self.image, *(command or ["sh", "-c", "touch /tmp/healthy; exec sleep 3600"]))
        return name

    @staticmethod
    def healthcheck(name: str) -> int:
        """Run the HEALTHCHECK once (podman has no systemd timers here) and return its exit code."""
        return _podman("healthcheck", "run", name, check=False).returncode

    @staticmethod
    def stop(name: str) -> None:
        _podman("stop", "-t", "0", name)

    def remove_all(self) -> None:
        for n in self.names:
            _podman("rm", "-f", "-t", "0", n, check=False)


@pytest.fixture
def podman_containers(podman_image):
    c = PodmanContainers(podman_image)
    try:
        yield c
    finally:
        c.remove_all()


# ---------------------------------------------------------------------------
# a nearly full 1 MiB tmpfs
# ---------------------------------------------------------------------------
@pytest.fixture
def full_tmpfs():
    mnt = tempfile.mkdtemp(prefix="runbook-probe-tmpfs-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,nr_inodes=200", "tmpfs", mnt],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        os.rmdir(mnt)
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        st = os.statvfs(mnt)
        total = st.f_blocks * st.f_frsize
        target = int(total * 0.95)
        with open(os.path.join(mnt, "fill"), "wb") as fh:
            fh.write(b"\0" * target)
        yield mnt
    finally:
        subprocess.run(["umount", mnt], check=False)
        os.rmdir(mnt)


# ---------------------------------------------------------------------------
# PM2
# ---------------------------------------------------------------------------
@pytest.fixture
def pm2_home():
    pm2 = shutil.which("pm2")
    if not pm2:
        pytest.skip("pm2 is not installed (npm install -g pm2); the jlist parsing is unit-tested")
    home = tempfile.mkdtemp(prefix="runbook-pm2-")
    env = dict(os.environ, PM2_HOME=home)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([pm2, *args], env=env, capture_output=True, text=True, timeout=60, check=False)

    try:
        yield home, run
    finally:
        run("kill")
        shutil.rmtree(home, ignore_errors=True)
