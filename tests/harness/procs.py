# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether a process a test started is gone: what the deadline tests assert of every child they leave."""
from __future__ import annotations

import os
import time
import typing as t


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


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children first), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                    ppid = int(fh.read().split(") ", 1)[1].split()[1])
            except (FileNotFoundError, IndexError, ValueError, ProcessLookupError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(0), []):
            out.append(child)
            todo.append(child)
    return out


def command_lines(match: t.Callable[[str], bool]) -> list[str]:
    """The command lines (arguments joined by spaces) of the running processes ``match`` accepts."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if match(cmd):
            found.append(cmd)
    return found
