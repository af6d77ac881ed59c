# SPDX-License-Identifier: GPL-3.0-or-later
"""The run report's Pushgateway push (module_utils/_run_report_push.py) against Debian's real
prometheus-pushgateway on a loopback port, and against peers that refuse, hang or answer 500: the push
either lands in its group or returns a warning within its deadline."""
from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from harness.hostile import HostilePeer  # noqa: E402
from harness.http import QuietHandler, StubServer  # noqa: E402

from ansible_collections.runbook.ops.plugins.module_utils import _run_report_merge as M  # noqa: E402
from ansible_collections.runbook.ops.plugins.module_utils import _run_report_push as P  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_run_report import health, host_report, probe  # noqa: E402

GRACE = 1.5  # the time to notice a missed deadline, on a loaded machine


def report(schedule="weekly", hosts=("web1",), status="ok"):
    return M.merge([host_report(h, health=health(probe("api", status, 61.8))) for h in hosts], schedule,
                   "20261124T020000Z")


def _group(gateway, **labels):
    want = dict({"job": P.JOB}, **labels)
    found = [g for g in gateway.groups() if g["labels"] == want]
    assert len(found) <= 1
    return found[0] if found else None


def _samples(group, metric):
    return {tuple(sorted((k, v) for k, v in m["labels"].items() if k not in ("job", "instance"))): m["value"]
            for m in group[metric]["metrics"]}


def test_group_url_encodes_labels():
    assert P.group_url("http://pg:9091/", "daily") == "http://pg:9091/metrics/job/runbook_ops/schedule/daily"
    assert P.group_url("http://pg:9091", "daily", "2").endswith("/schedule/daily/slice/2")
    assert P.group_url("http://pg:9091", "a/b").endswith("/schedule@base64/YS9i")
    assert P.group_url("https://pg", "a b").endswith("/schedule/a%20b")
    with pytest.raises(ValueError, match="pushgateway_url"):
        P.group_url("pg:9091", "daily")


def test_settings_variables_first_and_bad_timeout_named():
    options = {"pushgateway_url": "http://opt:9091", "pushgateway_timeout": 10.0, "report_slice": None}
    assert P.settings({}, options.get) == {"url": "http://opt:9091", "timeout": 10.0, "slice": ""}
    got = P.settings({"runbook_pushgateway_url": "http://var:9091", "runbook_report_slice": 3}, options.get)
    assert got == {"url": "http://var:9091", "timeout": 10.0, "slice": "3"}
    bad = P.settings({"runbook_pushgateway_timeout": "soon"}, options.get)
    assert "pushgateway_timeout" in bad["error"]
    assert "pushgateway_timeout" in P.push_metrics(bad, report())
    assert P.push_metrics(P.settings({}, {}.get), report()) is None  # no URL: nothing to do


def test_push_lands_in_the_schedule_group_and_replaces_it(gateway):
    push = {"url": gateway.url, "timeout": 10.0, "slice": ""}
    assert P.push_metrics(push, report("push_a", hosts=("web1", "web2"))) is None
    group = _group(gateway, schedule="push_a")
    assert group is not None
    assert _samples(group, "runbook_run_status") == {(("schedule", "push_a"),): "0"}
    hosts = {(("host", "web1"), ("schedule", "push_a")), (("host", "web2"), ("schedule", "push_a"))}
    assert set(_samples(group, "runbook_host_status")) == hosts
    assert "runbook_probe_latency_seconds{" in gateway.metrics()
    latency = [line for line in gateway.metrics().splitlines()
               if line.startswith("runbook_probe_latency_seconds{") and 'schedule="push_a"' in line]
    assert latency and all(line.endswith(" 0.0618") for line in latency), latency
    # the next run of the schedule replaces the group (a host gone from the inventory goes from the metrics)
    assert P.push_metrics(push, report("push_a", hosts=("web1",), status="critical")) is None
    group = _group(gateway, schedule="push_a")
    assert set(_samples(group, "runbook_host_status")) == {(("host", "web1"), ("schedule", "push_a"))}
    assert _samples(group, "runbook_run_status") == {(("schedule", "push_a"),): "2"}


def test_slices_of_one_schedule_keep_their_own_groups(gateway):
    for n, host in (("1", "db1"), ("2", "db2")):
        assert P.push_metrics({"url": gateway.url, "timeout": 10.0, "slice": n}, report("push_s", hosts=(host,))) is None
    for n, host in (("1", "db1"), ("2", "db2")):
        group = _group(gateway, schedule="push_s", slice=n)
        # the Pushgateway adds the grouping labels to every sample
        assert set(_samples(group, "runbook_host_status")) == {(("host", host), ("schedule", "push_s"), ("slice", n))}


def _bounded(url, seconds):
    started = time.monotonic()
    message = P.push_metrics({"url": url, "timeout": seconds, "slice": ""}, report())
    return message, time.monotonic() - started


def test_refused_push_is_a_prompt_warning():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: refused
        message, took = _bounded(f"http://127.0.0.1:{sock.getsockname()[1]}", 5)
    assert message and "Pushgateway http://127.0.0.1:" in message and "refused" in message.lower(), message
    assert took < 5


def test_silent_pushgateway_costs_at_most_its_deadline():
    with HostilePeer("silent") as peer:
        message, took = _bounded(f"http://{peer.address}", 2)
    assert message and "no complete answer within 2 s (deadline)" in message, message
    assert 1.9 <= took < 2 + GRACE


def test_dripping_pushgateway_costs_at_most_its_deadline():
    with HostilePeer("drip", payload=b"H", interval=0.3) as peer:
        message, took = _bounded(f"http://{peer.address}", 2)
    assert message and "deadline" in message, message
    assert took < 2 + GRACE


class _Fails(QuietHandler):
    def do_PUT(self):  # noqa: N802 (the name http.server calls)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(500)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"storage full")


def test_pushgateway_error_is_shown():
    server = StubServer(_Fails)
    try:
        message, took = _bounded(server.url(), 5)
    finally:
        server.stop()
    assert message and "HTTP 500" in message and "storage full" in message, message
    assert took < 5
