# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether a process a test started is gone: what the deadline tests assert of every child they leave."""
from __future__ import annotations

import time


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ", 1)[1].startswith("Z")  # a zombie waiting for init is dead
    except FileNotFoundError:
        return True


def wait_gone(pid: int, timeout: float = 10) -> bool:
    """Poll until ``pid`` is gone; whether it is, after at most ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while not gone(pid) and time.monotonic() < end:
        time.sleep(0.05)
    return gone(pid)
