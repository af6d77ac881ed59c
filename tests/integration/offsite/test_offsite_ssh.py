# SPDX-License-Identifier: GPL-3.0-or-later
"""backup_copy / backup_fetch over SSH against a real OpenSSH server on a loopback port (the backup host):
copy, verify, retention, wrong key, a connection lost mid-copy (resumed by the next run), corruption."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from offsite_helpers import copy_manifests, make_file_backups, wait_for

from harness.ansible import BIN, REPO, ansible_env, run_module
from harness.procs import command_lines


def test_copy_retention_and_fetch_over_ssh(tmp_path, sshd):
    backup_dir = make_file_backups(tmp_path, 3)
    remote = tmp_path / "backuphost" / "db1"
    dest = sshd.destination(str(remote))
    r = run_module("backup_copy", {"backup_dir": backup_dir, "destination": dest, "keep_last": 2})
    assert not r.failed, r.get("msg")
    assert r["destination"] == f"ssh://{dest['user']}@127.0.0.1:{sshd.port}{remote}"
    assert [c["status"] for c in r["copies"]] == ["copied"] * 3 and all(c["verified"] for c in r["copies"])
    assert stat.S_IMODE(remote.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in remote.iterdir())
    assert not [p for p in remote.iterdir() if p.name.startswith(".partial")]
    for c in r["copies"]:
        assert (remote / c["id"]).read_bytes() == Path(c["backup"]).read_bytes()
    again = run_module("backup_copy", {"backup_dir": backup_dir, "destination": dest, "keep_last": 2})
    assert not again.changed or again["deleted"], again.result
    assert len(again["deleted"]) == 1 and len(copy_manifests(remote)) == 2
    assert [c["status"] for c in again["copies"]][1:] == ["present", "present"]

    # corrupt the newest copy on the backup host: detected and copied again
    newest = max(copy_manifests(remote).values(), key=lambda d: d["backup_finished_at"])
    with open(remote / newest["id"], "r+b") as fh:
        fh.seek(1000)
        fh.write(b"CORRUPT")
    fixed = run_module("backup_copy", {"backup_dir": backup_dir, "destination": dest, "keep_last": 2})
    assert fixed.changed and fixed["copies"][-1]["status"] == "copied" and "re-copied" in fixed["copies"][-1]["msg"]

    f = run_module("backup_fetch", {"destination": dest, "kind": "files", "name": "app", "dest_dir": str(tmp_path / "r")})
    assert not f.failed and f["id"] == newest["id"] and f["checksum"] == "ok", f.result
    assert Path(f["backup"]).read_bytes() == (Path(backup_dir) / newest["id"]).read_bytes()
    assert stat.S_IMODE(os.stat(f["backup"]).st_mode) == 0o600
    # the shared connection (ControlMaster) ended with the module
    assert not ssh_masters_left(sshd.port), ssh_masters_left(sshd.port)


def ssh_masters_left(port: int) -> list[str]:
    """The shared ssh connections to this test's sshd still running (other tests' run beside it under xdist)."""
    return command_lines(lambda cmd: "runbook-ssh-" in cmd and "ControlPath" in cmd and f" -p {port} " in f"{cmd} ")


def test_wrong_key_and_unknown_host_key_are_clear_errors(tmp_path, sshd):
    backup_dir = make_file_backups(tmp_path, 1)
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    r = run_module("backup_copy", {"backup_dir": backup_dir,
                                   "destination": sshd.destination(str(tmp_path / "x"), identity_file=str(other))})
    assert r.failed and "not accepted" in r["msg"] and "identity_file" in r["msg"], r.result
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    r = run_module("backup_copy", {"backup_dir": backup_dir,
                                   "destination": sshd.destination(str(tmp_path / "x"), known_hosts_file=str(empty))})
    assert r.failed and "known_hosts" in r["msg"], r.result
    assert not (tmp_path / "x").exists()


def test_connection_lost_mid_copy_counts_nothing_and_the_next_run_resumes(tmp_path, sshd):
    backup_dir = make_file_backups(tmp_path, 1, size=3_000_000)
    rec = json.loads(next(Path(backup_dir).glob("*.manifest.json")).read_text())
    local_before = {p.name: p.read_bytes() for p in Path(backup_dir).iterdir()}
    remote = tmp_path / "remote"
    dest = sshd.destination(str(remote))
    args = {"backup_dir": backup_dir, "destination": dest, "bwlimit": 256, "timeout": 5}
    argv = [str(BIN / "ansible"), "localhost", "-m", "runbook.ops.backup_copy", "-a", json.dumps(args)]
    partial = remote / f".partial-copy-{rec['id']}" / rec["id"]
    with subprocess.Popen(argv, cwd=REPO, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        try:
            wait_for(lambda: partial.exists() and partial.stat().st_size > 200_000, 120, "the copy to start")
            sshd.stop()  # the backup host goes away mid-copy
            out, _err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
    sshd.start()
    result = json.loads(out[out.index("{"):])["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert result.get("failed") and result["copies"][0]["status"] == "failed", result
    assert result["copies"][0]["verified"] is False
    assert "retention_skipped" in result
    assert not copy_manifests(remote)
    assert [p.name for p in remote.iterdir()] == [partial.parent.name], "something landed under a final name"
    got = partial.stat().st_size
    assert 0 < got < rec["size"]
    assert {p.name: p.read_bytes() for p in Path(backup_dir).iterdir()} == local_before
    # the next run appends to the partial file and finishes the copy
    r = run_module("backup_copy", {"backup_dir": backup_dir, "destination": dest})
    assert not r.failed and r["copies"][0]["status"] == "copied", r.result
    assert (remote / rec["id"]).read_bytes() == (Path(backup_dir) / rec["id"]).read_bytes()
    assert not partial.parent.exists()


def test_no_secret_or_key_material_in_output(tmp_path, sshd):
    backup_dir = make_file_backups(tmp_path, 1)
    proc = subprocess.run([str(BIN / "ansible"), "localhost", "-m", "runbook.ops.backup_copy", "-a",
                           json.dumps({"backup_dir": backup_dir, "destination": sshd.destination(str(tmp_path / "d"))}),
                           "-vvv"], cwd=REPO, env=ansible_env(), capture_output=True, text=True, check=False)
    key = Path(sshd.client_key).read_text().splitlines()[1]
    assert key not in proc.stdout + proc.stderr
    assert sys.executable  # the key file's path may appear, its contents never do
