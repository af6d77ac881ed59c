# SPDX-License-Identifier: GPL-3.0-or-later
"""The schedule playbooks against the real PostgreSQL and temporary log directories (connection local)."""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]

DB = "schedules_it"


@pytest.fixture
def stack(pg, redis_server, tmp_path):
    pg.psql(f"DROP DATABASE IF EXISTS {DB}")
    pg.psql(f"CREATE DATABASE {DB}")
    pg.psql(
        "CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t SELECT g, 0 FROM generate_series(1, 6000) g;"
        " ANALYZE t; UPDATE t SET v = 1 WHERE id <= 3000;"
        " CREATE TABLE audit_log (at timestamptz); INSERT INTO audit_log SELECT now() - (g || ' days')::interval"
        " + interval '12 hours' FROM generate_series(1, 40) g;",
        database=DB,
    )
    logs = tmp_path / "log"
    logs.mkdir()
    (logs / "app.log").write_text("2026-11-20 10:01:02 ERROR order 1234 failed\n2026-11-20 10:01:05 ERROR order 99 failed\n")
    (tmp_path / "access.log").write_text(
        '203.0.113.9 - - [20/Nov/2026:10:00:00 +0000] "GET /?q=%3Cscript%3E HTTP/1.1" 403 1 "-" "x" 0.5\n')
    old = logs / "app.log.7"
    old.write_text("x\n")
    os.utime(old, (time.time() - 60 * 86400,) * 2)
    login = pg.login()
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = {
        "all": {
            "vars": {
                "runbook_runtime": "systemd",
                "runbook_app_name": "shop",
                "runbook_pg_login": login,
                "runbook_databases": [DB],
                "runbook_redis_login": redis_server.conn_args(),
                "runbook_report_dir": str(tmp_path / "reports"),
                "runbook_backup_dir": str(tmp_path / "backups"),
                "runbook_monthly_system_update": False,
                "runbook_services": [],
                "pg_maintenance_retention": [
                    {"database": DB, "tables": [{"table": "audit_log", "column": "at", "older_than": "30d"}]}],
                "logs_logrotate_dir": str(tmp_path / "logrotate.d"),
                "logs_logrotate_paths": [str(logs / "*.log")],
                "logs_logrotate_command": shutil.which("logrotate") or "/usr/sbin/logrotate",
                "logs_cleanup_dirs": [str(logs)],
                "logs_summary_paths": [str(logs / "*.log")],
                "health_disk_paths": [str(tmp_path)],
                "health_disk_warn": 99,
                "health_disk_crit": 100,
                "security_review_access_logs": [str(tmp_path / "access.log")],
            },
            "children": {
                "postgres": {"hosts": {"localhost": local}},
                "app": {"hosts": {"localhost": local}},
                "web": {"hosts": {"localhost": local}},
                "redis": {"hosts": {"localhost": local}},
            },
        }
    }
    (tmp_path / "logrotate.d").mkdir()
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    yield tmp_path, str(path)
    pg.psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    pg.psql(f"DROP DATABASE IF EXISTS {DB}_restored WITH (FORCE)")
    pg.psql(f"DROP DATABASE IF EXISTS {DB}_drill WITH (FORCE)")


def report(tmp_path, name):
    files = sorted((tmp_path / "reports").glob(f"{name}-localhost-*.json"))
    assert len(files) == 1, files
    return json.loads(files[0].read_text())


def test_daily_in_check_mode_reports_and_changes_nothing(pg, stack, ansible_playbook):
    tmp_path, inventory = stack
    run = ansible_playbook(REPO / "playbooks" / "daily.yml", inventory=inventory, check=True)
    assert run.rc == 0, run.stdout[-3000:]
    data = report(tmp_path, "daily")
    assert data["check_mode"] is True and data["schedule"] == "daily"
    assert data["results"]["pg_maintenance"]["vacuum"] is None
    # the nightly backup is previewed (it would be made) and nothing is written
    assert data["results"]["pg_backup"]["backup"]["changed"] is True
    assert not (tmp_path / "backups").exists() or not any(p.is_file() for p in (tmp_path / "backups").rglob("*"))
    assert [p["name"] for p in data["results"]["health"]["probes"]["results"]] == ["postgres", "redis", f"disk {tmp_path}"]
    assert data["results"]["logs"]["summary"]["patterns"][0]["pattern"] == "<ts> ERROR order <n> failed"
    assert (tmp_path / "log" / "app.log.7").exists()
    assert pg.psql("SELECT count(*) FROM audit_log", database=DB) == "40"


