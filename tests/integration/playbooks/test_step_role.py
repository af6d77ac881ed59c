# SPDX-License-Identifier: GPL-3.0-or-later
"""The role runbook.ops.step: runs a role with the import's variables, remembers its failure so the other hosts
and steps go on, and costs no task per host beyond the include_role a step always cost."""
from __future__ import annotations

import sys

import yaml

LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
INNER = [
    {"name": "Say what it was given", "ansible.builtin.set_fact": {"inner_seen": "{{ inner_value }}"}},
    {"name": "Fail where asked", "ansible.builtin.fail": {"msg": "inner broke on {{ inventory_hostname }}"},
     "when": "inner_fail | default(false)"},
]


def _play(tasks):
    return [{"name": "Steps", "hosts": "all", "gather_facts": False, "tasks": tasks + [
        {"name": "After the step", "ansible.builtin.debug": {"msg": "still here"}}]}]


STEP = {"name": "The inner step", "ansible.builtin.import_role": {"name": "runbook.ops.step", "rolespec_validate": False},
        "vars": {"step_role": "inner", "inner_value": 42}}
# what the playbooks wrote before: the role in a block, its failure remembered in the rescue
BLOCK = {"name": "The inner step", "block": [
    {"name": "Run it", "ansible.builtin.include_role": {"name": "inner"}, "vars": {"inner_value": 42}}],
    "rescue": [{"name": "Remember", "ansible.builtin.set_fact": {
        "runbook_failed_steps": "{{ runbook_failed_steps | default([]) + ['inner'] }}"}}]}


def _setup(tmp_path):
    (tmp_path / "roles" / "inner" / "tasks").mkdir(parents=True)
    (tmp_path / "roles" / "inner" / "tasks" / "main.yml").write_text(yaml.safe_dump(INNER))
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"h1": dict(LOCAL, inner_fail=True), "h2": LOCAL}}}))
    return str(inventory), {"ANSIBLE_ROLES_PATH": str(tmp_path / "roles")}


def test_a_failed_step_is_remembered_and_the_others_go_on(ansible_playbook, tmp_path):
    inventory, env = _setup(tmp_path)
    playbook = tmp_path / "step.yml"
    playbook.write_text(yaml.safe_dump(_play([STEP])))
    run = ansible_playbook(playbook, inventory=inventory, env=env)
    assert run.rc == 0, run.stdout[-3000:]
    assert run.stats["h1"]["rescued"] == 1 and run.stats["h1"]["failures"] == 0
    assert [r["msg"] for r in (run.task_results("After the step", "h1") + run.task_results("After the step", "h2"))] \
        == ["still here", "still here"]
    remembered = run.task_results("runbook.ops.step : Remember the failure (the host fails in the report play; the "
                                  "other hosts go on)", "h1")[0]["ansible_facts"]
    assert remembered["runbook_failed_steps"] == ["inner"]
    failure = remembered["runbook_step_failures"][0]
    assert failure["step"] == "inner" and failure["role"] == "inner" and failure["play"] == "Steps"
    assert failure["task"] == "Fail where asked" and failure["message"] == "inner broke on h1"
    assert failure["action"] == "ansible.builtin.fail" and failure["names"] == {}
    # the import's variables reached the role
    seen = run.task_results("inner : Say what it was given", "h2")[0]["ansible_facts"]
    assert str(seen["inner_seen"]) == "42"


def test_no_task_per_host_beyond_the_block_it_replaces(ansible_playbook, tmp_path):
    inventory, env = _setup(tmp_path)
    counts = {}
    for name, task in (("step", STEP), ("block", BLOCK)):
        playbook = tmp_path / f"{name}.yml"
        playbook.write_text(yaml.safe_dump(_play([task])))
        run = ansible_playbook(playbook, inventory=inventory, env=env)
        assert run.rc == 0, run.stdout[-3000:]
        counts[name] = {h: {k: s[k] for k in ("ok", "changed", "skipped", "failures", "rescued")}
                        for h, s in run.stats.items()}
    assert counts["step"] == counts["block"]
