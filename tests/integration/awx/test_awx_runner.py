# SPDX-License-Identifier: GPL-3.0-or-later
"""The schedule playbooks run as AWX runs them (ansible-runner, AWX's private data directory, a
fresh checkout of the repository as the project, credentials injected by runbook.ops' credential
types) against the real PostgreSQL and Redis of the test harness."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from awx_job import checkout, run_job

DB = "awx_it"
PG_SECRET = "super-secret-pw"  # the harness's superuser password (tests/harness/postgres.py)
GROUPS = ["postgres", "redis", "app", "web"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A checkout of the repository in a fresh directory: nothing installed but the Python requirements."""
    dest = checkout(tmp_path_factory.mktemp("scm") / "runbook")
    assert (dest / "collections" / "ansible_collections" / "runbook" / "ops").is_symlink()
    assert not (dest / ".venv").exists()
    return dest


@pytest.fixture
def stack(pg, redis_auth_server, tmp_path):
    pg.psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    pg.psql(f"CREATE DATABASE {DB}")
    pg.psql("CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t SELECT g, 0 FROM generate_series(1, 5000) g;"
            " ANALYZE t; UPDATE t SET v = 1 WHERE id <= 2500;", database=DB)
    login = pg.conn_args()
    redis = redis_auth_server.conn_args()
    credentials = {
        "postgres": {"host": login["login_host"], "port": str(login["login_port"]), "username": login["login_user"],
                     "password": login["login_password"]},
        "redis": {"host": redis["login_host"], "port": str(redis["login_port"]), "password": redis["login_password"],
                  "tls": False},
    }
    assert credentials["postgres"]["password"] == PG_SECRET
    inventory_vars = {
        "runbook_runtime": "systemd",
        "runbook_app_name": "shop",
        "runbook_databases": [DB],
        "runbook_report_dir": str(tmp_path / "reports"),
        "runbook_backup_dir": str(tmp_path / "backups"),
        "runbook_services": [],
        "pg_maintenance_retention": [],
        "logs_logrotate_enabled": False,
        "logs_cleanup_dirs": [],
        "logs_summary_paths": [],
        "health_disk_paths": [str(tmp_path)],
        "health_disk_warn": 99,
        "health_disk_crit": 100,
        "security_review_access_logs": [],
    }
    yield tmp_path, inventory_vars, credentials
    for name in (DB, f"{DB}_restored"):
        pg.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _secrets(credentials):
    return [credentials["postgres"]["password"], credentials["redis"]["password"]]


def _assert_no_secret_leaks(job, credentials):
    """No password in what AWX keeps and shows of the job; they did reach the job (a private env file)."""
    output = job.raw_output()
    assert len(output) > 1000
    for secret in _secrets(credentials):
        assert secret not in output, f"a secret appears in the job events or stdout of {job.pdd}"
    injected = "".join(p.read_text() for p in (job.pdd / "env").iterdir() if p.name.startswith("tmp"))
    assert all(secret in injected for secret in _secrets(credentials))


def _assert_from_the_checkout(job):
    """runbook.ops was resolved from the project (the checkout), not from anything installed."""
    paths = {e["event_data"]["task_path"] for e in job.events if e.get("event") == "runner_on_ok"
             and e["event_data"].get("role") and e["event_data"].get("task_path")}
    assert paths and all(p.startswith(str(job.pdd / "project") + "/") for p in paths), sorted(paths)[:3]


def _report(job, schedule):
    """The host's entry of the run report the job's artifacts point to (and the run report)."""
    summary = job.artifacts["runbook_run_report"]
    assert summary["schedule"] == schedule and set(summary["hosts"]) == {"localhost"}
    data = json.loads(Path(summary["json"]).read_text())
    return data["hosts"][0], data["hosts"][0]


def _run_summary(job):
    """The run summary the callback runbook.ops.run_report publishes as a custom stat: AWX's job artifacts."""
    summary = job.artifacts["runbook_run_report"]
    check = "--check" in (job.pdd / "env" / "cmdline").read_text().split()
    assert Path(summary["json"]).is_file() and summary["check_mode"] is check
    return summary


def test_daily_runs_from_a_fresh_checkout_like_an_awx_job(stack, project):
    tmp_path, inventory_vars, credentials = stack
    job = run_job(tmp_path, project, "daily", inventory_vars=inventory_vars, groups=GROUPS, credentials=credentials)
    assert job.status == "successful" and job.rc == 0, job.stdout[-3000:]
    entry, report = _report(job, "daily")
    assert entry["check_mode"] is False and {"health", "pg_maintenance"} <= set(entry["steps"])
    probes = {p["name"]: p["status"] for p in report["results"]["health"]["probes"]["results"]}
    assert probes["postgres"] == "ok" and probes["redis"] == "ok"  # connected with the injected passwords
    _assert_from_the_checkout(job)
    _assert_no_secret_leaks(job, credentials)
    # the job's environment was AWX's: the collections path AWX sets is not where runbook.ops came from
    envvars = (job.pdd / "env" / "envvars").read_text()
    assert "requirements_collections" in envvars and not (job.pdd / "requirements_collections").exists()
    summary = _run_summary(job)
    assert summary["schedule"] == "daily" and summary["status"] == "ok"
    assert summary["probes"]["critical"] == 0 and summary["problems"] == []


