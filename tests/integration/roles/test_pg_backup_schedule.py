# SPDX-License-Identifier: GPL-3.0-or-later
"""The pg_backup role's on-host schedule against the real PostgreSQL (connection local): the runner,
the systemd units and the cron entry are written, the unit's ExecStart really makes a verified backup
with the collection's pg_backup module, a second run changes nothing, and turning it off removes it."""
from __future__ import annotations

import configparser
import hashlib
import json
import shlex
import shutil
import stat
import subprocess
import sys

import pytest

DB = "role_schedule_it"

PLAYBOOK = """
- name: PostgreSQL backup role, on-host schedule
  hosts: localhost
  gather_facts: false
  roles:
    - role: runbook.ops.pg_backup
  post_tasks:
    - name: Show results
      ansible.builtin.debug:
        var: pg_backup_results
"""

# What systemd (or cron) gives a service: no inherited ANSIBLE_* settings, a plain PATH.
SERVICE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


@pytest.fixture
def db(pg):
    pg.psql(f"DROP DATABASE IF EXISTS {DB}")
    pg.psql(f"CREATE DATABASE {DB}")
    pg.psql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 300);", database=DB)
    yield DB
    pg.psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


def role_vars(pg, tmp_path, **extra):
    login = pg.login()
    values = {
        "ansible_python_interpreter": sys.executable,
        "runbook_pg_login": login,
        "runbook_databases": [DB],
        "runbook_backup_dir": str(tmp_path / "backups"),
        "pg_backup_enabled": False,
        "pg_backup_keep_last": 2,
        "pg_backup_schedule_enabled": True,
        "pg_backup_schedule_python": sys.executable,
        "pg_backup_schedule_runner_dir": str(tmp_path / "runner"),
        "pg_backup_schedule_unit_dir": str(tmp_path / "units"),
        "pg_backup_schedule_on_calendar": "*-*-* 03:15:00",
        "pg_backup_schedule_cron_file": str(tmp_path / "cron.d" / "runbook-pg-backup"),
    }
    values.update(extra)
    return values


def run_role(ansible_playbook, tmp_path, variables, check=False):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    run = ansible_playbook(playbook, extra_vars=variables, check=check)
    assert run.rc == 0, run.stdout[-4000:]
    return run


def schedule_result(run):
    return run.task_results("Show results")[0]["pg_backup_results"]["schedule"]


def read_unit(path):
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read_string(path.read_text())
    return parser


def manifests(backup_dir):
    return sorted(backup_dir.rglob("*.manifest.json")) if backup_dir.exists() else []


def run_as_service(argv):
    """Run a command line as a systemd service or cron would: clean environment, cwd /."""
    return subprocess.run(argv, env=SERVICE_ENV, cwd="/", capture_output=True, text=True, timeout=300, check=False)


