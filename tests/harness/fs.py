# SPDX-License-Identifier: GPL-3.0-or-later
"""A small tmpfs mounted over a test directory: a destination that fills up (the tests run as root)."""
from __future__ import annotations

import contextlib
import subprocess


def mount_tmpfs(path, options: str) -> None:
    """Mount a tmpfs with ``options`` (e.g. ``size=2m``) on the existing directory ``path``; OSError if mount fails."""
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True,
                         check=False)
    if res.returncode != 0:
        raise OSError(res.stderr.strip())


def unmount(path) -> None:
    subprocess.run(["umount", "-l", str(path)], check=False)


def remount(path, options: str) -> None:
    """Change the options of the tmpfs at ``path`` (e.g. ``size=4m``: room made on a full disk)."""
    res = subprocess.run(["mount", "-o", f"remount,{options}", str(path)], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise OSError(res.stderr.strip())


@contextlib.contextmanager
def small_tmpfs(path, size: str):
    """A tmpfs of ``size`` (e.g. ``300k``) mounted on the new directory ``path`` for the block: a
    destination that fills up. Fails the test when it cannot be mounted; unmounted even on failure."""
    import pytest

    path.mkdir()
    try:
        mount_tmpfs(path, f"size={size},mode=0700")
    except OSError as exc:
        pytest.fail(f"cannot mount a tmpfs (the tests run as root on this machine): {exc}")
    try:
        yield path
    finally:
        unmount(path)
