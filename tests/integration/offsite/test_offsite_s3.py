# SPDX-License-Identifier: GPL-3.0-or-later
"""backup_copy / backup_fetch against an S3 API emulator (moto in server mode on a loopback port, with
signature and IAM checks on): no real object store can run on these machines."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from offsite_helpers import BUCKET, make_file_backups

from harness.ansible import BIN, REPO, ansible_env, run_module
from harness.net import free_port


def s3dest(moto, prefix, creds=True, **extra):
    d = {"type": "s3", "bucket": BUCKET, "prefix": prefix, "endpoint_url": moto.url, "region": "us-east-1"}
    if creds:
        d.update(access_key=moto.key, secret_key=moto.secret)
    d.update(extra)
    return d


def keys(moto, prefix):
    resp = moto.client().list_objects_v2(Bucket=BUCKET, Prefix=prefix + "/")
    return sorted(o["Key"][len(prefix) + 1:] for o in resp.get("Contents", []))


def copies_at(moto, prefix):
    return {k[:-len(".copy.json")]: json.loads(moto.client().get_object(Bucket=BUCKET, Key=f"{prefix}/{k}")["Body"].read())
            for k in keys(moto, prefix) if k.endswith(".copy.json")}


def test_copy_with_env_credentials_sse_retention_and_fetch(tmp_path, moto):
    backup_dir = make_file_backups(tmp_path, 3)
    prefix = "runbook/db1"
    env = {"AWS_ACCESS_KEY_ID": moto.key, "AWS_SECRET_ACCESS_KEY": moto.secret}
    dest = s3dest(moto, prefix, creds=False, sse="AES256")
    args = {"backup_dir": backup_dir, "destination": dest, "keep_last": 2}
    check = run_module("backup_copy", args, check=True, env=env)
    assert check.changed and not keys(moto, prefix), check.result
    r = run_module("backup_copy", args, env=env)
    assert not r.failed, r.get("msg")
    assert r["destination"] == f"s3://{BUCKET}/{prefix}"
    assert [c["status"] for c in r["copies"]] == ["copied"] * 3 and all(c["verified"] for c in r["copies"])
    c0 = r["copies"][0]
    body = moto.client().get_object(Bucket=BUCKET, Key=f"{prefix}/{c0['id']}")
    assert body["Body"].read() == Path(c0["backup"]).read_bytes()
    assert body["ServerSideEncryption"] == "AES256"
    docs = copies_at(moto, prefix)
    assert set(docs) == {c["id"] for c in r["copies"]} and docs[c0["id"]]["verified"] == "passed"
    assert moto.key not in json.dumps(docs) and moto.secret not in json.dumps(r.result)
    again = run_module("backup_copy", args, env=env)
    assert [c["status"] for c in again["copies"]] == ["present"] * 3
    assert len(again["deleted"]) == 1 and len(copies_at(moto, prefix)) == 2
    assert not any(k.startswith(c0["id"]) for k in keys(moto, prefix))

    newest = r["copies"][-1]
    f = run_module("backup_fetch", {"destination": dest, "kind": "files", "name": "app",
                                    "dest_dir": str(tmp_path / "restore")}, env=env)
    assert not f.failed and f["id"] == newest["id"] and f["checksum"] == "ok", f.result
    assert Path(f["backup"]).read_bytes() == Path(newest["backup"]).read_bytes()


def test_corrupted_object_is_recopied_and_unfinished_copy_is_completed(tmp_path, moto):
    backup_dir = make_file_backups(tmp_path, 2)
    prefix = "corrupt"
    dest = s3dest(moto, prefix)
    first = run_module("backup_copy", {"backup_dir": backup_dir, "destination": dest, "names": ["app"]})
    assert not first.failed, first.result
    victim = first["copies"][0]
    data = bytearray(Path(victim["backup"]).read_bytes())
    data[500] ^= 0xFF
    moto.client().put_object(Bucket=BUCKET, Key=f"{prefix}/{victim['id']}", Body=bytes(data))
    # an upload that finished without its copy manifest (the run died before committing it)
    other = first["copies"][1]
    moto.client().delete_object(Bucket=BUCKET, Key=f"{prefix}/{other['id']}.copy.json")
    r = run_module("backup_copy", {"backup_dir": backup_dir, "destination": dest})
    assert not r.failed, r.get("msg")
    assert r["copies"][0]["status"] == "copied" and "re-copied" in r["copies"][0]["msg"]
    assert r["copies"][1]["status"] == "copied"
    got = moto.client().get_object(Bucket=BUCKET, Key=f"{prefix}/{victim['id']}")["Body"].read()
    assert got == Path(victim["backup"]).read_bytes()
    assert set(copies_at(moto, prefix)) == {victim["id"], other["id"]}


def test_wrong_credentials_and_unreachable_endpoint_are_clear_errors(tmp_path, moto):
    backup_dir = make_file_backups(tmp_path, 1)
    r = run_module("backup_copy", {"backup_dir": backup_dir,
                                   "destination": s3dest(moto, "wrong", secret_key="not-the-secret")})
    assert r.failed and "rejected the credentials" in r["msg"] and "access_key" in r["msg"], r.result
    assert "not-the-secret" not in json.dumps(r.result)
    assert not keys(moto, "wrong")
    port = free_port()
    r = run_module("backup_copy", {"backup_dir": backup_dir, "timeout": 3,
                                   "destination": s3dest(moto, "x", endpoint_url=f"http://127.0.0.1:{port}")})
    assert r.failed and "unreachable" in r["msg"], r.result
    r = run_module("backup_copy", {"backup_dir": backup_dir, "destination": s3dest(moto, "x", bucket="no-such-bucket-here")})
    assert r.failed and "does not exist" in r["msg"], r.result
    r = run_module("backup_copy", {"backup_dir": backup_dir, "destination": {"type": "s3", "prefix": "x"}})
    assert r.failed and "destination.bucket" in r["msg"]


@pytest.mark.parametrize("opt", ["secret_key", "access_key"])
def test_secrets_never_in_output(tmp_path, moto, opt):
    backup_dir = make_file_backups(tmp_path, 1)
    args = {"backup_dir": backup_dir, "destination": s3dest(moto, "secrets")}
    proc = subprocess.run([str(BIN / "ansible"), "localhost", "-m", "runbook.ops.backup_copy", "-a", json.dumps(args),
                           "-vvv"], cwd=REPO, env=ansible_env(), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    secret = moto.secret if opt == "secret_key" else moto.key
    assert secret not in proc.stdout + proc.stderr


def test_multipart_upload_with_bandwidth_limit_reader(tmp_path, moto, monkeypatch):
    """Large files go up in parts; the rate-limited reader must hand boto3 whole parts (S3 refuses parts
    under 5 MiB). Run in-process against the emulator with a lower threshold, to keep the file small."""
    sys.path.insert(0, str(REPO / "collections"))
    # pylint: disable=import-outside-toplevel
    from ansible_collections.runbook.ops.plugins.module_utils._dest_s3 import S3Destination
    from ansible_collections.runbook.ops.plugins.module_utils._ratelimit import RateLimiter

    monkeypatch.setattr(S3Destination, "multipart_threshold", 6 * 1024 * 1024)
    monkeypatch.setattr(S3Destination, "multipart_chunksize", 5 * 1024 * 1024)
    data = os.urandom(12 * 1024 * 1024 + 123)
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    dest = S3Destination(s3dest(moto, "multipart"), 30)
    dest.upload(str(local), "big.bin", 0, RateLimiter(0))
    assert dest.sha256(["big.bin"]) == {"big.bin": hashlib.sha256(data).hexdigest()}
    head = moto.client().head_object(Bucket=BUCKET, Key="multipart/big.bin")
    assert head["ContentLength"] == len(data) and "-3" in head["ETag"]  # three parts
