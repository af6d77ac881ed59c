# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_restore against a real PostgreSQL: latest, checksum refusal, ON_ERROR_STOP, row-count comparison."""
from __future__ import annotations

import gzip
import json
import os

import pytest

from pgbk_helpers import backup_args, flip_byte


def restore_args(pg, **extra):
    args = dict(pg.conn_args())
    args.update(extra)
    return args


@pytest.mark.parametrize("fmt, extra", [
    ("custom", {"jobs": 2}),
    ("directory", {"jobs": 2}),
    ("plain", {}),
    ("tar", {}),
])
def test_restore_latest_into_new_database(pg, ansible_module, restore_db, backup_dir, fmt, extra):
    db, made = restore_db
    comp = {"compression": "none"} if fmt == "tar" else {}
    r = ansible_module("pg_backup", backup_args(pg, backup_dir, db, format=fmt, **comp))
    assert not r.failed, r.result
    target = f"{db}_drill"
    made.append(target)
    args = restore_args(pg, backup="latest", backup_dir=backup_dir, database=db, target_database=target,
                        create=True, **extra)
    check = ansible_module("pg_restore", args, check=True)
    assert not check.failed and check.changed and check["created_database"], check.result
    assert pg.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{target}'") == "0"
    res = ansible_module("pg_restore", args)
    assert not res.failed, res.result
    assert res.changed and res["checksum"] == "ok" and res["row_count_differences"] == []
    assert res["tables_compared"] == 3 and res["backup"] == r["backups"][0]["path"]
    assert pg.psql('SELECT count(*) FROM "Sales"."Order ""Lines"""', database=target) == "321"
    assert pg.conn_args()["login_password"] not in json.dumps(res.result)


def test_latest_picks_newest_verified_and_ignores_leftovers_and_unverified(pg, ansible_module, restore_db, backup_dir):
    db, made = restore_db
    first = ansible_module("pg_backup", backup_args(pg, backup_dir, db))["backups"][0]
    pg.psql("INSERT INTO items VALUES (5000, 'later')", database=db)
    ansible_module("pg_backup", backup_args(pg, backup_dir, db, verify="none"))
    # a leftover of an interrupted run and a foreign file
    with open(os.path.join(backup_dir, f".partial-999999-{db}-x.dump"), "wb") as fh:
        fh.write(b"PGDMP half")
    with open(os.path.join(backup_dir, f"{db}-zzzz.dump"), "wb") as fh:
        fh.write(b"not ours")
    target = f"{db}_latest"
    made.append(target)
    res = ansible_module("pg_restore", restore_args(pg, backup="latest", backup_dir=backup_dir, database=db,
                                                    target_database=target, create=True))
    assert not res.failed, res.result
    assert res["backup"] == first["path"]
    assert pg.psql("SELECT count(*) FROM items", database=target) == "1000"


def test_flipped_byte_fails_verification_and_restore_refuses(pg, ansible_module, restore_db, backup_dir):
    db, made = restore_db
    b = ansible_module("pg_backup", backup_args(pg, backup_dir, db))["backups"][0]
    flip_byte(b["path"])
    target = f"{db}_flip"
    made.append(target)
    res = ansible_module("pg_restore", restore_args(pg, backup=b["path"], target_database=target, create=True))
    assert res.failed and "checksum verification" in res["msg"] and "refusing" in res["msg"], res.result
    assert pg.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{target}'") == "0"
    # latest also refuses (the only verified backup is damaged): checksum checked before restoring
    res = ansible_module("pg_restore", restore_args(pg, backup="latest", backup_dir=backup_dir, database=db,
                                                    target_database=target, create=True))
    assert res.failed and "checksum" in res["msg"]


def test_flipped_byte_detected_by_backup_verification(pg, ansible_module, restore_db, backup_dir):
    """A byte flipped between writing and verifying: verify=list re-hashes from disk. Here we simulate
    the later check by re-running verification logic through pg_restore in check mode."""
    db, _made = restore_db
    b = ansible_module("pg_backup", backup_args(pg, backup_dir, db, format="directory"))["backups"][0]
    toc = os.path.join(b["path"], "toc.dat")
    flip_byte(toc, 10)
    res = ansible_module("pg_restore", restore_args(pg, backup=b["path"], target_database=db), check=True)
    assert res.failed and "toc.dat" in res["msg"]


