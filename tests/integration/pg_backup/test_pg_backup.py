# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_backup against a real PostgreSQL: formats, manifests, snapshot counts, verification, retention."""
from __future__ import annotations

import json
import os
import stat

import pytest
from harness.net import free_port

from pgbk_helpers import backup_args

EXPECTED_COUNTS = {"public.items": 1000, '"Sales"."Order ""Lines"""': 321, "public.empty_one": 0}


def load(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def test_custom_backup_manifest_and_modes(pg, ansible_module, backup_db, backup_dir):
    r = ansible_module("pg_backup", backup_args(pg, backup_dir, backup_db))
    assert not r.failed, r.result
    assert r.changed
    [b] = r["backups"]
    assert b["verified"] == "passed" and b["verification"]["method"] == "list"
    assert os.path.isfile(b["path"]) and b["path"].endswith(".dump")
    assert stat.S_IMODE(os.stat(b["path"]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(backup_dir).st_mode) == 0o700
    m = load(b["manifest"])
    assert m["kind"] == "postgres" and m["name"] == backup_db and m["verified"] == "passed"
    assert m["postgres"]["row_counts"] == EXPECTED_COUNTS
    assert m["postgres"]["format"] == "custom" and m["postgres"]["server_version"].startswith(f"{pg.version}.")
    assert m["files"][0]["sha256"] == b["sha256"] and len(b["sha256"]) == 64
    assert sorted(os.listdir(backup_dir)) == sorted([os.path.basename(b["path"]), os.path.basename(b["manifest"])])
    # the password never appears anywhere
    secret = pg.conn_args()["login_password"]
    assert secret not in json.dumps(r.result) and secret not in json.dumps(m)
    # the counts are read from the archive pg_dump wrote: no exported snapshot, no second read
    assert m["postgres"]["row_counts_from"] == "archive"
    assert not any("--snapshot=" in " ".join(c) for c in r["commands"])


@pytest.mark.parametrize("fmt, extra", [
    ("directory", {"jobs": 2}),
    ("plain", {"compression": "gzip"}),
    ("plain", {"compression": "none"}),
    ("tar", {"compression": "none"}),
])
def test_other_formats_verify_restore(pg, ansible_module, backup_db, backup_dir, fmt, extra):
    r = ansible_module("pg_backup", backup_args(pg, backup_dir, backup_db, format=fmt, verify="restore", **extra))
    assert not r.failed, r.result
    [b] = r["backups"]
    assert b["verified"] == "passed", b
    v = b["verification"]
    assert v["method"] == "restore" and v["row_count_differences"] == [] and v["tables_compared"] == 3
    # the scratch database is gone
    assert pg.psql(f"SELECT count(*) FROM pg_database WHERE datname LIKE '{backup_db}_verify_%'") == "0"
    if fmt == "directory":
        assert os.path.isdir(b["path"]) and len(b["files"]) >= 4
        assert stat.S_IMODE(os.stat(b["path"]).st_mode) == 0o700
    m = load(b["manifest"])
    assert m["postgres"]["row_counts"] == EXPECTED_COUNTS


def test_snapshot_counts_match_dump_under_concurrent_writes(pg, ansible_module, backup_db, backup_dir):
    # the counts must be those of the dump's snapshot: restore-verify compares them exactly
    r = ansible_module("pg_backup", backup_args(pg, backup_dir, backup_db, verify="restore"))
    assert r["backups"][0]["verified"] == "passed"


@pytest.mark.parametrize("verify", ["list", "restore"])
def test_without_row_counts(pg, ansible_module, backup_db, backup_dir, verify):
    r = ansible_module("pg_backup", backup_args(pg, backup_dir, backup_db, verify=verify, row_counts=False))
    assert not r.failed, r.result
    [b] = r["backups"]
    assert b["verified"] == "passed", b
    assert b["tables"] is None and b["total_rows"] is None
    m = load(b["manifest"])
    assert m["postgres"]["snapshot_row_counts"] is False and m["postgres"]["row_counts"] is None
    # no exported snapshot: pg_dump takes its own
    assert not any("--snapshot=" in " ".join(c) for c in r["commands"])
    if verify == "restore":
        assert "row_counts=false" in b["verification"]["row_counts"]
        assert pg.psql(f"SELECT count(*) FROM pg_database WHERE datname LIKE '{backup_db}_verify_%'") == "0"


def test_zstd_on_pg15_is_a_clear_error(pg, ansible_module, backup_db, backup_dir):
    if pg.version >= 16:
        pytest.skip("pg_dump 16+ has zstd: tests/integration/matrix covers each major's compressions")
    r = ansible_module("pg_backup", backup_args(pg, backup_dir, backup_db, compression="zstd"))
    assert r.failed
    assert "zstd needs pg_dump 16" in r["msg"]
    assert not os.path.exists(backup_dir) or os.listdir(backup_dir) == []


@pytest.mark.parametrize("args, text", [
    ({"jobs": 2}, "jobs: parallel dumps need format=directory"),
    ({"format": "tar", "compression": "gzip"}, "tar format does not support compression"),
    ({"keep_last": 0}, "keep_last"),
    ({"databases": ["no_such_db_x"]}, "no_such_db_x"),
    ({"tool_timeout": -1}, "tool_timeout: must be 0 (no bound) or a number of seconds, got -1"),
])
def test_bad_options(pg, ansible_module, backup_db, backup_dir, args, text):
    a = backup_args(pg, backup_dir, backup_db)
    a.update(args)
    r = ansible_module("pg_backup", a)
    assert r.failed and text in r["msg"], r.result


def test_pg_dump_older_than_server_is_refused(pg, ansible_module, backup_db, backup_dir, tmp_path):
    fake = tmp_path / "bin" / "pg_dump"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 13.9'\n")
    fake.chmod(0o755)
    r = ansible_module("pg_backup", backup_args(pg, backup_dir, backup_db, pg_dump_path=str(fake)))
    assert r.failed and "pg_dump 13" in r["msg"] and "older than the server" in r["msg"]


def test_wrong_password_and_server_down(pg, ansible_module, backup_db, backup_dir):
    a = backup_args(pg, backup_dir, backup_db, login_password="wrong")
    r = ansible_module("pg_backup", a)
    assert r.failed and "authentication failed" in r["msg"]
    assert "wrong" not in r["msg"]
    a = backup_args(pg, backup_dir, backup_db, login_port=free_port(), connect_timeout=3)
    r = ansible_module("pg_backup", a)
    assert r.failed and "cannot connect to PostgreSQL" in r["msg"], r.result
