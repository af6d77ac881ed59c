# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 15, class 2: clocks that lie. A backup directory holding a manifest dated a year ahead (a host
whose clock was wrong, a copied directory): the backup a run makes is never deleted by its own
retention, the future-dated one never outranks it (it is kept, with a warning naming its manifest),
and ``latest`` restores the most recent trustworthy backup. Real PostgreSQL, Redis and files.
"""
from __future__ import annotations

import os

YEAR = 365


def _warned(r, manifest_path: str) -> bool:
    return any(manifest_path in w and "future" in w for w in r.get("warnings", []))


def test_pg_backup_and_restore_with_a_manifest_a_year_ahead(pg, fresh_db, backup_dir, ansible_module, shift_manifest):
    db = fresh_db("hdclock")
    pg.psql("CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 3)", database=db)
    args = dict(pg.conn_args(), backup_dir=backup_dir, databases=[db], keep_last=1)
    stale = ansible_module("pg_backup", args)
    assert not stale.failed, stale.result
    stale_bk = stale["backups"][0]
    shift_manifest(stale_bk["manifest"], YEAR)
    pg.psql("INSERT INTO t SELECT generate_series(4, 5)", database=db)

    chk = ansible_module("pg_backup", args, check=True)
    assert chk["deleted"] == [] and _warned(chk, stale_bk["manifest"]), chk.result
    r = ansible_module("pg_backup", args)
    assert not r.failed, r.result
    new = r["backups"][0]
    assert new["verified"] == "passed"
    assert os.path.exists(new["path"]) and os.path.exists(new["manifest"]), "the run deleted its own backup"
    assert os.path.exists(stale_bk["path"]), "a future-dated backup is kept (its true age is unknown)"
    assert r["deleted"] == [] and _warned(r, stale_bk["manifest"]), r.result
    reasons = {d["path"]: d["reason"] for d in r["retention"][db]["keep"]}
    assert "made by this run" in reasons[new["path"]] and "future" in reasons[stale_bk["path"]]

    # latest = the most recent trustworthy backup (the new one, 5 rows), not the one dated a year ahead
    target = fresh_db("hdclock_rs")
    pg.psql(f'DROP DATABASE "{target}"')
    rs = ansible_module("pg_restore", dict(pg.conn_args(), backup="latest", backup_dir=backup_dir, database=db,
                                           target_database=target, create=True))
    assert not rs.failed, rs.result
    assert rs["backup"] == new["path"] and _warned(rs, stale_bk["manifest"])
    assert pg.psql("SELECT count(*) FROM t", database=target) == "5"

    # a later run with a correct clock still keeps one trustworthy backup plus the future-dated one
    r2 = ansible_module("pg_backup", args)
    assert r2["deleted"] == [new["path"]] and os.path.exists(stale_bk["path"])


def test_redis_backup_and_restore_with_a_manifest_a_year_ahead(restartable_redis, backup_dir, ansible_module, shift_manifest):
    srv, commands = restartable_redis
    c = srv.client()
    c.mset({f"old:{i}": "1" for i in range(3)})
    args = dict(srv.conn_args(), backup_dir=backup_dir, name="clock", keep_last=1)
    stale = ansible_module("redis_backup", args)
    assert not stale.failed, stale.result
    shift_manifest(stale["backup"]["manifest"], YEAR)
    c.mset({f"new:{i}": "1" for i in range(4)})
    r = ansible_module("redis_backup", args)
    assert not r.failed, r.result
    assert os.path.exists(r["backup"]["path"]) and os.path.exists(stale["backup"]["path"])
    assert r["deleted"] == [] and _warned(r, stale["backup"]["manifest"]), r.result
    c.flushall()
    rs = ansible_module("redis_restore", dict(srv.conn_args(), backup_dir=backup_dir, name="clock", **commands))
    assert not rs.failed, rs.result
    assert rs["src"] == r["backup"]["path"] and _warned(rs, stale["backup"]["manifest"])
    assert srv.client().dbsize() == 7


def test_file_backup_with_a_manifest_a_year_ahead(tmp_path, backup_dir, ansible_module, shift_manifest):
    src = tmp_path / "data"
    src.mkdir()
    (src / "a").write_text("a")
    args = dict(name="clock", paths=[str(src)], backup_dir=backup_dir, keep_last=1)
    stale = ansible_module("file_backup", args)
    shift_manifest(stale["backup"]["manifest"], YEAR)
    r = ansible_module("file_backup", args)
    assert not r.failed, r.result
    assert os.path.exists(r["backup"]["path"]) and os.path.exists(stale["backup"]["path"])
    assert r["deleted"] == [] and _warned(r, stale["backup"]["manifest"]), r.result
