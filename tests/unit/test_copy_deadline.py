# SPDX-License-Identifier: GPL-3.0-or-later
"""Container copies (``<engine> cp``) and SSH transfers of off-host copies run under a total deadline derived
from the size and bwlimit: past it they are killed with their process group, and the error says how the
deadline was derived. Real processes (a stand-in engine / ssh client that never finishes); wide bounds."""
from __future__ import annotations

import time

import pytest
from harness.procs import wait_gone

from ansible_collections.runbook.ops.plugins.module_utils import _ratelimit
from ansible_collections.runbook.ops.plugins.module_utils._dest_base import OffsiteError
from ansible_collections.runbook.ops.plugins.module_utils._dest_ssh import SshDestination
from ansible_collections.runbook.ops.plugins.module_utils._ratelimit import RateLimiter, transfer_deadline
from ansible_collections.runbook.ops.plugins.module_utils._runtime import Runtime, RuntimeFailure


def test_the_deadline_grows_with_the_size_and_a_low_bwlimit():
    base, how = transfer_deadline(0)
    assert base == _ratelimit.COPY_ALLOWANCE and "allowance" in how
    big, how = transfer_deadline(1024 * 1024 * 1024)
    assert big == pytest.approx(_ratelimit.COPY_ALLOWANCE + 1024) and "1.0 GiB at 1024 KiB/s" in how
    limited, how = transfer_deadline(1024 * 1024 * 1024, 100)  # 100 KiB/s: the copy gets twice that time
    assert limited == pytest.approx(_ratelimit.COPY_ALLOWANCE + 1024 * 1024 / 50) and "half of bwlimit 100" in how
    assert transfer_deadline(1024 * 1024 * 1024, 100_000)[0] == big  # a high limit never shortens the floor


def _never_ending(path, pidfile):
    """An executable that starts a grandchild and never finishes (a stuck engine or ssh client)."""
    path.write_text(f"#!/bin/sh\nsh -c 'echo $$ > {pidfile}; exec sleep 300' &\nexec sleep 300\n")
    path.chmod(0o755)
    return str(path)


class _Module:
    def __init__(self, engine: str) -> None:
        self.engine = engine

    def get_bin_path(self, name):
        return self.engine


def test_a_stuck_container_copy_is_killed_at_its_deadline(tmp_path, monkeypatch):
    monkeypatch.setattr(_ratelimit, "COPY_ALLOWANCE", 1.0)
    pidfile = tmp_path / "child"
    rt = Runtime(_Module(_never_ending(tmp_path / "podman", pidfile)), container="db")
    src = tmp_path / "dump"
    src.write_bytes(b"x" * 1000)
    t0 = time.monotonic()
    with pytest.raises(RuntimeFailure) as err:
        rt.copy_in(str(src), "/tmp/dump")
    assert time.monotonic() - t0 < 1 + 20
    msg = str(err.value)
    assert msg.startswith(f"podman cp {src} db:/tmp/dump: not finished within its total deadline of 1 s (")
    assert "1 s allowance + 1000 bytes at 1024 KiB/s" in msg and "killed with its process group" in msg
    assert wait_gone(int(pidfile.read_text()))


def test_a_stalled_ssh_transfer_is_killed_at_its_deadline(tmp_path, monkeypatch):
    monkeypatch.setattr(_ratelimit, "COPY_ALLOWANCE", 1.0)
    pidfile = tmp_path / "child"
    ssh = _never_ending(tmp_path / "ssh", pidfile)
    dest = SshDestination({"type": "ssh", "host": "backup.invalid", "path": "/srv/b", "ssh_executable": ssh}, 10)
    src = tmp_path / "data.bin"
    src.write_bytes(b"y" * 2048)
    t0 = time.monotonic()
    with pytest.raises(OffsiteError) as err:
        dest.upload(str(src), "x/data.bin", 0, RateLimiter(8))  # bwlimit 8 KiB/s: 2 KiB at 4 KiB/s
    assert time.monotonic() - t0 < 1 + 20
    msg = str(err.value)
    assert "to ssh://backup.invalid/srv/b/x/data.bin over ssh: not finished within its total deadline of 2 s" in msg
    assert "(1 s allowance + 2.0 KiB at 4 KiB/s (half of bwlimit 8 KiB/s))" in msg
    assert wait_gone(int(pidfile.read_text()))


def test_a_stalled_remote_sha256_is_killed_at_its_deadline(tmp_path, monkeypatch):
    """The sizes answer at once; sha256sum never does: killed at the transfer deadline of their total size."""
    monkeypatch.setattr(_ratelimit, "COPY_ALLOWANCE", 1.0)
    pidfile = tmp_path / "child"
    ssh = tmp_path / "ssh"
    ssh.write_text("#!/bin/sh\ncase \"$*\" in *sha256sum*) ;; *) echo 1000; echo 1048; exit 0;; esac\n"
                   f"sh -c 'echo $$ > {pidfile}; exec sleep 300' &\nexec sleep 300\n")
    ssh.chmod(0o755)
    dest = SshDestination({"type": "ssh", "host": "backup.invalid", "path": "/srv/b", "ssh_executable": str(ssh)}, 10)
    t0 = time.monotonic()
    with pytest.raises(OffsiteError) as err:
        dest.sha256(["a.dump", "b.json"])
    assert time.monotonic() - t0 < 1 + 20
    msg = str(err.value)
    assert msg.startswith("computing sha256 of 2 file(s) at ssh://backup.invalid/srv/b over ssh: "
                          "not finished within its total deadline of 1 s ("), msg
    assert "(1 s allowance + 2.0 KiB at 1024 KiB/s (the 1024 KiB/s floor))" in msg and "process group" in msg, msg
    assert wait_gone(int(pidfile.read_text()))
