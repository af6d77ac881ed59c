# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 15, class 4: an option that selects what to delete (or cancel, terminate, archive) takes the
user's string whole. Ansible splits a string given to a list option at its commas, so such options
refuse a comma-containing string (naming the option) and singular options take it whole.

One test per module, against real servers and files.
"""
from __future__ import annotations

import os

from integration.pg_report.pg_sessions import activity


def assert_refused(r, option: str) -> None:
    assert r.failed, r.result
    assert r["msg"].startswith(f"{option}: ") and "comma" in r["msg"] and "YAML list" in r["msg"], r["msg"]
    assert "Traceback" not in r["msg"]


# -- redis_purge ----------------------------------------------------------------
def test_redis_purge_pattern_with_a_comma_is_one_pattern(fresh_redis, ansible_module):
    srv = fresh_redis()
    c = srv.client()
    c.mset({"report:2026,11:x": "1", "report:2026,11:y": "1", "11:important": "keep", "report:2026": "keep"})
    args = dict(srv.conn_args(), pattern="report:2026,11:*")
    chk = ansible_module("redis_purge", args, check=True)
    assert not chk.failed, chk.result
    assert chk["matched"] == 2 and sorted(chk["sample"]) == ["report:2026,11:x", "report:2026,11:y"], chk.result
    r = ansible_module("redis_purge", args)
    assert not r.failed and r["deleted"] == 2, r.result
    assert sorted(k.decode() for k in c.keys("*")) == ["11:important", "report:2026"]
    # the list option: a comma string is refused and nothing is deleted; a real list is taken element-wise
    c.set("report:2026,11:z", "1")
    r = ansible_module("redis_purge", dict(srv.conn_args(), patterns="report:2026,11:*"))
    assert_refused(r, "patterns")
    assert "pattern: " in r["msg"]  # the hint names the singular option
    assert c.dbsize() == 3
    r = ansible_module("redis_purge", dict(srv.conn_args(), patterns=["report:2026,11:*"]))
    assert not r.failed and r["deleted"] == 1 and c.exists("11:important")
    # a single string without a comma is one pattern; pattern and patterns together are refused
    r = ansible_module("redis_purge", dict(srv.conn_args(), patterns="11:*"), check=True)
    assert not r.failed and r["matched"] == 1
    r = ansible_module("redis_purge", dict(srv.conn_args(), pattern="a", patterns=["b"]))
    assert r.failed and "mutually exclusive" in r["msg"]


# -- pg_activity ----------------------------------------------------------------
def test_pg_activity_filters_take_names_whole(pg, fresh_db, sessions, ansible_module):
    db = fresh_db("hdact")
    comma = sessions.open(db, application_name="app,worker").idle_in_transaction("SELECT 1")
    worker = sessions.open(db, application_name="worker").idle_in_transaction("SELECT 2")
    base = dict(pg.conn_args(), idle_in_transaction_seconds=0, databases=[db], action="terminate")
    for option in ("application_names", "exclude_application_names", "users", "exclude_users", "databases",
                   "exclude_databases"):
        r = ansible_module("pg_activity", dict(base, **{option: "app,worker"}))
        assert_refused(r, option)
    # nothing was signalled by the refused runs
    assert activity(pg, comma.pid)["state"] == "idle in transaction"
    assert activity(pg, worker.pid)["state"] == "idle in transaction"
    # the application_name containing a comma, as a list element, matches exactly that session
    r = ansible_module("pg_activity", dict(base, application_names=["app,worker"]), check=True)
    assert not r.failed, r.result
    assert [s["pid"] for s in r["sessions"]] == [comma.pid]
    r = ansible_module("pg_activity", dict(base, exclude_application_names=["app,worker"]))
    assert not r.failed and r["terminated"] == [worker.pid], r.result
    assert activity(pg, comma.pid)["state"] == "idle in transaction"


# -- pg_data_retention ----------------------------------------------------------
def test_pg_data_retention_functions_taken_whole(pg, fresh_db, ansible_module):
    db = fresh_db("hdret")
    pg.psql('CREATE TABLE calls (name text);'
            'CREATE FUNCTION "purge,all"() RETURNS int LANGUAGE sql AS $$INSERT INTO calls VALUES (\'purge,all\') RETURNING 1$$;'
            'CREATE FUNCTION purge() RETURNS int LANGUAGE sql AS $$INSERT INTO calls VALUES (\'purge\') RETURNING 1$$;'
            'CREATE FUNCTION "all"() RETURNS int LANGUAGE sql AS $$INSERT INTO calls VALUES (\'all\') RETURNING 1$$;',
            database=db)
    r = ansible_module("pg_data_retention", dict(pg.conn_args(), database=db, functions="purge,all"))
    assert_refused(r, "functions")
    assert pg.psql("SELECT count(*) FROM calls", database=db) == "0"
    r = ansible_module("pg_data_retention", dict(pg.conn_args(), database=db, functions=['"purge,all"']))
    assert not r.failed, r.result
    assert pg.psql("SELECT string_agg(name, '|') FROM calls", database=db) == "purge,all"
    assert r["functions"][0]["name"] == 'public."purge,all"'


# -- file_backup ------------------------------------------------------------------
def test_file_backup_paths_and_exclude_taken_whole(tmp_path, ansible_module):
    src = tmp_path / "data,2026"
    src.mkdir()
    (src / "a.txt").write_text("a")
    (src / "b,c.log").write_text("b")
    (src / "b").write_text("not excluded")
    dest = str(tmp_path / "backups")
    base = dict(name="hd", backup_dir=dest)
    r = ansible_module("file_backup", dict(base, paths=str(src)))
    assert_refused(r, "paths")
    r = ansible_module("file_backup", dict(base, paths=[str(src)], exclude="b,c.log"))
    assert_refused(r, "exclude")
    assert not os.path.exists(dest)  # nothing was written by the refused runs
    r = ansible_module("file_backup", dict(base, paths=[str(src)], exclude=["b,c.log"]))
    assert not r.failed, r.result
    assert r["backup"]["file_count"] == 2  # a.txt and b; only the file named "b,c.log" was excluded
    # a single string without a comma is a one-element list
    single = tmp_path / "single.txt"
    single.write_text("s")
    r = ansible_module("file_backup", dict(base, name="hd1", paths=str(single)))
    assert not r.failed and r["backup"]["file_count"] == 1, r.result
