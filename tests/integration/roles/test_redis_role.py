# SPDX-License-Identifier: GPL-3.0-or-later
"""The redis role (connection local) against the real Redis of the harness."""
from __future__ import annotations

import sys

import pytest

PLAYBOOK = """
- name: Redis role
  hosts: localhost
  gather_facts: false
  roles:
    - role: runbook.ops.redis
  post_tasks:
    - name: Show results
      ansible.builtin.debug:
        var: redis_results
"""

PREFIX = "roletest"


@pytest.fixture
def keys(redis_server):
    client = redis_server.client()
    policy = client.config_get("maxmemory-policy")["maxmemory-policy"]
    with client.pipeline() as pipe:
        for i in range(50):
            pipe.set(f"{PREFIX}:cache:{i}", "x")
        pipe.set(f"{PREFIX}:keep", "y")
        pipe.execute()
    yield client
    client.config_set("maxmemory-policy", policy)
    for key in client.scan_iter(f"{PREFIX}:*"):
        client.unlink(key)


def role_vars(redis_server, tmp_path, **extra):
    values = {
        "ansible_python_interpreter": sys.executable,
        "runbook_redis_login": redis_server.conn_args(),
        "redis_maxmemory_policy": "allkeys-lru",
        "redis_purges": [{"patterns": [f"{PREFIX}:cache:*"]}],
        "redis_backup_enabled": True,
        "redis_backup_dir": str(tmp_path / "redis-backups"),
    }
    values.update(extra)
    return values


def results(run):
    return run.task_results("Show results")[0]["redis_results"]


def test_redis_role_check_real_and_unchanged(redis_server, keys, ansible_playbook, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    keys.config_set("maxmemory-policy", "noeviction")
    check = ansible_playbook(playbook, extra_vars=role_vars(redis_server, tmp_path), check=True)
    assert check.rc == 0, check.stdout[-3000:]
    preview = results(check)
    assert preview["purges"][0]["matched"] == 50 and preview["purges"][0]["deleted"] == 0
    assert preview["maintenance"]["changed"] is True
    assert keys.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
    assert len(list(keys.scan_iter(f"{PREFIX}:cache:*"))) == 50

    run = ansible_playbook(playbook, extra_vars=role_vars(redis_server, tmp_path))
    assert run.rc == 0, run.stdout[-3000:]
    done = results(run)
    assert done["purges"][0]["deleted"] == 50
    assert done["backup"]["changed"] is True
    assert list(keys.scan_iter(f"{PREFIX}:cache:*")) == []
    assert keys.get(f"{PREFIX}:keep") == b"y" or keys.get(f"{PREFIX}:keep") == "y"
    assert keys.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"

    again = ansible_playbook(playbook, extra_vars=role_vars(redis_server, tmp_path, redis_backup_enabled=False))
    assert again.rc == 0, again.stdout[-3000:]
    assert again.stats["localhost"]["changed"] == 0, again.stdout[-3000:]


def test_redis_role_argument_specs_reject_wrong_types(redis_server, ansible_playbook, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    run = ansible_playbook(playbook, extra_vars=role_vars(redis_server, tmp_path, redis_purges="cache:*",
                                                          redis_maxmemory_policy="lru"))
    assert run.rc != 0
    assert "redis_purges" in run.stdout
    assert "redis_maxmemory_policy" in run.stdout
