# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure logic of the off-host copies: what a manifest may name, which copy manifests are ours, when a remote
copy counts, and remote retention through the local engine (plan_retention)."""
from __future__ import annotations

import json

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
from ansible_collections.runbook.ops.plugins.module_utils import _offsite_manifest as M
from ansible_collections.runbook.ops.plugins.module_utils._dest_base import OffsiteError
from ansible_collections.runbook.ops.plugins.module_utils._dest_s3 import S3Destination
from ansible_collections.runbook.ops.plugins.module_utils._dest_ssh import SshDestination
from ansible_collections.runbook.ops.plugins.module_utils._ratelimit import RateLimiter


@pytest.mark.parametrize("rel", ["../x", "/etc/passwd", "a/../../b", "a//b", ".partial-copy-x/y", "", "a\\b", "./a"])
def test_unsafe_paths_from_manifests_are_refused(rel):
    with pytest.raises(OffsiteError):
        M.check_relpath(rel)


@pytest.mark.parametrize("rel", ["app-1.dump", "db-20261130T000000_000000Z.dir/toc.dat", "x/3001.dat.gz"])
def test_plain_relative_paths_pass(rel):
    assert M.check_relpath(rel) == rel


def doc(**extra):
    d = {"format": M.COPY_FORMAT, "version": 1, "kind": "postgres", "name": "app", "id": "app-1.dump",
         "backup_finished_at": "2026-11-30T01:00:00.000000Z", "verified": "passed", "copied_at": "2026-11-30T01:05:00Z",
         "files": [{"path": "app-1.dump", "size": 10, "sha256": "0" * 64},
                   {"path": "app-1.dump.manifest.json", "size": 5, "sha256": "1" * 64}]}
    d.update(extra)
    return json.dumps(d).encode()


def test_only_well_formed_copy_manifests_are_ours():
    assert M.parse_copy_manifest(doc())["id"] == "app-1.dump"
    assert M.parse_copy_manifest(b"not json") is None
    assert M.parse_copy_manifest(json.dumps({"format": "something else"}).encode()) is None
    assert M.parse_copy_manifest(doc(id="../evil")) is None
    assert M.parse_copy_manifest(doc(files=[{"path": "../../etc/cron.d/x", "size": 1, "sha256": "0"}])) is None
    assert M.parse_copy_manifest(doc(backup_finished_at="yesterday")) is None


def test_a_copy_counts_only_when_complete_and_verified():
    d = M.parse_copy_manifest(doc())
    full = {"app-1.dump": 10, "app-1.dump.manifest.json": 5}
    assert M.remote_record(d, full, "file:///x").countable
    assert not M.remote_record(d, {"app-1.dump": 9, "app-1.dump.manifest.json": 5}, "file:///x").countable
    assert not M.remote_record(d, {"app-1.dump.manifest.json": 5}, "file:///x").countable
    failed = M.parse_copy_manifest(doc(verified="failed"))
    assert not M.remote_record(failed, full, "file:///x").countable


def test_remote_retention_uses_the_local_engine_and_keeps_the_newest():
    records = []
    listing = {}
    for day in range(1, 6):
        i = f"app-{day}.dump"
        d = M.parse_copy_manifest(doc(id=i, backup_finished_at=f"2026-11-0{day}T01:00:00Z",
                                      files=[{"path": i, "size": 1, "sha256": "0" * 64}]))
        listing[i] = 1
        records.append(M.remote_record(d, listing, "s3://b/p"))
    plan = B.plan_retention(records, keep_last=2, now=B.parse_time("2026-11-10T00:00:00Z"))
    assert sorted(d.record.id for d in plan.delete) == ["app-1.dump", "app-2.dump", "app-3.dump"]
    assert [d.record.id for d in plan.keep][0] == "app-5.dump"
    plan = B.plan_retention(records, keep_last=1, max_age_days=0, now=B.parse_time("2027-01-01T00:00:00Z"))
    assert [d.record.id for d in plan.keep] == ["app-5.dump"]


def test_rate_limiter_chunks():
    assert RateLimiter(0).chunk() == 1024 * 1024
    assert RateLimiter(64).chunk() == 16 * 1024
    assert RateLimiter(100_000).chunk() == 1024 * 1024


def test_urls_never_hold_credentials():
    s3 = S3Destination({"type": "s3", "bucket": "b", "prefix": "/p/q/", "access_key": "AKIDSECRET", "secret_key": "sekrit",
                       "endpoint_url": "http://127.0.0.1:1", "region": "us-east-1", "sse": "AES256"}, 5)
    assert s3.url == "s3://b/p/q" and s3.key("x") == "p/q/x" and s3.extra == {"ServerSideEncryption": "AES256"}
    ssh = SshDestination({"type": "ssh", "host": "backup1", "user": "backups", "port": 2222, "path": "/srv/b/"}, 5)
    assert ssh.url == "ssh://backups@backup1:2222/srv/b"
    argv = ssh._argv("true")  # pylint: disable=protected-access
    assert "BatchMode=yes" in argv and argv[-3:] == ["backup1", "--", "true"]
    with pytest.raises(OffsiteError, match="destination.path"):
        SshDestination({"type": "ssh", "host": "h", "path": "relative"}, 5)
    with pytest.raises(OffsiteError, match="sse_kms_key_id"):
        S3Destination({"type": "s3", "bucket": "b", "sse": "none", "sse_kms_key_id": "k"}, 5)
