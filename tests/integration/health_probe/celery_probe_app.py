# SPDX-License-Identifier: GPL-3.0-or-later
"""The tiny Celery app the health_probe tests run a real worker of (broker from PROBE_BROKER_URL)."""
from __future__ import annotations

import os
import time

import redis
from celery import Celery

BROKER = os.environ.get("PROBE_BROKER_URL", "redis://127.0.0.1:6379/0")
app = Celery("celery_probe_app", broker=BROKER)
app.conf.worker_hijack_root_logger = False
app.conf.broker_connection_retry_on_startup = True


@app.task(name="probe.add")
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="probe.block")
def block(release_key: str, limit: float = 120.0) -> str:
    """Stay active until the test sets ``release_key`` in the broker's Redis (a task that looks stuck)."""
    client = redis.Redis.from_url(BROKER)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if client.get(release_key):
            return "released"
        time.sleep(0.05)
    return "gave up"