def test_systemd_schedule_runs_verified_backup(pg, db, ansible_playbook, tmp_path):
    variables = role_vars(pg, tmp_path)
    password = variables["runbook_pg_login"]["login_password"]
    units = tmp_path / "units"
    runner = tmp_path / "runner"

    check = run_role(ansible_playbook, tmp_path, variables, check=True)
    assert check.stats["localhost"]["changed"] > 0
    would_write = check.task_results("runbook.ops.pg_backup : Write the systemd service and timer")[0]["results"]
    assert [item["changed"] for item in would_write] == [True, True], would_write
    assert not units.exists() and not runner.exists()

    run = run_role(ansible_playbook, tmp_path, variables)
    result = schedule_result(run)
    assert result["type"] == "systemd"
    assert result["activation"] == "skipped: pg_backup_schedule_unit_dir is not /etc/systemd/system"

    service_path = units / "runbook-pg-backup.service"
    timer_path = units / "runbook-pg-backup.timer"
    service, timer = read_unit(service_path), read_unit(timer_path)
    assert timer["Timer"]["OnCalendar"] == "*-*-* 03:15:00"
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Timer"]["RandomizedDelaySec"] == "900"
    assert timer["Timer"]["Unit"] == "runbook-pg-backup.service"
    assert timer["Install"]["WantedBy"] == "timers.target"
    assert service["Service"]["Type"] == "oneshot"
    assert service["Service"]["IOSchedulingClass"] == "idle"
    exec_start = shlex.split(service["Service"]["ExecStart"])
    assert exec_start == [str(runner / "run-backup")]

    vars_file = runner / "vars.yml"
    assert stat.S_IMODE(vars_file.stat().st_mode) == 0o600
    assert vars_file.stat().st_uid == 0
    assert password in vars_file.read_text()
    for path in (service_path, timer_path, runner / "run-backup", runner / "playbook.yml", runner / "ansible.cfg"):
        assert password not in path.read_text(), path
    collection = runner / "collections/ansible_collections/runbook/ops"
    assert (collection / "plugins/modules/pg_backup.py").is_file()
    assert (collection / "plugins/module_utils/_pg_backup_run.py").is_file()

    if shutil.which("systemd-analyze"):
        # Not booted with systemd here: check the syntax of both units offline.
        verify = subprocess.run(["systemd-analyze", "verify", "--man=no", str(service_path), str(timer_path)],
                                capture_output=True, text=True, timeout=120, check=False)
        assert verify.returncode == 0, verify.stdout + verify.stderr

    # The service's command, exactly as systemd runs it, makes a verified backup with the module.
    backups = tmp_path / "backups"
    assert manifests(backups) == []
    proc = run_as_service(exec_start)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "Back up, verify and apply retention" in proc.stdout
    assert password not in proc.stdout + proc.stderr
    found = manifests(backups)
    assert len(found) == 1, found
    manifest = json.loads(found[0].read_text())
    assert manifest["postgres"]["database"] == DB, manifest
    assert manifest["postgres"]["row_counts"] == {"public.t": 300}, manifest
    assert manifest["verified"] == "passed", manifest
    assert manifest["verification"]["method"] == "list" and manifest["verification"]["checksums"] == "ok", manifest
    dump = backups / manifest["files"][0]["path"]
    assert hashlib.sha256(dump.read_bytes()).hexdigest() == manifest["files"][0]["sha256"]

    again = run_role(ansible_playbook, tmp_path, variables)
    assert again.stats["localhost"]["changed"] == 0, again.stdout[-4000:]

    if shutil.which("crontab"):
        removed = check_cron_variant(pg, ansible_playbook, tmp_path, exec_start, password)
    else:  # ansible.builtin.cron needs the crontab command (Debian: cron)
        removed = ["systemd timer", "runner"]
    off = run_role(ansible_playbook, tmp_path, dict(variables, pg_backup_schedule_enabled=False))
    assert schedule_result(off) == {"enabled": False, "removed": removed}
    assert not service_path.exists() and not timer_path.exists() and not runner.exists()
    assert not (tmp_path / "cron.d" / "runbook-pg-backup").exists()
    assert found[0].exists(), "turning the schedule off keeps the backups"


def check_cron_variant(pg, ansible_playbook, tmp_path, exec_start, password):
    """Switch the schedule to cron: the timer goes, the cron entry runs the same command."""
    variables = role_vars(pg, tmp_path, pg_backup_schedule_type="cron", pg_backup_schedule_cron_minute="15",
                          pg_backup_schedule_cron_hour="3")
    cron_file = tmp_path / "cron.d" / "runbook-pg-backup"
    cron_file.parent.mkdir()
    run = run_role(ansible_playbook, tmp_path, variables)
    assert schedule_result(run)["cron_file"] == str(cron_file)
    assert not (tmp_path / "units" / "runbook-pg-backup.timer").exists()
    assert not (tmp_path / "units" / "runbook-pg-backup.service").exists()
    entries = [line for line in cron_file.read_text().splitlines() if line and not line.startswith("#")]
    assert len(entries) == 1, entries
    fields = entries[0].split(None, 6)
    assert fields[:6] == ["15", "3", "*", "*", "*", "root"]
    # cron runs the line with /bin/sh: the same runner command the service runs.
    assert shlex.split(fields[6]) == exec_start
    assert password not in cron_file.read_text()
    return ["cron entry", "runner"]


def test_schedule_argument_specs_reject_wrong_types(pg, ansible_playbook, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    run = ansible_playbook(playbook, extra_vars=role_vars(pg, tmp_path, pg_backup_schedule_type="anacron",
                                                          pg_backup_schedule_persistent="sometimes"))
    assert run.rc != 0
    assert "pg_backup_schedule_type" in run.stdout
    assert "pg_backup_schedule_persistent" in run.stdout