def test_plain_sql_error_fails_and_commits_nothing(pg, ansible_module, restore_db, backup_dir):
    db, made = restore_db
    b = ansible_module("pg_backup", backup_args(pg, backup_dir, db, format="plain", compression="gzip"))["backups"][0]
    # make a copy whose SQL contains an error, with a manifest whose checksum matches (a bad dump, not a damaged file)
    with gzip.open(b["path"], "rb") as fh:
        text = fh.read()
    bad_text = text.replace(b"\\.\n", b"\\.\nSELECT this_is_not_sql();\n", 1)
    assert bad_text != text
    bad_path = b["path"].replace(".sql.gz", "_bad.sql.gz")
    with gzip.open(bad_path, "wb") as fh:
        fh.write(bad_text)
    import hashlib
    with open(b["manifest"], encoding="utf-8") as fh:
        m = json.load(fh)
    m["files"] = [{"path": os.path.basename(bad_path), "size": os.path.getsize(bad_path),
                   "sha256": hashlib.sha256(open(bad_path, "rb").read()).hexdigest()}]
    m["path"] = m["id"] = os.path.basename(bad_path)
    with open(bad_path + ".manifest.json", "w", encoding="utf-8") as fh:
        json.dump(m, fh)
    target = f"{db}_bad"
    made.append(target)
    res = ansible_module("pg_restore", restore_args(pg, backup=bad_path, target_database=target, create=True))
    assert res.failed and "this_is_not_sql" in res["msg"] and "ON_ERROR_STOP" in " ".join(res["commands"][0])
    # single transaction: nothing of the dump was committed; and the database the run created is dropped again
    assert "created was dropped" in res["msg"] and res["dropped_database"] is True
    assert pg.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{target}'") == "0"


def test_row_count_mismatch_fails(pg, ansible_module, restore_db, backup_dir):
    db, _made = restore_db
    b = ansible_module("pg_backup", backup_args(pg, backup_dir, db))["backups"][0]
    # restore into the (modified) source itself with clean: counts are back to the manifest's
    pg.psql("DELETE FROM items WHERE id <= 10", database=db)
    ok = ansible_module("pg_restore", restore_args(pg, backup=b["path"], clean=True, if_exists=True))
    assert not ok.failed and ok["row_count_differences"] == [], ok.result
    # a manifest claiming other counts: the comparison reports it
    with open(b["manifest"], encoding="utf-8") as fh:
        m = json.load(fh)
    m["postgres"]["row_counts"]["public.items"] = 999
    with open(b["manifest"], "w", encoding="utf-8") as fh:
        json.dump(m, fh)
    bad = ansible_module("pg_restore", restore_args(pg, backup=b["path"], clean=True, if_exists=True))
    assert bad.failed and bad["row_count_differences"] == [{"table": "public.items", "expected": 999, "actual": 1000}]


def test_backup_without_row_counts_restores_with_a_warning(pg, ansible_module, restore_db, backup_dir):
    db, made = restore_db
    r = ansible_module("pg_backup", backup_args(pg, backup_dir, db, row_counts=False))
    assert not r.failed, r.result
    target = f"{db}_nocounts"
    made.append(target)
    args = restore_args(pg, backup="latest", backup_dir=backup_dir, database=db, target_database=target, create=True)
    res = ansible_module("pg_restore", args)
    assert not res.failed, res.result
    assert res["tables_compared"] == 0 and res["row_count_differences"] == []
    assert any("has no row counts" in w for w in res.get("warnings", [])), res.result
    assert pg.psql('SELECT count(*) FROM "Sales"."Order ""Lines"""', database=target) == "321"


@pytest.mark.parametrize("args, text", [
    ({"backup": "latest"}, "backup_dir"),
    ({"backup": "/nonexistent/x.dump"}, "no manifest"),
    ({"backup": "/nonexistent/x.dump", "tool_timeout": -1}, "tool_timeout: must be 0 (no bound) or a number of seconds, got -1"),
])
def test_bad_input(pg, ansible_module, args, text):
    res = ansible_module("pg_restore", restore_args(pg, **args))
    assert res.failed and text in res["msg"], res.result


def test_missing_target_without_create(pg, ansible_module, restore_db, backup_dir):
    db, _made = restore_db
    b = ansible_module("pg_backup", backup_args(pg, backup_dir, db))["backups"][0]
    res = ansible_module("pg_restore", restore_args(pg, backup=b["path"], target_database="nope_not_here"))
    assert res.failed and "create=true" in res["msg"]


def test_latest_without_verified_backup(pg, ansible_module, restore_db, backup_dir):
    db, _made = restore_db
    ansible_module("pg_backup", backup_args(pg, backup_dir, db, verify="none"))
    res = ansible_module("pg_restore", restore_args(pg, backup="latest", backup_dir=backup_dir, database=db))
    assert res.failed and "no trustworthy backup" in res["msg"]
