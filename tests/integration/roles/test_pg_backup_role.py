# SPDX-License-Identifier: GPL-3.0-or-later
"""The pg_backup role (connection local) against the real PostgreSQL: backup, retention, DR drill."""
from __future__ import annotations

import sys

import pytest

DB = "role_backup_it"
SCRATCH = DB + "_drill"

PLAYBOOK = """
- name: PostgreSQL backup role
  hosts: localhost
  gather_facts: false
  roles:
    - role: runbook.ops.pg_backup
  post_tasks:
    - name: Show results
      ansible.builtin.debug:
        var: pg_backup_results
"""


@pytest.fixture
def db(pg):
    pg.psql(f"DROP DATABASE IF EXISTS {DB}")
    pg.psql(f"DROP DATABASE IF EXISTS {SCRATCH}")
    pg.psql(f"CREATE DATABASE {DB}")
    pg.psql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 500);", database=DB)
    yield DB
    pg.psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    pg.psql(f"DROP DATABASE IF EXISTS {SCRATCH} WITH (FORCE)")


def role_vars(pg, tmp_path, **extra):
    login = pg.login()
    values = {
        "ansible_python_interpreter": sys.executable,
        "runbook_pg_login": login,
        "runbook_databases": [DB],
        "runbook_backup_dir": str(tmp_path / "backups"),
        "pg_backup_keep_last": 2,
        "pg_backup_drill_enabled": True,
    }
    values.update(extra)
    return values


def results(run):
    return run.task_results("Show results")[0]["pg_backup_results"]


def test_backup_and_drill(pg, db, ansible_playbook, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    check = ansible_playbook(playbook, extra_vars=role_vars(pg, tmp_path, pg_backup_drill_enabled=False), check=True)
    assert check.rc == 0, check.stdout[-3000:]
    assert results(check)["backup"]["changed"] is True
    assert not (tmp_path / "backups").exists() or not any((tmp_path / "backups").rglob("*.dump"))

    for _run_number in range(3):
        run = ansible_playbook(playbook, extra_vars=role_vars(pg, tmp_path))
        assert run.rc == 0, run.stdout[-3000:]
        drill = results(run)["drill"][0]
        assert drill["target_database"] == SCRATCH
        assert drill["tables_compared"] >= 1 and drill["row_count_differences"] == []
        assert pg.psql("SELECT count(*) FROM t", database=SCRATCH) == "500"
    backups = results(run)["backup"]
    assert len(backups["deleted"]) == 1, backups


def test_pg_backup_argument_specs_reject_wrong_types(pg, ansible_playbook, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    run = ansible_playbook(playbook, extra_vars=role_vars(pg, tmp_path, pg_backup_keep_last="seven",
                                                          pg_backup_verify="maybe"))
    assert run.rc != 0
    assert "pg_backup_keep_last" in run.stdout
    assert "pg_backup_verify" in run.stdout
