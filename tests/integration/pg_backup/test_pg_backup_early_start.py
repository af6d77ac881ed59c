# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_backup starts the first named database's pg_dump while psql asks the server for its version,
databases and sizes (BackupRun._start_early). Every check still decides: a missing database, too little
space or another pg_dump chosen by the server's version stops that dump (process group killed, partial
file removed) and nothing else is left behind."""
from __future__ import annotations

import json
import os

import pytest
from harness.net import wait_until

from pgbk_helpers import backup_args

pytestmark = pytest.mark.integration


def _our_sessions(pg, database: str) -> int:
    return int(pg.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'runbook.ops' "
                       f"AND datname = '{database}'"))


def _started_dumps(result) -> int:
    return sum(1 for c in result["commands"] if os.path.basename(c[0]) == "pg_dump")


def test_space_check_stops_the_early_dump(pg, ansible_module, backup_db, backup_dir):
    r = ansible_module("pg_backup", backup_args(pg, backup_dir, backup_db, space_factor=1e9))
    assert r.failed and "not enough space in " + backup_dir in r["msg"], r.result
    assert _started_dumps(r) == 1  # it had started before the server answered
    # the dump that had started is gone: no partial file, no backup, and no pg_dump session on the server
    assert os.listdir(backup_dir) == []
    assert r["backups"] == []
    wait_until(lambda: _our_sessions(pg, backup_db) == 0, 30, "the stopped pg_dump's session to end")


def test_missing_database_stops_the_early_dump(pg, ansible_module, backup_db, backup_dir):
    args = backup_args(pg, backup_dir, "no_such_db_early", databases=["no_such_db_early", backup_db])
    r = ansible_module("pg_backup", args)
    assert r.failed and "'no_such_db_early' not found on" in r["msg"], r.result
    assert _started_dumps(r) == 1
    assert os.listdir(backup_dir) == []


def test_server_newer_than_the_guess_dumps_again_with_its_own_pg_dump(pg, pg_of_major, ansible_module, tmp_path):
    """Debian's pg_dump 15 is the only /usr/lib/postgresql/<major>, so the early dump uses it; the server
    is 17 and a pg_dump 17 is on PATH (the wheel's bin directory): that one makes the backup."""
    if pg.version == 17:
        pytest.skip("the session's own server gets pg_bin_dir from the ansible_module fixture")
    server = pg_of_major(17)
    server.psql("CREATE DATABASE early17")
    try:
        server.psql("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 777) g", database="early17")
        backup_dir = str(tmp_path / "b")
        env = {"PATH": f"{server.bindir}:{os.environ['PATH']}"}
        r = ansible_module("pg_backup", dict(server.conn_args(), backup_dir=backup_dir, databases=["early17"]), env=env)
        assert not r.failed, r.result
        (b,) = r["backups"]
        assert b["verified"] == "passed" and b["total_rows"] == 777
        with open(b["manifest"], encoding="utf-8") as fh:
            manifest = json.load(fh)
        assert "(PostgreSQL) 17." in manifest["postgres"]["pg_dump_version"]
        dumps = [c[0] for c in r["commands"] if os.path.basename(c[0]) == "pg_dump"]
        assert dumps == ["/usr/lib/postgresql/15/bin/pg_dump", os.path.join(server.bindir, "pg_dump")], r["commands"]
        assert sorted(os.listdir(backup_dir)) == sorted([os.path.basename(b["path"]), os.path.basename(b["manifest"])])
    finally:
        server.psql("DROP DATABASE IF EXISTS early17 WITH (FORCE)")
