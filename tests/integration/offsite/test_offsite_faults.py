# SPDX-License-Identifier: GPL-3.0-or-later
"""Off-host copies under faults, against real servers (OpenSSH on a loopback port, moto's S3 API server):
the link cut in the middle of a file (a loopback TCP proxy that drops the connection after N bytes), a
destination that fills up (a small tmpfs), a backup host whose host key changed. In each case the copy does
not count (no copy manifest), the local backup is untouched, the module result and the run report show the
failure, and the next run, the fault removed, finishes the copy."""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from offsite_helpers import BUCKET, copy_manifests, make_file_backups

from ansible_collections.runbook.ops.plugins.module_utils import _run_report_merge as M
from ansible_collections.runbook.ops.plugins.module_utils import _run_report_metrics as PM
from harness.ansible import run_module
from harness.cutproxy import CutProxy
from harness.fs import remount, small_tmpfs as fs_small_tmpfs

SIZE = 600_000  # random data: the archive is about as large, the cut comes well inside it
CUT = 200_000


def checksums(directory) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(directory).iterdir())}


def assert_failure_reported(result: dict, destination: str) -> None:
    """The failed copy is a critical problem of the run report and gives no 'last verified' metric."""
    rep = M.merge([{"schedule": "backup", "host": "db1", "stamp": "20261202T020000Z", "check_mode": False,
                    "results": {"backup_copy": [result]}, "source": "/r/x.json"}], "backup", "20261202T020000Z")
    assert [o["status"] for o in rep["offsite"]] == ["failed"] and rep["hosts"][0]["status"] == "critical", rep
    assert "runbook_backup_offsite_last_verified_timestamp_seconds{" + f'destination="{destination}"' \
        not in PM.render_metrics(rep)


def proxied_known_hosts(sshd, port: int, path: Path) -> str:
    pub = Path(f"{sshd.host_key}.pub").read_text().split()
    path.write_text(f"[127.0.0.1]:{port} {pub[0]} {pub[1]}\n")
    return str(path)


def test_ssh_link_cut_mid_file_counts_nothing_and_the_next_run_finishes(tmp_path, sshd):
    backup_dir = make_file_backups(tmp_path, 1, size=SIZE)
    before = checksums(backup_dir)
    remote = tmp_path / "remote"
    with CutProxy(sshd.port, cut_after=CUT) as proxy:
        dest = sshd.destination(str(remote), port=proxy.port,
                                known_hosts_file=proxied_known_hosts(sshd, proxy.port, tmp_path / "kh"))
        r = run_module("backup_copy", {"backup_dir": backup_dir, "destination": dest, "timeout": 5})
        assert proxy.cuts >= 1
        assert r.failed and r["copies"][0]["status"] == "failed" and r["copies"][0]["verified"] is False, r.result
        assert "ssh to" in r["copies"][0]["msg"] and "connection" in r["copies"][0]["msg"], r.result
        assert "retention_skipped" in r.result
        assert not copy_manifests(remote)
        assert not [p for p in remote.iterdir() if not p.name.startswith(".partial")] if remote.exists() else True
        assert checksums(backup_dir) == before
        assert_failure_reported(r.result, r["destination"])

        proxy.cut_after = None  # the link is back
        again = run_module("backup_copy", {"backup_dir": backup_dir, "destination": dest})
        assert not again.failed and again["copies"][0]["status"] == "copied", again.result
    rec_id = again["copies"][0]["id"]
    assert list(copy_manifests(remote)) == [rec_id]
    assert (remote / rec_id).read_bytes() == (Path(backup_dir) / rec_id).read_bytes()
    assert checksums(backup_dir) == before


