# SPDX-License-Identifier: GPL-3.0-or-later
"""The pg_backup role's on-host runner (the nightly schedule without a controller) copies off the host too
when a destination is set: its command, run as systemd would, makes a verified backup and a verified copy."""
from __future__ import annotations

import json
import subprocess
import sys

import yaml
from offsite_helpers import copy_manifests

DB = "offsite_sched"
PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - runbook.ops.pg_backup
"""
SERVICE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def test_scheduled_runner_copies_after_the_backup(pg, tmp_path, ansible_playbook):
    pg.psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    pg.psql(f"CREATE DATABASE {DB}")
    pg.psql("CREATE TABLE t AS SELECT generate_series(1, 50) AS id", database=DB)
    login = pg.login()
    remote = tmp_path / "nfs"
    variables = {
        "ansible_python_interpreter": sys.executable, "runbook_pg_login": login, "runbook_databases": [DB],
        "runbook_backup_dir": str(tmp_path / "backups"), "pg_backup_enabled": False,
        "pg_backup_schedule_enabled": True, "pg_backup_schedule_python": sys.executable,
        "pg_backup_schedule_runner_dir": str(tmp_path / "runner"), "pg_backup_schedule_unit_dir": str(tmp_path / "units"),
        "pg_backup_copy_destination": {"type": "path", "path": str(remote)}, "pg_backup_copy_keep_last": 5,
    }
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    try:
        run = ansible_playbook(playbook, extra_vars=variables)
        assert run.rc == 0, run.stdout[-3000:]
        runner = tmp_path / "runner"
        text = (runner / "vars.yml").read_text()
        runner_vars = yaml.safe_load(text[text.index("pg_backup_runner_copy:"):])  # past the !unsafe login strings
        assert runner_vars["pg_backup_runner_copy"]["destination"] == {"type": "path", "path": str(remote)}
        proc = subprocess.run([str(runner / "run-backup")], env=SERVICE_ENV, cwd="/", capture_output=True, text=True,
                              timeout=300, check=False)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        assert "Copy verified backups off the host" in proc.stdout
        docs = copy_manifests(remote)
        assert len(docs) == 1 and all(d["verified"] == "passed" and d["kind"] == "postgres" for d in docs.values())
        backups = sorted((tmp_path / "backups").glob("*.manifest.json"))
        assert {json.loads(p.read_text())["id"] for p in backups} == set(docs)
    finally:
        pg.psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
