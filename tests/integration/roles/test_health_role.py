# SPDX-License-Identifier: GPL-3.0-or-later
"""The health role (connection local) against the real PostgreSQL and Redis of the harness."""
from __future__ import annotations

import sys

from harness.net import free_port


PLAYBOOK = """
- name: Health role
  hosts: localhost
  gather_facts: false
  roles:
    - role: runbook.ops.health
  post_tasks:
    - name: Show results
      ansible.builtin.debug:
        var: health_results
"""


def role_vars(pg, redis_server, **extra):
    login = pg.conn_args()
    values = {
        "ansible_python_interpreter": sys.executable,
        "runbook_pg_login": login,
        "runbook_redis_login": redis_server.conn_args(),
        "health_pg_enabled": True,
        "health_redis_enabled": True,
        "health_services": [],
        "health_disk_paths": ["/"],
        "health_disk_warn": 99,
        "health_disk_crit": 100,
    }
    values.update(extra)
    return values


def test_health_ok_in_check_mode_and_real_run(pg, redis_server, ansible_playbook, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    for check in (True, False):
        run = ansible_playbook(playbook, extra_vars=role_vars(pg, redis_server), check=check)
        assert run.rc == 0, run.stdout[-3000:]
        res = run.task_results("Show results")[0]["health_results"]
        names = [p["name"] for p in res["probes"]["results"]]
        assert names == ["postgres", "redis", "disk /"]
        assert res["probes"]["summary"]["critical"] == 0
        assert res["restarted"] == [] and res["after"] is None
        assert run.stats["localhost"]["changed"] == 0


def test_health_fails_on_critical_unless_never(pg, redis_server, ansible_playbook, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    dead = [{"name": "dead port", "kind": "tcp", "host": "127.0.0.1", "port": free_port()}]
    failing = ansible_playbook(playbook, extra_vars=role_vars(pg, redis_server, health_extra_probes=dead))
    assert failing.rc != 0
    assert "dead port" in failing.stdout
    tolerant = ansible_playbook(playbook, extra_vars=role_vars(pg, redis_server, health_extra_probes=dead,
                                                               health_fail_on="never", health_remediate=True))
    assert tolerant.rc == 0, tolerant.stdout[-3000:]
    res = tolerant.task_results("Show results")[0]["health_results"]
    assert res["probes"]["summary"]["critical_probes"] == ["dead port"]
    assert res["restarted"] == []


def test_health_argument_specs_reject_wrong_types(pg, redis_server, ansible_playbook, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    run = ansible_playbook(playbook, extra_vars=role_vars(pg, redis_server, health_disk_crit="full",
                                                          health_fail_on="sometimes"))
    assert run.rc != 0
    assert "health_disk_crit" in run.stdout
    assert "health_fail_on" in run.stdout
