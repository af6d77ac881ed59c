# SPDX-License-Identifier: GPL-3.0-or-later
"""Real things for health_probe to check, all started here and stopped at the end:
an HTTP server (ok, slow, 500, JSON, redirect, flaky, barrier), an HTTPS server
whose certificate (from a CA made here) expires in 3 days, a WebSocket server
doing the real RFC 6455 handshake, a Celery worker on a private Redis broker,
podman containers from a busybox image built locally, a nearly full 1 MiB tmpfs
and PM2 apps. The servers themselves live in tests/harness/."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from harness.celery_worker import start_worker, stop_worker
from harness.fs import mount_tmpfs, unmount
from harness.http import probe_target
from harness.podman import PodmanContainers, busybox_image, missing_tools
from harness.tls import make_tls, server_context
from harness.websocket import WsServer

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def http_server():
    s = probe_target()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="session")
def tls_files():
    files = make_tls(days=3.0)
    try:
        yield files
    finally:
        shutil.rmtree(files.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def https_server(tls_files):
    s = probe_target(server_context(tls_files))
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="session")
def ws_server():
    srv = WsServer()
    try:
        yield srv.url
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def celery_worker():
    celery = pytest.importorskip("celery")
    worker = start_worker(celery, "celery_probe_app", HERE)
    try:
        yield worker
    finally:
        stop_worker(worker)


@pytest.fixture(scope="session")
def podman_image():
    why = missing_tools()
    if why:
        pytest.skip(why)
    return busybox_image()


@pytest.fixture
def podman_containers(podman_image):
    c = PodmanContainers(podman_image)
    try:
        yield c
    finally:
        c.remove_all()


@pytest.fixture
def full_tmpfs():
    """A 1 MiB tmpfs, 95 % full."""
    mnt = tempfile.mkdtemp(prefix="runbook-probe-tmpfs-")
    try:
        mount_tmpfs(mnt, "size=1m,nr_inodes=200")
    except OSError as exc:
        os.rmdir(mnt)
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    try:
        st = os.statvfs(mnt)
        total = st.f_blocks * st.f_frsize
        target = int(total * 0.95)
        with open(os.path.join(mnt, "fill"), "wb") as fh:
            fh.write(b"\0" * target)
        yield mnt
    finally:
        unmount(mnt)
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