def test_daily_with_a_failing_probe_fails_the_job_and_still_publishes_its_artifacts(stack, project):
    tmp_path, inventory_vars, credentials = stack
    inventory_vars = dict(inventory_vars, health_extra_probes=[{"name": "dead", "kind": "command", "argv": ["false"]}])
    job = run_job(tmp_path, project, "daily", inventory_vars=inventory_vars, groups=GROUPS, credentials=credentials,
                  job_id=2)
    assert job.status == "failed" and job.rc != 0
    report = _report(job, "daily")[1]
    assert report["results"]["health"]["probes"]["summary"]["critical_probes"] == ["dead"]
    _assert_no_secret_leaks(job, credentials)
    summary = _run_summary(job)
    assert summary["status"] == "critical" and summary["probes"]["critical"] >= 1
    assert any("dead" in p["where"] for p in summary["problems"]), summary["problems"]


def test_weekly_in_check_mode_at_verbosity_3_changes_nothing_and_prints_no_secret(pg, stack, project):
    tmp_path, inventory_vars, credentials = stack
    before = pg.psql("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 't'", database=DB)
    job = run_job(tmp_path, project, "weekly", inventory_vars=inventory_vars, groups=GROUPS, credentials=credentials,
                  job_type="check", verbosity=3, job_id=3)
    assert job.status == "successful" and job.rc == 0, job.stdout[-3000:]
    assert "--check" in (job.pdd / "artifacts" / job.ident / "command").read_text()
    entry, report = _report(job, "weekly")
    assert entry["check_mode"] is True
    vacuum = report["results"]["pg_maintenance"]["vacuum"]
    assert vacuum["totals"]["vacuumed"] >= 1 and any('"t"' in s for s in vacuum["statements"])
    assert pg.psql("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 't'", database=DB) == before
    _assert_no_secret_leaks(job, credentials)
    summary = _run_summary(job)
    assert summary["schedule"] == "weekly" and summary["tables_vacuumed"] >= 1


def test_backup_then_restore_with_the_survey_answers(pg, stack, project):
    tmp_path, inventory_vars, credentials = stack
    backup = run_job(tmp_path, project, "backup", inventory_vars=inventory_vars, groups=["postgres", "redis"],
                     credentials=credentials, job_id=4)
    assert backup.status == "successful" and backup.rc == 0, backup.stdout[-3000:]
    entry, report = _report(backup, "backup")
    made = report["results"]["pg_backup"]["backup"]["backups"]
    assert [b["name"] for b in made] == [DB] and Path(made[0]["path"]).is_file()
    assert Path(report["results"]["redis"]["backup"]["backup"]["path"]).is_file()
    _assert_no_secret_leaks(backup, credentials)
    summary = _run_summary(backup)
    assert len(summary["backups"]) >= 2 and any(DB in json.dumps(b) for b in summary["backups"])

    # the restore template's survey answers, as AWX passes them (strings, !unsafe), with the backup's
    # artifacts handed on as a workflow does
    answers = {"pg_backup_restore_database": DB, "pg_backup_restore_backup": "latest",
               "pg_backup_restore_target": f"{DB}_restored", "pg_backup_restore_clean": "false"}
    restore = run_job(tmp_path, project, "restore", inventory_vars=inventory_vars, groups=["postgres"],
                      credentials=credentials, survey=answers, artifacts=backup.artifacts, job_id=5)
    assert restore.status == "successful" and restore.rc == 0, restore.stdout[-3000:]
    report = _report(restore, "restore")[1]
    done = report["results"]["pg_backup"]["restore"]
    assert done["target_database"] == f"{DB}_restored" and done["backup"] == made[0]["path"]
    assert pg.psql("SELECT count(*) FROM t", database=f"{DB}_restored") == "5000"
    _assert_no_secret_leaks(restore, credentials)
    # the backup's artifacts reached the restore job as variables
    extravars = (restore.pdd / "env" / "extravars").read_text()
    assert re.search(r"runbook_run_report:\s*\n", extravars) and _run_summary(backup)["json"] in extravars


def test_the_leak_check_finds_a_printed_secret(stack, project, tmp_path_factory):
    """A playbook that prints the connection variables is caught (the check is not vacuous)."""
    tmp_path, inventory_vars, credentials = stack
    leaky = tmp_path_factory.mktemp("leaky") / "runbook"
    shutil.copytree(project, leaky, symlinks=True)
    (leaky / "playbooks" / "daily.yml").write_text(
        "---\n- name: Leak\n  hosts: postgres\n  gather_facts: false\n  tasks:\n"
        "    - name: Print the login\n      ansible.builtin.debug:\n        var: runbook_pg_login\n")
    job = run_job(tmp_path, leaky, "daily", inventory_vars=inventory_vars, groups=GROUPS, credentials=credentials,
                  job_id=6)
    assert job.status == "successful"
    with pytest.raises(AssertionError, match="secret appears"):
        _assert_no_secret_leaks(job, credentials)
