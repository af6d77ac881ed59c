# SPDX-License-Identifier: GPL-3.0-or-later
"""The deadline helper and health_probe's runner with real sockets and real processes.

Bounds are asserted with wide margins (a hang would exceed them by far); nothing here
measures how fast anything is.
"""
from __future__ import annotations

import os
import signal
import socket
import threading
import time

import pytest
from harness.procs import wait_gone

from ansible_collections.runbook.ops.plugins.module_utils._deadline import (
    GRACE, Deadline, DeadlineExceeded, Watchdog, deadline_message,
)
from ansible_collections.runbook.ops.plugins.module_utils._probe import (
    CRITICAL, KINDS, OK, Kind, Outcome, run_probes, validate_probes,
)


@pytest.fixture
def dripping_pair():
    """A connected socket pair whose far end sends one byte every 0.1 s until the test ends."""
    near, far = socket.socketpair()
    stop = threading.Event()

    def drip() -> None:
        while not stop.wait(0.1):
            try:
                far.send(b"x")
            except OSError:
                return

    th = threading.Thread(target=drip, daemon=True)
    th.start()
    yield near
    stop.set()
    th.join()
    near.close()
    far.close()


def test_message_wording():
    assert deadline_message(2.0) == "no complete answer within 2 s (deadline)"
    assert str(DeadlineExceeded(0.5, "GET /")) == "GET /: no complete answer within 0.5 s (deadline)"


def test_deadline_recv_is_bounded_by_the_whole_exchange_not_each_read(dripping_pair):
    deadline = Deadline(0.5)
    got = b""
    t0 = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        while True:  # every read gets a byte well inside any per-read timeout
            got += deadline.recv(dripping_pair, 1)
    assert got  # it did read: only the deadline stopped it
    assert time.monotonic() - t0 < 0.5 + 5


def test_watchdog_unblocks_a_read_inside_library_code_and_its_thread_ends():
    near, far = socket.socketpair()
    before = threading.active_count()
    try:
        with Watchdog() as dog:
            with pytest.raises(DeadlineExceeded, match="waiting"):
                with dog.armed(0.3, lambda: near.shutdown(socket.SHUT_RDWR), "waiting"):
                    if near.recv(10) == b"":  # what a library sees when its socket is shut down
                        raise ConnectionError("closed")
            # an alarm disarmed in time never fires
            a, b = socket.socketpair()
            with a, b:
                with dog.armed(30, lambda: a.shutdown(socket.SHUT_RDWR)):
                    a.send(b"ok")
                a.send(b" still open")
                assert b.recv(20) == b"ok still open"
        assert threading.active_count() == before
    finally:
        near.close()
        far.close()


def _fork_sleeper(pid_file: str) -> None:
    """Fork a child that sleeps "forever" (it inherits every descriptor) and write its pid to ``pid_file``."""
    pid = os.fork()
    if pid == 0:
        try:
            time.sleep(300)
        finally:
            os._exit(0)
    with open(pid_file, "w", encoding="ascii") as fh:
        fh.write(str(pid))


def _blocked_check(p: dict, ctx) -> Outcome:
    """A check that ignores its deadline (SIGALRM blocked) and starts a grandchild: only a kill ends it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
    _fork_sleeper(p["path"])
    time.sleep(300)
    return Outcome(message="not reached")


def test_an_attempt_that_ignores_its_deadline_is_killed_with_everything_it_started(tmp_path):
    from ansible_collections.runbook.ops.plugins.module_utils._probe_schema import COMMON_FIELDS, Field

    KINDS["stubborn"] = Kind(_blocked_check, {"path": Field("str", required=True)}, {}, primary=None)
    try:
        pidfile = tmp_path / "grandchild"
        probes = validate_probes([
            {"name": "stubborn", "kind": "stubborn", "path": str(pidfile), "timeout": 0.5},
            {"name": "fine", "kind": "command", "argv": ["true"]},
        ])
        assert "path" not in COMMON_FIELDS
        t0 = time.monotonic()
        stubborn, fine = run_probes(probes)
        assert time.monotonic() - t0 < 0.5 + GRACE + 10
        assert stubborn.status == CRITICAL
        assert stubborn.message == "did not finish (timed out): no complete answer within 0.5 s (deadline)"
        assert fine.status == OK
        grandchild = int(pidfile.read_text())
        assert wait_gone(grandchild), "the attempt's grandchild outlived run_probes"
    finally:
        del KINDS["stubborn"]


def test_a_finished_attempt_leaves_no_background_process(tmp_path):
    pidfile = tmp_path / "bg"
    # the probe answers only once its background process has written its pid (else the attempt's group may
    # be killed before the pid is known, and there would be nothing to look for)
    script = (f"sh -c 'echo $$ > {pidfile}.tmp && mv {pidfile}.tmp {pidfile}; exec sleep 300' >/dev/null 2>&1 & "
              f"while [ ! -s {pidfile} ]; do sleep 0.05; done; echo started")
    (r,) = run_probes(validate_probes([{"name": "bg", "kind": "command", "argv": ["sh", "-c", script]}]))
    assert r.status == OK, r.message
    pid = int(pidfile.read_text())
    assert wait_gone(pid), "a process started by a command probe outlived run_probes"


def _lingering_check(p: dict, ctx) -> Outcome:
    """Answers at once, leaving a process behind that holds every descriptor the attempt had."""
    _fork_sleeper(p["path"])
    return Outcome(message="answered")


def test_an_answer_counts_when_it_is_complete_and_what_the_attempt_left_is_killed(tmp_path):
    from ansible_collections.runbook.ops.plugins.module_utils._probe_schema import Field

    KINDS["lingering"] = Kind(_lingering_check, {"path": Field("str", required=True)}, {}, primary=None)
    try:
        pidfile = tmp_path / "lingering"
        (r,) = run_probes(validate_probes([{"name": "l", "kind": "lingering", "path": str(pidfile), "timeout": 30}]))
        assert (r.status, r.message) == (OK, "answered")  # not held until the deadline by the open pipe
        pid = int(pidfile.read_text())
        assert wait_gone(pid)
    finally:
        del KINDS["lingering"]


def test_a_peer_that_is_no_redis_server_is_named_not_a_traceback():
    from harness.hostile import HostilePeer

    with HostilePeer("drip", prefix=b"+OK\r\n", payload=b"\r\n") as peer:  # answers HELLO with a plain +OK
        (r,) = run_probes(validate_probes([{"name": "r", "kind": "redis", "login_host": "127.0.0.1",
                                            "login_port": peer.port, "timeout": 5}]))
    assert r.status == CRITICAL
    assert "is it a Redis server?" in r.message and "Traceback" not in str(r.details)
