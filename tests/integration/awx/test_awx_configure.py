# SPDX-License-Identifier: GPL-3.0-or-later
"""awx/configure.yml's calls of the awx.awx modules pass the modules' own argument validation.

No AWX is reachable here. Every awx.awx task of configure.yml (every loop item: each job template
with its survey, each schedule, each credential type) runs for real against a controller URL on a
free loopback port where nothing listens: the module validates its arguments, then fails to
connect. A connection error is the expected end; a validation error (an unknown option, a wrong
type or choice) fails the test.
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from harness.net import free_port

REPO = Path(__file__).resolve().parents[3]
CONNECTION_ERROR = re.compile(r"Connection refused|Failed to get token|error when trying to connect|urlopen error", re.I)


def test_every_awx_call_passes_the_module_argument_validation(tmp_path, ansible_playbook):
    play = yaml.safe_load((REPO / "awx" / "configure.yml").read_text())[0]
    tasks = []
    for task in play["tasks"]:
        module = next((k for k in task if k.startswith("awx.awx.")), None)
        if module is None:
            continue
        task = dict(task, ignore_errors=True)
        task.pop("when", None)
        task.pop("no_log", None)  # fake inputs here; the messages must be readable
        tasks.append(task)
    assert len(tasks) == 7
    wrapper = tmp_path / "configure_offline.yml"
    wrapper.write_text(yaml.safe_dump([{
        "name": "configure.yml against a controller that is not there",
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars_files": [str(REPO / "awx" / "vars" / "runbook.yml")],
        "vars": play["vars"], "tasks": tasks}], sort_keys=False))
    port = free_port()
    run = ansible_playbook(wrapper, extra_vars={
        "runbook_awx_scm_url": "https://git.example.invalid/ops/runbook.git",
        "runbook_awx_inventory": "production", "runbook_awx_machine_credential": "ssh",
        "runbook_awx_ee_image": "registry.example.invalid/runbook-ops-ee:0.1.0",
        "runbook_awx_postgres_credential": {"host": "db1", "username": "postgres", "password": "pw"},
        "runbook_awx_redis_credential": {"host": "cache1", "password": "pw"},
        "runbook_awx_job_slice_count": 3},  # sliced templates: job_slice_count and the slices' extra_vars checked too
        env={"CONTROLLER_HOST": f"http://127.0.0.1:{port}", "CONTROLLER_OAUTH_TOKEN": "not-a-token",
             "CONTROLLER_VERIFY_SSL": "false"}, timeout=300)
    assert run.rc == 0, run.stdout[-3000:]
    results = {}
    for task in run.data["plays"][0]["tasks"]:
        result = task["hosts"]["localhost"]
        items = result.get("results", [result])
        results[task["task"]["name"]] = items
        for item in items:
            assert item.get("failed"), (task["task"]["name"], item)
            msg = str(item.get("msg"))
            assert CONNECTION_ERROR.search(msg), f"{task['task']['name']}: {msg}"
    counts = {name: len(items) for name, items in results.items()}
    assert counts["Job templates, one per schedule playbook"] == 10
    assert counts["Schedules"] == 5 and counts["Credential types for PostgreSQL and Redis"] == 2
    assert counts["PostgreSQL and Redis credentials"] == 2


def test_a_wrong_argument_is_caught_by_the_same_check(tmp_path, ansible_playbook):
    wrapper = tmp_path / "wrong.yml"
    wrapper.write_text(yaml.safe_dump([{
        "name": "wrong", "hosts": "localhost", "connection": "local", "gather_facts": False,
        "tasks": [{"name": "A survey with a wrong type", "ignore_errors": True,
                   "awx.awx.job_template": {"name": "x", "survey_enabled": "maybe", "playbook": "playbooks/daily.yml"}}]}]))
    run = ansible_playbook(wrapper, env={"CONTROLLER_HOST": f"http://127.0.0.1:{free_port()}",
                                         "CONTROLLER_OAUTH_TOKEN": "not-a-token"}, timeout=300)
    msg = str(run.data["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"])
    assert not CONNECTION_ERROR.search(msg) and "survey_enabled" in msg