def test_daily_fails_a_host_with_a_critical_probe_after_its_report(stack, ansible_playbook):
    tmp_path, inventory = stack
    text = (tmp_path / "hosts.yml").read_text()
    data = yaml.safe_load(text)
    data["all"]["vars"]["health_extra_probes"] = [{"name": "dead", "kind": "command", "argv": ["false"]}]
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(data))
    run = ansible_playbook(REPO / "playbooks" / "daily.yml", inventory=inventory, check=True)
    assert run.rc != 0
    assert report(tmp_path, "daily")["results"]["health"]["probes"]["summary"]["critical_probes"] == ["dead"]


def test_weekly_real_run_then_monthly_check(pg, stack, ansible_playbook):
    tmp_path, inventory = stack
    monthly_check = ansible_playbook(REPO / "playbooks" / "monthly.yml", inventory=inventory, check=True)
    assert monthly_check.rc == 0, monthly_check.stdout[-3000:]
    preview = report(tmp_path, "monthly")["results"]
    assert preview["pg_maintenance"]["retention"][0]["total_rows"] == 10
    assert preview["system_update"] is None
    assert preview["logs"]["deleted"] == [str(tmp_path / "log" / "app.log.7")]
    assert preview["security_review"]["access"]["clients"][0]["ip"] == "203.0.113.9"
    assert pg.psql("SELECT count(*) FROM audit_log", database=DB) == "40"
    assert (tmp_path / "log" / "app.log.7").exists()

    run = ansible_playbook(REPO / "playbooks" / "weekly.yml", inventory=inventory)
    assert run.rc == 0, run.stdout[-3000:]
    data = report(tmp_path, "weekly")
    assert data["check_mode"] is False
    assert data["results"]["pg_maintenance"]["vacuum"]["changed"] is True
    assert pg.psql("SELECT count(*) FROM audit_log", database=DB) == "30"
    assert not (tmp_path / "log" / "app.log.7").exists()
    assert (tmp_path / "logrotate.d" / "shop").exists()
    assert "runbook_reports" in run.stdout

    for old in (tmp_path / "reports").glob("monthly-*.json"):
        old.unlink()
    monthly = ansible_playbook(REPO / "playbooks" / "monthly.yml", inventory=inventory)
    assert monthly.rc == 0, monthly.stdout[-3000:]
    done = report(tmp_path, "monthly")
    assert done["check_mode"] is False and done["results"]["health"]["probes"]["summary"]["critical"] == 0


def test_backup_restore_and_quarterly(pg, stack, ansible_playbook):
    tmp_path, inventory = stack
    check = ansible_playbook(REPO / "playbooks" / "backup.yml", inventory=inventory, check=True)
    assert check.rc == 0, check.stdout[-3000:]
    assert report(tmp_path, "backup")["check_mode"] is True
    assert report(tmp_path, "backup")["results"]["redis"]["backup"]["changed"] is True
    assert not (tmp_path / "backups").exists() or not any(p.is_file() for p in (tmp_path / "backups").rglob("*"))

    missing = ansible_playbook(REPO / "playbooks" / "restore.yml", inventory=inventory)
    assert missing.rc != 0 and "pg_backup_restore_database" in missing.stdout

    quarterly = ansible_playbook(REPO / "playbooks" / "quarterly.yml", inventory=inventory)
    assert quarterly.rc == 0, quarterly.stdout[-3000:]
    data = report(tmp_path, "quarterly")["results"]
    assert data["pg_backup"]["drill"][0]["row_count_differences"] == []
    assert any(d["database"] == DB for d in data["capacity"]["databases"]), data["capacity"]
    assert pg.psql("SELECT count(*) FROM audit_log", database=f"{DB}_drill") == "40"

    restore = ansible_playbook(REPO / "playbooks" / "restore.yml", inventory=inventory,
                               extra_vars={"pg_backup_restore_database": DB,
                                           "pg_backup_restore_target": f"{DB}_restored"})
    assert restore.rc == 0, restore.stdout[-3000:]
    assert report(tmp_path, "restore")["results"]["pg_backup"]["restore"]["target_database"] == f"{DB}_restored"
    assert pg.psql("SELECT count(*) FROM t", database=f"{DB}_restored") == "6000"
