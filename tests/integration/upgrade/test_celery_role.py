# SPDX-License-Identifier: GPL-3.0-or-later
"""The celery role (connection local) against the harness's real Redis as the broker.

No Celery worker runs here, so the probe is critical either way: the celery library is missing
(the probe says so) or it is present and no worker answers ping. The role must build the probe from its
variables, run it, report it and apply its failure policy.
"""
from __future__ import annotations

import sys

PLAYBOOK = """
- name: Celery role
  hosts: localhost
  gather_facts: false
  roles:
    - role: runbook.ops.celery
  post_tasks:
    - name: Show results
      ansible.builtin.debug:
        var: celery_results
"""


def role_vars(redis_server, **extra):
    values = {
        "ansible_python_interpreter": sys.executable,
        "celery_broker_url": f"redis://127.0.0.1:{redis_server.port}/0",
        "celery_queues": ["celery", "mail"],
        "celery_reply_timeout": 0.5,
    }
    values.update(extra)
    return values


def test_no_worker_is_critical_and_fails_unless_never(redis_server, ansible_playbook, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    failing = ansible_playbook(playbook, extra_vars=role_vars(redis_server))
    assert failing.rc != 0
    assert "Celery critical:" in failing.stdout

    tolerant = ansible_playbook(playbook, extra_vars=role_vars(redis_server, celery_fail_on="never"))
    assert tolerant.rc == 0, tolerant.stdout[-3000:]
    res = tolerant.task_results("Show results")[0]["celery_results"]
    assert res["status"] == "critical"
    assert ("celery Python library is not installed" in res["message"]
            or "0 worker(s) answered ping" in res["message"]), res


def test_celery_argument_specs_reject_wrong_types(redis_server, ansible_playbook, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    run = ansible_playbook(playbook, extra_vars=role_vars(redis_server, celery_min_workers="two",
                                                          celery_fail_on="sometimes"))
    assert run.rc != 0
    assert "celery_min_workers" in run.stdout and "celery_fail_on" in run.stdout


def test_containers_argument_specs_reject_wrong_types(ansible_playbook, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text("""
- name: Containers role
  hosts: localhost
  gather_facts: false
  roles:
    - role: runbook.ops.containers
""")
    run = ansible_playbook(playbook, extra_vars={
        "ansible_python_interpreter": sys.executable,
        "containers_compose_dir": str(tmp_path),
        "containers_services": ["app"],
        "containers_pull": "maybe",
    })
    assert run.rc != 0
    assert "containers_services" in run.stdout and "containers_pull" in run.stdout
