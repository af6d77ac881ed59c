# SPDX-License-Identifier: GPL-3.0-or-later
"""The playbooks with an off-host destination (a mounted path, connection local): backup.yml copies the
PostgreSQL and Redis backups after making them; with the local backups gone, restore.yml and the quarterly
drill restore from the copy, and the row counts match."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import yaml
from offsite_helpers import copy_manifests

REPO = Path(__file__).resolve().parents[3]
DB = "offsite_pb"


def report(tmp_path, name):
    files = sorted((tmp_path / "reports").glob(f"{name}-localhost-*.json"))
    return json.loads(files[-1].read_text())


def test_backup_copy_then_restore_and_drill_from_the_copy(pg, redis_server, tmp_path, ansible_playbook):
    pg.psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    pg.psql(f"CREATE DATABASE {DB}")
    pg.psql("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 4321) g", database=DB)
    login = pg.login()
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    remote = tmp_path / "nfs" / "db1"
    inventory = {"all": {
        "vars": {
            "runbook_runtime": "systemd", "runbook_pg_login": login, "runbook_databases": [DB],
            "runbook_redis_login": redis_server.conn_args(), "runbook_report_dir": str(tmp_path / "reports"),
            "runbook_backup_dir": str(tmp_path / "backups"),
            "runbook_offsite_destination": {"type": "path", "path": str(remote)},
            "pg_backup_keep_last": 1, "pg_backup_copy_keep_last": 2, "redis_copy_keep_last": 2,
        },
        "children": {"postgres": {"hosts": {"localhost": local}}, "redis": {"hosts": {"localhost": local}}},
    }}
    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump(inventory))
    try:
        for _run in range(2):
            run = ansible_playbook(REPO / "playbooks" / "backup.yml", inventory=str(inv))
            assert run.rc == 0, run.stdout[-3000:]
        results = report(tmp_path, "backup")["results"]
        copies = results["pg_backup"]["copy"]["copies"]
        assert [c["status"] for c in copies] == ["copied"] and copies[0]["verified"], copies
        assert results["redis"]["copy"]["copies"][-1]["status"] == "copied"
        docs = copy_manifests(remote)
        # the host keeps 1 PostgreSQL backup, the destination 2 (retention itself: test_offsite_path.py)
        assert sorted(d["kind"] for d in docs.values()).count("postgres") == 2
        assert sorted(d["kind"] for d in docs.values()).count("redis") == 2

        shutil.rmtree(tmp_path / "backups")  # the host's backups are lost
        pg.psql("DELETE FROM t WHERE id > 100", database=DB)
        restore = ansible_playbook(REPO / "playbooks" / "restore.yml", inventory=str(inv), extra_vars={
            "pg_backup_restore_database": DB, "pg_backup_restore_target": f"{DB}_restored",
            "pg_backup_restore_source": "offsite"})
        assert restore.rc == 0, restore.stdout[-3000:]
        r = report(tmp_path, "restore")["results"]["pg_backup"]["restore"]
        assert r["row_count_differences"] == [] and r["checksum"] == "ok"
        assert r["backup"].startswith(str(tmp_path / "backups" / "fetched"))
        assert pg.psql("SELECT count(*) FROM t", database=f"{DB}_restored") == "4321"

        shutil.rmtree(tmp_path / "backups")
        quarterly = ansible_playbook(REPO / "playbooks" / "quarterly.yml", inventory=str(inv),
                                     extra_vars={"pg_backup_drill_source": "offsite"})
        assert quarterly.rc == 0, quarterly.stdout[-3000:]
        drill = report(tmp_path, "quarterly")["results"]["pg_backup"]["drill"]
        assert drill[0]["row_count_differences"] == [] and drill[0]["fetched"]["destination"] == f"file://{remote}"
        # the drill restored the copy the quarterly backup itself made and copied a moment before
        assert drill[0]["fetched"]["id"] == report(tmp_path, "quarterly")["results"]["pg_backup"]["copy"]["copies"][-1]["id"]
        assert pg.psql("SELECT count(*) FROM t", database=f"{DB}_drill") == "100"
    finally:
        for name in (DB, f"{DB}_restored", f"{DB}_drill"):
            pg.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
