# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile conditions, class 1 for an SSH backup host: a real sshd whose ``sha256sum`` never answers, nor
reading one file (a forced command that lets every other command run). The destination's hashing and the
download hold the total deadline of a transfer of the files' size (the allowance patched down to 1 s),
although they run through the shared connection (ControlMaster, which holds the killed client's pipes): the
``ssh`` client is killed with its process group, the shared connection ended, and the error says how the
deadline was derived.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "offsite"))

from offsite_helpers import Sshd  # noqa: E402  pylint: disable=wrong-import-position
from harness.procs import command_lines  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.runbook.ops.plugins.module_utils import _ratelimit  # noqa: E402
from ansible_collections.runbook.ops.plugins.module_utils._dest_base import OffsiteError  # noqa: E402
from ansible_collections.runbook.ops.plugins.module_utils._dest_ssh import SshDestination  # noqa: E402
from ansible_collections.runbook.ops.plugins.module_utils._ratelimit import RateLimiter  # noqa: E402

pytestmark = pytest.mark.integration

SLACK = 20
# every remote command runs, except sha256sum and reading a file named *stalled*, which wait for ever
# (a backup host that stays silent)
SILENT_HASH = """#!/bin/sh
case "$SSH_ORIGINAL_COMMAND" in *"&& sha256sum -- "*|"cat -- "*stalled*) echo $$ >> "{pids}"; exec sleep 300;; esac
exec sh -c "$SSH_ORIGINAL_COMMAND"
"""


@pytest.fixture
def silent_hash_host(tmp_path):
    base = tmp_path / "sshd"
    base.mkdir()
    server = Sshd(base).setup()
    forced = base / "silent-hash.sh"
    forced.write_text(SILENT_HASH.format(pids=base / "remote-pids"))
    forced.chmod(0o755)
    key = server.authorized.read_text()
    server.authorized.write_text(f'command="{forced}" {key}')
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _ssh_clients(marker: str) -> list[str]:
    return command_lines(lambda cmd: cmd.startswith("ssh ") and "&& sha256sum -- " in cmd and marker in cmd)


def test_a_silent_remote_checksum_is_killed_at_its_deadline(silent_hash_host, tmp_path, monkeypatch):
    monkeypatch.setattr(_ratelimit, "COPY_ALLOWANCE", 1.0)
    root = tmp_path / "dest"
    dest = SshDestination(silent_hash_host.destination(str(root)), 10)
    try:
        assert dest.prepare(create=True)
        dest.write_bytes("b/data.bin", b"z" * 3072)
        t0 = time.monotonic()
        with pytest.raises(OffsiteError) as err:
            dest.sha256(["b/data.bin"])
        elapsed = time.monotonic() - t0
    finally:
        dest.close()
    msg = str(err.value)
    assert msg.startswith(f"computing sha256 of 1 file(s) at ssh://{os.environ.get('USER') or 'root'}@127.0.0.1:"), msg
    assert "not finished within its total deadline of 1 s (1 s allowance + 3.0 KiB at 1024 KiB/s" in msg, msg
    assert "killed with its process group" in msg, msg
    assert elapsed < 1 + SLACK, elapsed  # the size read answers at once; the hash had 1 s
    assert (silent_hash_host.base / "remote-pids").exists(), "the remote sha256sum never ran"
    end = time.monotonic() + 10
    while _ssh_clients(str(root)) and time.monotonic() < end:
        time.sleep(0.1)
    assert _ssh_clients(str(root)) == [], "the ssh client outlived its deadline"


def test_a_stalled_download_through_the_shared_connection_is_killed(silent_hash_host, tmp_path, monkeypatch):
    monkeypatch.setattr(_ratelimit, "COPY_ALLOWANCE", 1.0)
    root = tmp_path / "dest"
    dest = SshDestination(silent_hash_host.destination(str(root)), 10)
    got: list[bytes] = []
    try:
        assert dest.prepare(create=True)
        dest.write_bytes("b/stalled.bin", b"s" * 2048)
        t0 = time.monotonic()
        with pytest.raises(OffsiteError) as err:
            dest.download("b/stalled.bin", got.append, RateLimiter(0))
        elapsed = time.monotonic() - t0
        # the connection is gone, the destination still answers (each command on a connection of its own)
        assert dest.listing() == {"b/stalled.bin": 2048}
    finally:
        dest.close()
    msg = str(err.value)
    assert "/b/stalled.bin over ssh: not finished within its total deadline of 1 s (1 s allowance + 2.0 KiB" in msg, msg
    assert elapsed < 1 + SLACK and got == [], (elapsed, got)
