# SPDX-License-Identifier: GPL-3.0-or-later
"""The pg_maintenance role through ansible-playbook against a real PostgreSQL."""
from __future__ import annotations

import json
import sys

import pytest

DB = "role_maint_it"

PLAYBOOK = """
- name: PostgreSQL maintenance role
  hosts: localhost
  gather_facts: false
  roles:
    - role: runbook.ops.pg_maintenance
  post_tasks:
    - name: Show results
      ansible.builtin.debug:
        var: pg_maintenance_results
"""


@pytest.fixture
def db(pg):
    pg.psql(f"DROP DATABASE IF EXISTS {DB}")
    pg.psql(f"CREATE DATABASE {DB}")
    pg.psql(
        "CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t SELECT g, 0 FROM generate_series(1, 6000) g;"
        " ANALYZE t; UPDATE t SET v = 1 WHERE id <= 3000;"
        " CREATE TABLE events (at timestamptz); INSERT INTO events SELECT now() - (g || ' days')::interval"
        " + interval '12 hours' FROM generate_series(1, 40) g;",
        database=DB,
    )
    yield DB
    pg.psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


def role_vars(pg, **extra):
    login = pg.login()
    values = {
        "ansible_python_interpreter": sys.executable,
        "pg_maintenance_login": login,
        "pg_maintenance_databases": [DB],
        "pg_maintenance_report_sections": ["tables", "connections"],
        "pg_maintenance_retention": [
            {"database": DB, "tables": [{"table": "events", "column": "at", "older_than": "30d"}]}
        ],
    }
    values.update(extra)
    return values


def results(run):
    return run.task_results("Show results")[0]["pg_maintenance_results"]


def test_role_check_mode_then_real_run(pg, db, ansible_playbook, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    check = ansible_playbook(playbook, extra_vars=role_vars(pg), check=True)
    assert check.rc == 0, check.stdout[-3000:]
    preview = results(check)
    assert preview["vacuum"]["changed"] is True
    assert preview["retention"][0]["total_rows"] == 10
    assert pg.psql("SELECT count(*) FROM events", database=DB) == "40"

    run = ansible_playbook(playbook, extra_vars=role_vars(pg))
    assert run.rc == 0, run.stdout[-3000:]
    done = results(run)
    assert done["vacuum"]["statements"] == preview["vacuum"]["statements"]
    assert done["retention"][0]["total_rows"] == 10
    assert pg.psql("SELECT count(*) FROM events", database=DB) == "30"
    assert int(pg.psql("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 't'", database=DB)) == 0
    assert any(r["table"] == "t" for r in done["report"]["tables"]), json.dumps(done["report"])[:2000]

    again = ansible_playbook(playbook, extra_vars=role_vars(pg))
    assert again.rc == 0
    assert again.stats["localhost"]["changed"] == 0, again.stdout[-3000:]


def test_role_argument_specs_reject_wrong_types(pg, ansible_playbook, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    run = ansible_playbook(playbook, extra_vars=role_vars(pg, pg_maintenance_min_dead_tuples="many",
                                                          pg_maintenance_vacuum_mode="aggressive"))
    assert run.rc != 0
    text = run.stdout
    assert "pg_maintenance_min_dead_tuples" in text
    assert "pg_maintenance_vacuum_mode" in text
