# SPDX-License-Identifier: GPL-3.0-or-later
"""A real Celery worker (threads pool) on a private Redis broker, started and stopped by the tests."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness.net import wait_until
from harness.redis import RedisServer

VENV_BIN = Path(sys.executable).parent


@dataclass
class CeleryEnv:
    redis: RedisServer
    broker_url: str
    worker_name: str
    app: object
    proc: subprocess.Popen | None = None
    log: str = ""
    extra: dict = field(default_factory=dict)


def start_worker(celery, app_module: str, app_dir: Path) -> CeleryEnv:
    """A worker of ``app_module`` (found in ``app_dir``; its broker URL from PROBE_BROKER_URL) answering pings,
    and a client app on the same broker. ``celery`` is the imported package. Stop it with ``stop_worker``."""
    broker = RedisServer().start()
    url = f"redis://127.0.0.1:{broker.port}/0"
    name = f"probe-{os.getpid()}@{socket.gethostname()}"
    env = dict(os.environ, PROBE_BROKER_URL=url, PYTHONPATH=str(app_dir))
    log = os.path.join(broker.basedir, "worker.log")
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [str(VENV_BIN / "celery"), "-A", app_module, "worker", "--pool", "threads", "--concurrency", "2",
             "-n", name, "-Q", "celery", "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
            cwd=str(app_dir), env=env, stdout=fh, stderr=subprocess.STDOUT,
        )
    app = celery.Celery("probe_test_client", broker=url, set_as_current=False)
    worker = CeleryEnv(redis=broker, broker_url=url, worker_name=name, app=app, proc=proc, log=log)
    try:
        def answers() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"celery worker exited with {proc.returncode}: {Path(log).read_text()[-2000:]}")
            return bool(app.control.ping(timeout=0.5, destination=[name]))

        wait_until(answers, 60, "celery worker ping", interval=0.2)
    except BaseException:
        stop_worker(worker)
        raise
    return worker


def stop_worker(worker: CeleryEnv) -> None:
    proc = worker.proc
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    worker.app.close()
    worker.redis.stop()
