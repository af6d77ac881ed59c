# SPDX-License-Identifier: GPL-3.0-or-later
"""health_probe vs a sequential loop: 50 HTTP checks of a loopback server that
answers each request in 200 ms.

    .venv/bin/python bench/health_probe_bench.py [--probes 50] [--delay-ms 200] [--workers 50]

Prints the module's own duration, the whole `ansible localhost -m
runbook.ops.health_probe` run (process start, module transfer, JSON output
included), and the same 50 checks done one after another with urllib.
Goal: the module under 1 s, at least 10x faster than the sequential loop.
"""
from __future__ import annotations

import argparse
import http.server
import socketserver
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness.ansible import run_module  # noqa: E402


def start_server(delay_s: float):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802 - http.server API
            time.sleep(delay_s)  # the server's answer time being measured against
            body = b"ok\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        request_queue_size = 256

    srv = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probes", type=int, default=50)
    ap.add_argument("--delay-ms", type=int, default=200)
    ap.add_argument("--workers", type=int, default=50)
    args = ap.parse_args()
    srv = start_server(args.delay_ms / 1000.0)
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    urls = [f"{base}/check/{i}" for i in range(args.probes)]
    try:
        # sequential: what the runbook's serial script does (curl -f one after another)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        t0 = time.monotonic()
        for u in urls:
            with opener.open(u, timeout=10) as resp:
                resp.read()
                assert resp.status == 200
        sequential = time.monotonic() - t0

        probes = [{"name": f"check {i}", "kind": "http", "url": u, "timeout": 10} for i, u in enumerate(urls)]
        t0 = time.monotonic()
        res = run_module("health_probe", {"probes": probes, "max_workers": args.workers})
        through_ansible = time.monotonic() - t0
        if res.failed or res["summary"]["ok"] != args.probes:
            print(f"health_probe failed: {res.get('msg')}", file=sys.stderr)
            return 1
        module_s = res["duration_ms"] / 1000.0
        slowest = max(r["latency_ms"] for r in res["results"]) / 1000.0
    finally:
        srv.shutdown()
        srv.server_close()

    print(f"{args.probes} HTTP checks, server answers each in {args.delay_ms} ms, max_workers={args.workers}")
    print(f"  sequential urllib loop:              {sequential:7.3f} s")
    print(f"  health_probe, module's own duration: {module_s:7.3f} s  (slowest probe {slowest:.3f} s)")
    print(f"  health_probe, whole ansible run:     {through_ansible:7.3f} s")
    print(f"  ratio sequential / module:           {sequential / module_s:7.1f}x  (goal >= 10x, module < 1 s: "
          f"{'met' if sequential / module_s >= 10 and module_s < 1 else 'NOT met'})")
    print(f"  ratio sequential / ansible run:      {sequential / through_ansible:7.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
