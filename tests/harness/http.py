# SPDX-License-Identifier: GPL-3.0-or-later
"""Small real HTTP servers for the tests, on a free loopback port, served from a background thread.

``StubServer`` is the one server; a test gives it a handler class (``QuietHandler`` keeps pytest's output
clean). ``Canary`` records every request it receives; ``probe_target`` answers the health_probe tests'
paths (ok, slow, status, json, redirect, headers, flaky, barrier)."""
from __future__ import annotations

import http.server
import json
import ssl
import threading
import time
import urllib.parse


class QuietHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's signature) pylint: disable=redefined-builtin
        pass


class StubServer(http.server.ThreadingHTTPServer):
    """An HTTP(S) server on a free 127.0.0.1 port, serving from a daemon thread until ``stop``."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # many probes connect at once

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler],
                 ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        if ssl_context is not None:
            self.socket = ssl_context.wrap_socket(self.socket, server_side=True)
        self.scheme = "https" if ssl_context else "http"
        self.host = "127.0.0.1"
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def url(self, path: str = "") -> str:
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


# ---------------------------------------------------------------------------
# a canary: records the path of every request
# ---------------------------------------------------------------------------
class _CanaryHandler(QuietHandler):
    def do_GET(self):  # noqa: N802 (the name http.server calls)
        self.server.requests.append(self.path)
        self.send_response(204)
        self.end_headers()


class _CanaryServer(StubServer):
    def __init__(self) -> None:
        self.requests: list[str] = []
        super().__init__(_CanaryHandler)


class Canary:
    """An HTTP server that records the path of every request: ``requests``; ``url`` is its base URL."""

    def __init__(self) -> None:
        self.server = _CanaryServer()
        self.requests = self.server.requests
        self.url = self.server.url()

    def stop(self) -> None:
        self.server.stop()


# ---------------------------------------------------------------------------
# the health_probe tests' target
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


def _probe_handler(state: _State):
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

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


def probe_target(ssl_context: ssl.SSLContext | None = None) -> StubServer:
    """The paths the health_probe tests check: /ok, /slow?ms=N, /status/<code>, /json, /notjson, /redirect,
    /headers (X-Token), /flaky/<key>/<n>, /barrier/<key>/<parties>?wait=S, POST echoes."""
    return StubServer(_probe_handler(_State()), ssl_context)