def test_s3_link_cut_mid_file_counts_nothing_and_the_next_run_finishes(tmp_path, moto):
    backup_dir = make_file_backups(tmp_path, 1, size=SIZE)
    before = checksums(backup_dir)
    prefix = "faults/cut"
    port = int(moto.url.rsplit(":", 1)[1])
    with CutProxy(port, cut_after=CUT) as proxy:
        dest = {"type": "s3", "bucket": BUCKET, "prefix": prefix, "endpoint_url": f"http://127.0.0.1:{proxy.port}",
                "region": "us-east-1", "access_key": moto.key, "secret_key": moto.secret}
        r = run_module("backup_copy", {"backup_dir": backup_dir, "destination": dest, "timeout": 5})
        assert proxy.cuts >= 1
        assert r.failed and r["copies"][0]["status"] == "failed" and r["copies"][0]["verified"] is False, r.result
        assert "uploading" in r["copies"][0]["msg"], r.result
        listed = moto.client().list_objects_v2(Bucket=BUCKET, Prefix=prefix + "/").get("Contents", [])
        assert not [o for o in listed if o["Key"].endswith(".copy.json")], listed
        assert checksums(backup_dir) == before
        assert_failure_reported(r.result, r["destination"])

        proxy.cut_after = None
        again = run_module("backup_copy", {"backup_dir": backup_dir, "destination": dest})
        assert not again.failed and again["copies"][0]["status"] == "copied", again.result
    rec_id = again["copies"][0]["id"]
    body = moto.client().get_object(Bucket=BUCKET, Key=f"{prefix}/{rec_id}")["Body"].read()
    assert body == (Path(backup_dir) / rec_id).read_bytes()
    assert moto.client().head_object(Bucket=BUCKET, Key=f"{prefix}/{rec_id}.copy.json")
    assert checksums(backup_dir) == before


@pytest.fixture
def small_tmpfs(tmp_path):
    with fs_small_tmpfs(tmp_path / "backuphost", "300k") as mnt:
        yield mnt


def test_ssh_destination_that_fills_up_counts_nothing_and_the_next_run_finishes(tmp_path, sshd, small_tmpfs):
    backup_dir = make_file_backups(tmp_path, 1, size=SIZE)
    before = checksums(backup_dir)
    remote = small_tmpfs / "db1"
    dest = sshd.destination(str(remote))
    r = run_module("backup_copy", {"backup_dir": backup_dir, "destination": dest})
    assert r.failed and r["copies"][0]["status"] == "failed" and r["copies"][0]["verified"] is False, r.result
    assert "No space left on device" in r["copies"][0]["msg"], r.result
    assert not copy_manifests(remote)
    assert not [p for p in remote.iterdir() if not p.name.startswith(".partial")]
    assert checksums(backup_dir) == before
    assert_failure_reported(r.result, r["destination"])

    remount(small_tmpfs, "size=4m")  # room made on the backup host
    again = run_module("backup_copy", {"backup_dir": backup_dir, "destination": dest})
    assert not again.failed and again["copies"][0]["status"] == "copied", again.result
    rec_id = again["copies"][0]["id"]
    assert list(copy_manifests(remote)) == [rec_id]
    assert (remote / rec_id).read_bytes() == (Path(backup_dir) / rec_id).read_bytes()
    assert not [p for p in remote.iterdir() if p.name.startswith(".partial")]
    assert checksums(backup_dir) == before


def test_changed_host_key_is_refused_naming_the_key_and_the_next_run_finishes(tmp_path, sshd):
    backup_dir = make_file_backups(tmp_path, 1)
    before = checksums(backup_dir)
    remote = tmp_path / "remote"
    old = tmp_path / "old_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(old)], check=True)
    pub = Path(f"{old}.pub").read_text().split()
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {pub[0]} {pub[1]}\n")  # the key the host had before
    dest = sshd.destination(str(remote), known_hosts_file=str(known), host_key_checking="yes")
    r = run_module("backup_copy", {"backup_dir": backup_dir, "destination": dest})
    assert r.failed, r.result
    fingerprint = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", f"{sshd.host_key}.pub"], check=True,
                                 capture_output=True, text=True).stdout.split()[1]
    msg = r["msg"]
    assert "host key has changed" in msg and f"ED25519 host key {fingerprint}," in msg, msg
    assert f"key at {known}:1" in msg and "destination.known_hosts_file" in msg and "host_key_checking: yes" in msg
    assert "@@@" not in msg
    assert not remote.exists()
    assert checksums(backup_dir) == before
    if r.get("copies"):
        assert_failure_reported(r.result, r["destination"])

    proxied_known_hosts(sshd, sshd.port, known)  # the operator checked the new key and recorded it
    again = run_module("backup_copy", {"backup_dir": backup_dir, "destination": dest})
    assert not again.failed and again["copies"][0]["status"] == "copied", again.result
    assert list(copy_manifests(remote)) == [again["copies"][0]["id"]]
    assert checksums(backup_dir) == before
