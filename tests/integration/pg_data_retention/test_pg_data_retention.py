# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_data_retention against a real PostgreSQL, run through Ansible."""
from __future__ import annotations

import pytest

DB = "retention_it"


@pytest.fixture
def db(pg):
    pg.psql(f"DROP DATABASE IF EXISTS {DB}")
    pg.psql(f"CREATE DATABASE {DB}")
    pg.psql(
        '''
        CREATE TABLE audit_log (id serial PRIMARY KEY, created_at timestamptz NOT NULL);
        INSERT INTO audit_log (created_at) SELECT now() - (g || ' days')::interval + interval '12 hours' FROM generate_series(1, 200) g;
        CREATE SCHEMA jobs;
        CREATE TABLE jobs.finished (id serial PRIMARY KEY, finished_on date NOT NULL, note text);
        INSERT INTO jobs.finished (finished_on) SELECT current_date - g FROM generate_series(1, 50) g;
        CREATE TABLE "odd ""name""" (ts timestamp NOT NULL);
        INSERT INTO "odd ""name""" SELECT now() - (g || ' hours')::interval + interval '30 minutes' FROM generate_series(1, 30) g;
        CREATE TABLE cache_rows (k text, expires_at timestamptz);
        INSERT INTO cache_rows SELECT g::text, now() - interval '1 minute' FROM generate_series(1, 7) g;
        CREATE FUNCTION cleanup_expired_cache() RETURNS integer LANGUAGE sql AS
          $$ WITH d AS (DELETE FROM cache_rows WHERE expires_at < now() RETURNING 1) SELECT count(*)::int FROM d $$;
        ''',
        database=DB,
    )
    yield DB
    pg.psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


def count(pg, sql):
    return int(pg.psql(sql, database=DB))


def test_check_mode_counts_exactly_and_deletes_nothing(pg, db, ansible_module):
    args = dict(pg.conn_args(), database=db, tables=[{"table": "audit_log", "column": "created_at", "older_than": "90d"}])
    r = ansible_module("pg_data_retention", args, check=True)
    assert not r.failed, r.result
    assert r.changed
    expected = count(pg, "SELECT count(*) FROM audit_log WHERE created_at < now() - interval '90 days'")
    assert expected == 110
    assert r["tables"][0]["rows"] == expected
    assert count(pg, "SELECT count(*) FROM audit_log") == 200


def test_batches_delete_exactly_the_old_rows_then_idempotent(pg, db, ansible_module):
    args = dict(pg.conn_args(), database=db, batch_size=25, tables=[
        {"table": "public.audit_log", "column": "created_at", "older_than": "90d"},
        {"table": "jobs.finished", "column": "finished_on", "older_than": 30, "batch_size": 7},
        {"table": 'public."odd ""name"""', "column": "ts", "older_than": "12h"},
    ])
    r = ansible_module("pg_data_retention", args)
    assert not r.failed, r.result
    assert r.changed
    by_table = {t["table"]: t for t in r["tables"]}
    assert by_table["public.audit_log"]["rows"] == 110
    assert by_table["public.audit_log"]["batches"] == 5  # 4 full batches of 25 and one of 10
    assert by_table["jobs.finished"]["rows"] == 20
    assert by_table["jobs.finished"]["batches"] == 3
    assert by_table['public."odd ""name"""']["rows"] == 18
    assert r["total_rows"] == 148
    assert count(pg, "SELECT count(*) FROM audit_log") == 90
    assert count(pg, "SELECT (min(created_at) > now() - interval '90 days')::int FROM audit_log") == 1
    assert count(pg, "SELECT count(*) FROM jobs.finished") == 30

    again = ansible_module("pg_data_retention", args)
    assert not again.failed
    assert not again.changed
    assert again["total_rows"] == 0


def test_max_batches_reports_remaining(pg, db, ansible_module):
    args = dict(pg.conn_args(), database=db, batch_size=10, max_batches=2,
                tables=[{"table": "audit_log", "column": "created_at", "older_than": "90d"}])
    r = ansible_module("pg_data_retention", args)
    assert r["tables"][0]["rows"] == 20
    assert r["tables"][0]["remaining"] == 90


def test_functions_called_and_previewed(pg, db, ansible_module):
    args = dict(pg.conn_args(), database=db, functions=["cleanup_expired_cache"])
    preview = ansible_module("pg_data_retention", args, check=True)
    assert preview.changed
    assert preview["functions"] == [{"name": "public.cleanup_expired_cache", "called": False, "result": None}]
    assert count(pg, "SELECT count(*) FROM cache_rows") == 7
    r = ansible_module("pg_data_retention", args)
    assert r["functions"][0]["called"] is True
    assert r["functions"][0]["result"] == "7"
    assert count(pg, "SELECT count(*) FROM cache_rows") == 0


@pytest.mark.parametrize("table, message", [
    ({"table": "nope", "column": "created_at", "older_than": "9d"}, "tables[0] (nope): table not found in database 'retention_it'"),
    ({"table": "audit_log", "column": "nope", "older_than": "9d"}, "column 'nope' not found in public.audit_log"),
    ({"table": "audit_log", "column": "id", "older_than": "9d"}, "'id' is integer, not a timestamp or date"),
    ({"table": "audit_log", "column": "created_at", "older_than": "soon"}, "tables[0] (audit_log).older_than: 'soon' is not a duration"),
    ({"table": "audit_log", "column": "created_at", "older_than": "-3d"}, "older_than"),
])
def test_bad_table_definitions_fail_clearly_and_delete_nothing(pg, db, ansible_module, table, message):
    r = ansible_module("pg_data_retention", dict(pg.conn_args(), database=db, tables=[table]))
    assert r.failed
    assert message in r["msg"]
    assert "Traceback" not in r["msg"]
    assert count(pg, "SELECT count(*) FROM audit_log") == 200


def test_failures_name_the_cause(pg, db, ansible_module):
    r = ansible_module("pg_data_retention", dict(pg.conn_args(), database="missing_db", functions=["x"]))
    assert r.failed and "database 'missing_db' does not exist" in r["msg"]
    bad_pw = dict(pg.conn_args(), login_password="wrong", database=db, functions=["x"])
    r = ansible_module("pg_data_retention", bad_pw)
    assert r.failed and "authentication failed for user 'postgres'" in r["msg"]
    r = ansible_module("pg_data_retention", dict(pg.conn_args(), database=db, batch_size=0, functions=["x"]))
    assert r.failed and "batch_size must be at least 1" in r["msg"]
    r = ansible_module("pg_data_retention", dict(pg.conn_args(), database=db, functions=["no_such_fn"]))
    assert r.failed and "function 'no_such_fn' taking no arguments not found" in r["msg"]
    # a role without DELETE privilege: the server's reason is reported, nothing is deleted
    r = ansible_module("pg_data_retention", dict(pg.conn_args(user="app_user"), database=db,
                                                 tables=[{"table": "audit_log", "column": "created_at", "older_than": "90d"}]))
    assert r.failed and "permission denied" in r["msg"]
    assert count(pg, "SELECT count(*) FROM audit_log") == 200
