# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile conditions, class 1 on a real PostgreSQL server: statements that would run for ever.

- pg_backup's row counts in pg_dump's exported snapshot: a table whose count never ends (an
  inherited foreign table that streams rows for ever from a program) is cut at ``statement_timeout``;
- pg_backup's pg_dump and pg_restore's pg_restore, each waiting for a lock another session holds: killed
  at ``tool_timeout``, the error naming the option, the earlier backup and the restore target untouched;
- pg_vacuum's VACUUM, whose lock another session holds: cut at ``maintenance_timeout``, the error
  naming the option, the statement with its table and the database; without the option the statement
  keeps its documented "as long as its work" (tests/integration/pg_vacuum/test_pg_vacuum_locks.py).
Each module returns within its bound (asserted with a wide margin), and the server is left without
the statement still running.
"""
from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest

from harness.net import wait_until

pytestmark = pytest.mark.integration

TIMEOUT = 2  # seconds: the bound under test
SLACK = 20  # seconds on top of a documented bound: ansible's own start-up on a busy machine; never flakes
# rows for ever, 64 KiB at a time (the server notices a cancel between rows); exits once nobody reads
ENDLESS_ROWS = "while sleep 0.05; do yes x | head -c 65536 || exit 0; done"


@pytest.fixture
def database(pg):
    name = f"slow_{uuid.uuid4().hex[:10]}"
    pg.psql(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        pg.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _timed_failure(ansible_module, module: str, args: dict):
    """Run ``module``, which must fail: (its result, the seconds it took)."""
    started = time.monotonic()
    r = ansible_module(module, args, timeout=300)
    elapsed = time.monotonic() - started
    assert r.failed, r.result
    return r, elapsed


def _running(pg, database: str, like: str) -> list[str]:
    with psycopg.connect(pg.dsn(database), autocommit=True) as conn:
        rows = conn.execute("SELECT query FROM pg_stat_activity WHERE datname = %s AND state = 'active'"
                            " AND query LIKE %s AND pid <> pg_backend_pid()", [database, like]).fetchall()
    return [r[0] for r in rows]


def test_snapshot_row_counts_hold_statement_timeout(pg, database, ansible_module, tmp_path):
    """pg_backup counts rows in the snapshot it exports to pg_dump (plain format); a count that never
    ends fails the backup at statement_timeout + 1 s, naming the option, and leaves no partial file."""
    with psycopg.connect(pg.dsn(database), autocommit=True) as conn:
        conn.execute("CREATE TABLE public.plain_rows (t text)")
        conn.execute("INSERT INTO public.plain_rows SELECT 'r' FROM generate_series(1, 10)")
        conn.execute("CREATE TABLE public.endless (t text)")
        conn.execute("CREATE EXTENSION file_fdw")
        conn.execute("CREATE SERVER program_rows FOREIGN DATA WRAPPER file_fdw")
        # pg_dump copies the parent's own rows only (COPY); count(*) of the parent reads its child too
        program = ENDLESS_ROWS.replace("'", "''")
        conn.execute(f"CREATE FOREIGN TABLE public.endless_child () INHERITS (public.endless) SERVER program_rows"
                     f" OPTIONS (program '{program}')")
    backups = tmp_path / "backups"
    args = dict(pg.conn_args(), databases=[database], backup_dir=str(backups), format="plain", compression="none",
                row_counts=True, statement_timeout=TIMEOUT, verify="none")
    r, elapsed = _timed_failure(ansible_module, "pg_backup", args)
    msg = r["msg"]
    assert f"counting rows of database {database!r} failed" in msg, msg
    assert f"pg_backup: statement exceeded statement_timeout={TIMEOUT}s" in msg, msg
    assert elapsed < TIMEOUT + 1 + SLACK, (elapsed, msg)
    # no backup under a final name, no partial file
    assert not [p for p in backups.rglob("*") if p.is_file() and not p.name.endswith(".lock")], list(backups.rglob("*"))
    wait_until(lambda: not _running(pg, database, "%endless%"), 30, "the cancelled count to end on the server")


@pytest.fixture
def locked_table(pg, database):
    """``public.t`` with rows, and a function that holds an ACCESS EXCLUSIVE lock on it in another session
    until the test ends: pg_dump's ACCESS SHARE lock, or pg_restore's DROP TABLE, waits for it for ever."""
    with psycopg.connect(pg.dsn(database), autocommit=True) as conn:
        conn.execute("CREATE TABLE public.t AS SELECT g AS id FROM generate_series(1, 100) g")
    holders = []

    def hold():
        conn = psycopg.connect(pg.dsn(database))
        holders.append(conn)
        conn.execute("LOCK TABLE public.t IN ACCESS EXCLUSIVE MODE")

    try:
        yield hold
    finally:
        for conn in holders:
            conn.rollback()
            conn.close()


def _files(root) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.name.endswith(".lock")}


def test_pg_dump_holds_tool_timeout(pg, database, locked_table, ansible_module, tmp_path):
    """A pg_dump waiting for a lock is killed at tool_timeout: the module fails naming the option, within
    the bound, leaves no partial file, and the earlier backup of the database is untouched."""
    backups = tmp_path / "backups"
    args = dict(pg.conn_args(), databases=[database], backup_dir=str(backups), verify="none", tool_timeout=TIMEOUT)
    first = ansible_module("pg_backup", args, timeout=300)
    assert not first.failed, first.result
    before = _files(backups)
    assert before
    locked_table()
    r, elapsed = _timed_failure(ansible_module, "pg_backup", args)
    msg = r["msg"]
    assert f"backup of {database!r}: pg_dump did not finish within tool_timeout={TIMEOUT}s" in msg, msg
    assert "earlier backups are untouched" in msg, msg
    assert elapsed < TIMEOUT + SLACK, (elapsed, msg)
    assert _files(backups) == before


def test_pg_restore_holds_tool_timeout(pg, database, locked_table, ansible_module, tmp_path):
    """pg_restore --clean waiting for the lock on the table it drops is killed at tool_timeout, naming the
    option; the single transaction leaves the target as it was."""
    backups = tmp_path / "backups"
    made = ansible_module("pg_backup", dict(pg.conn_args(), databases=[database], backup_dir=str(backups)),
                          timeout=300)
    assert not made.failed, made.result
    locked_table()
    r, elapsed = _timed_failure(ansible_module, "pg_restore", dict(
        pg.conn_args(), backup="latest", backup_dir=str(backups), database=database, clean=True, tool_timeout=TIMEOUT))
    msg = r["msg"]
    assert f"pg_restore did not finish within tool_timeout={TIMEOUT}s" in msg, msg
    assert elapsed < TIMEOUT + SLACK, (elapsed, msg)


@pytest.fixture
def held_table(pg, database):
    """`free` and `held`, both with dead rows; another session holds a lock on `held` that VACUUM waits for."""
    with psycopg.connect(pg.dsn(database), autocommit=True) as conn:
        for table in ("free", "held"):
            conn.execute(f"CREATE TABLE public.{table} (id int PRIMARY KEY, v int)")
            conn.execute(f"INSERT INTO public.{table} SELECT g, 0 FROM generate_series(1, 4000) g")
            conn.execute(f"UPDATE public.{table} SET v = 1 WHERE id <= 2000")
    locker = psycopg.connect(pg.dsn(database), autocommit=False)
    locker.execute("LOCK TABLE public.held IN SHARE UPDATE EXCLUSIVE MODE")
    try:
        yield database
    finally:
        locker.rollback()
        locker.close()


def _vacuum_args(pg, database: str, **kw) -> dict:
    return dict(pg.conn_args(database=database), databases=[database], min_dead_tuples=0, min_dead_ratio=0,
                min_mod_since_analyze=0, **kw)


def test_vacuum_holds_maintenance_timeout(pg, held_table, ansible_module):
    r, elapsed = _timed_failure(ansible_module, "pg_vacuum",
                                _vacuum_args(pg, held_table, maintenance_timeout=TIMEOUT, tables=["free", "held"]))
    msg = r["msg"]
    assert msg.startswith('VACUUM (ANALYZE) "public"."held" in database'), msg
    assert repr(held_table) in msg and f"pg_vacuum: statement exceeded maintenance_timeout={TIMEOUT}s" in msg, msg
    assert elapsed < TIMEOUT + 1 + SLACK, (elapsed, msg)
    # what ran before is reported: `free` was vacuumed
    assert r["statements"] == ['VACUUM (ANALYZE) "public"."free"', 'VACUUM (ANALYZE) "public"."held"']
    assert r["maintenance_timeout"] == TIMEOUT and r["changed"]
    wait_until(lambda: not _running(pg, held_table, "VACUUM%held%"), 30, "the cancelled VACUUM to end on the server")


def test_vacuum_check_mode_reports_maintenance_timeout(pg, held_table, ansible_module):
    """Check mode runs no maintenance statement: nothing to bound, nothing waits for the held lock."""
    r = ansible_module("pg_vacuum", _vacuum_args(pg, held_table, maintenance_timeout=TIMEOUT), check=True, timeout=120)
    assert not r.failed, r.result
    assert r["maintenance_timeout"] == TIMEOUT and r.changed
    assert 'VACUUM (ANALYZE) "public"."held"' in r["statements"]


def test_maintenance_timeout_longer_than_statement_timeout(pg, database, ansible_module):
    """maintenance_timeout replaces statement_timeout for the maintenance statements only: a VACUUM
    that waits for its lock longer than statement_timeout (1 s) finishes within maintenance_timeout."""
    with psycopg.connect(pg.dsn(database), autocommit=True) as conn:
        conn.execute("CREATE TABLE public.held (id int PRIMARY KEY, v int)")
        conn.execute("INSERT INTO public.held SELECT g, 0 FROM generate_series(1, 4000) g")
        conn.execute("UPDATE public.held SET v = 1 WHERE id <= 2000")
    locker = psycopg.connect(pg.dsn(database), autocommit=False)
    locker.execute("LOCK TABLE public.held IN SHARE UPDATE EXCLUSIVE MODE")

    def release() -> None:
        try:
            wait_until(lambda: bool(_waited(pg, database)), 120, "the module's VACUUM waiting 3 s for its lock",
                       interval=0.2)
        finally:
            locker.rollback()

    releaser = threading.Thread(target=release, daemon=True)
    releaser.start()
    try:
        r = ansible_module("pg_vacuum", _vacuum_args(pg, database, statement_timeout=1, maintenance_timeout=300),
                           timeout=300)
    finally:
        releaser.join(150)
        locker.close()
    assert not r.failed, r.result
    held = [t for d in r["databases"] for t in d["tables"] if t["table"] == "held"][0]
    assert held["changed"] and held["duration"] >= 3, held


def _waited(pg, database: str) -> bool:
    with psycopg.connect(pg.dsn(database), autocommit=True) as conn:
        row = conn.execute("SELECT EXTRACT(EPOCH FROM now() - query_start)::float8 FROM pg_stat_activity"
                           " WHERE query LIKE 'VACUUM%%held%%' AND wait_event_type = 'Lock'").fetchone()
    return bool(row and row[0] >= 3)
