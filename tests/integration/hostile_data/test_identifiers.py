# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 15, class 3: names that collide. Tables ``a."b.c"`` (3 rows) and ``"a.b".c`` (7 rows) are two
row-count entries, and every place that turns identifiers into keys or file names (manifests, restore
comparison, pg_vacuum / pg_report / pg_data_retention results, backup file names) stays unambiguous
for names with dots, quotes, spaces, slashes and non-ASCII characters. Real PostgreSQL.
"""
from __future__ import annotations

import hashlib
import json
import os

import pytest

HOSTILE_SQL = '''
CREATE SCHEMA a;
CREATE SCHEMA "a.b";
CREATE SCHEMA "Ünï cödé/x";
CREATE TABLE a."b.c" (id int, ts timestamptz DEFAULT now() - interval '400 days');
CREATE TABLE "a.b".c (id int, ts timestamptz DEFAULT now() - interval '400 days');
CREATE TABLE public."sp ace" (id int);
CREATE TABLE public."sl/ash" (id int);
CREATE TABLE public."quo""te" (id int);
CREATE TABLE "Ünï cödé/x"."café" (id int);
CREATE TABLE public.plain (id int);
INSERT INTO a."b.c" (id) SELECT generate_series(1, 3);
INSERT INTO "a.b".c (id) SELECT generate_series(1, 7);
INSERT INTO public."sp ace" SELECT generate_series(1, 2);
INSERT INTO public."sl/ash" SELECT generate_series(1, 4);
INSERT INTO public."quo""te" SELECT generate_series(1, 5);
INSERT INTO "Ünï cödé/x"."café" SELECT generate_series(1, 6);
INSERT INTO public.plain SELECT generate_series(1, 8);
'''

EXPECTED = {
    'a."b.c"': 3,
    '"a.b".c': 7,
    'public."sp ace"': 2,
    'public."sl/ash"': 4,
    'public."quo""te"': 5,
    '"Ünï cödé/x"."café"': 6,
    "public.plain": 8,
}


@pytest.fixture
def hostile_db(pg, fresh_db):
    db = fresh_db("hdnames")
    pg.psql(HOSTILE_SQL, database=db)
    return db


def test_pg_backup_counts_every_table_once_and_restore_compares(pg, hostile_db, fresh_db, backup_dir,
                                                                ansible_module):
    r = ansible_module("pg_backup", dict(pg.conn_args(), backup_dir=backup_dir, databases=[hostile_db],
                                         verify="restore"))
    assert not r.failed, r.result
    bk = r["backups"][0]
    assert bk["verified"] == "passed", bk["verification"]
    with open(bk["manifest"], encoding="utf-8") as fh:
        counts = json.load(fh)["postgres"]["row_counts"]
    assert counts == EXPECTED
    target = fresh_db("hdnames_rs")
    rs = ansible_module("pg_restore", dict(pg.conn_args(), backup=bk["path"], target_database=target))
    assert not rs.failed, rs.result
    assert rs["row_count_differences"] == [] and rs["tables_compared"] == len(EXPECTED)


def _drop_copy_data(sql_text: str, table: str) -> str:
    """The plain dump without the rows of ``table`` (a dump that lost one table's data)."""
    out, skipping = [], False
    for line in sql_text.splitlines(keepends=True):
        if line.startswith(f"COPY {table} "):
            out.append(line)
            skipping = True
            continue
        if skipping:
            if line.startswith("\\."):
                skipping = False
                out.append(line)
            continue
        out.append(line)
    return "".join(out)


def test_restore_that_lost_one_colliding_table_fails_and_drops_what_it_created(pg, hostile_db, backup_dir,
                                                                               ansible_module):
    r = ansible_module("pg_backup", dict(pg.conn_args(), backup_dir=backup_dir, databases=[hostile_db],
                                         format="plain", compression="none"))
    assert not r.failed, r.result
    bk = r["backups"][0]
    with open(bk["path"], encoding="utf-8") as fh:
        dump = fh.read()
    lost = _drop_copy_data(dump, 'a."b.c"')
    assert lost != dump
    with open(bk["path"], "w", encoding="utf-8") as fh:
        fh.write(lost)
    # the manifest is made to match the damaged file: only the row counts can notice the loss
    with open(bk["manifest"], encoding="utf-8") as fh:
        manifest = json.load(fh)
    manifest["files"][0].update(size=os.path.getsize(bk["path"]),
                                sha256=hashlib.sha256(lost.encode()).hexdigest())
    with open(bk["manifest"], "w", encoding="utf-8") as fh:
        json.dump(manifest, fh)
    target = f"{hostile_db}_lost"
    rs = ansible_module("pg_restore", dict(pg.conn_args(), backup=bk["path"], target_database=target, create=True))
    assert rs.failed, rs.result
    assert rs["row_count_differences"] == [{"table": 'a."b.c"', "expected": 3, "actual": 0}], rs.result
    assert "was dropped" in rs["msg"] and rs["dropped_database"] is True
    assert pg.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{target}'") == "0"


def test_failed_restore_drops_the_database_it_created(pg, hostile_db, backup_dir, ansible_module):
    r = ansible_module("pg_backup", dict(pg.conn_args(), backup_dir=backup_dir, databases=[hostile_db],
                                         format="plain", compression="none"))
    bk = r["backups"][0]
    with open(bk["path"], "a", encoding="utf-8") as fh:
        fh.write("SELECT this_function_does_not_exist();\n")
    with open(bk["manifest"], encoding="utf-8") as fh:
        manifest = json.load(fh)
    manifest["files"][0].update(size=os.path.getsize(bk["path"]),
                                sha256=hashlib.sha256(open(bk["path"], "rb").read()).hexdigest())
    with open(bk["manifest"], "w", encoding="utf-8") as fh:
        json.dump(manifest, fh)
    target = f"{hostile_db}_broken"
    before = pg.psql("SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database")
    rs = ansible_module("pg_restore", dict(pg.conn_args(), backup=bk["path"], target_database=target, create=True))
    assert rs.failed and "this_function_does_not_exist" in rs["msg"] and "was dropped" in rs["msg"], rs.result
    assert pg.psql("SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database") == before


def test_maintenance_results_keep_colliding_tables_apart(pg, hostile_db, ansible_module):
    vac = ansible_module("pg_vacuum", dict(pg.conn_args(), databases=[hostile_db], min_dead_tuples=0,
                                           min_dead_ratio=0, min_mod_since_analyze=0), check=True)
    assert not vac.failed, vac.result
    names = [t["name"] for t in vac["databases"][0]["tables"]]
    assert sorted(names) == sorted(EXPECTED), names
    rep = ansible_module("pg_report", dict(pg.conn_args(), databases=[hostile_db], sections=["tables"], limit=50))
    assert not rep.failed, rep.result
    assert sorted(row["name"] for row in rep["report"]["tables"]) == sorted(EXPECTED)
    ret = ansible_module("pg_data_retention", dict(pg.conn_args(), database=hostile_db, tables=[
        {"table": 'a."b.c"', "column": "ts", "older_than": "30d"},
        {"table": '"a.b".c', "column": "ts", "older_than": "30d"},
    ]), check=True)
    assert not ret.failed, ret.result
    assert [(t["table"], t["rows"]) for t in ret["tables"]] == [('a."b.c"', 3), ('"a.b".c', 7)]


def test_database_names_give_distinct_safe_files(pg, fresh_db, backup_dir, ansible_module):
    names = ["app/db", "app db", "app_db", "app.db", "café", "..", "x" * 63]
    for name in names:
        pg.psql(f'CREATE DATABASE "{name}"')
        fresh_db.made.append(name)
        pg.psql(f"CREATE TABLE t AS SELECT generate_series(1, {len(name)}) AS id", database=name)
    r = ansible_module("pg_backup", dict(pg.conn_args(), backup_dir=backup_dir, databases=names, keep_last=1))
    assert not r.failed, r.result
    paths = [b["path"] for b in r["backups"]]
    assert len(set(paths)) == len(names)
    for p in paths:
        base = os.path.basename(p)
        assert os.path.dirname(p) == backup_dir and base.isascii() and not base.startswith(".")
    # a second run with keep_last=1 keeps exactly one backup per database (no series eats another's)
    r2 = ansible_module("pg_backup", dict(pg.conn_args(), backup_dir=backup_dir, databases=names, keep_last=1))
    assert sorted(r2["deleted"]) == sorted(paths)
    dumps = [f for f in os.listdir(backup_dir) if not f.endswith(".manifest.json")]
    assert len(dumps) == len(names)
