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

import pytest
import yaml

from harness.net import free_port

REPO = Path(__file__).resolve().parents[3]
SMTP_PASSWORD = "smtp-Vault3d-secret"
HOOK_TOKEN = "Bearer hook-t0ken-secret"
NOTIFY = {"runbook_awx_notify_webhook_url": "https://chat.example.invalid/hooks/ops",
          "runbook_awx_notify_webhook_headers": {"Authorization": HOOK_TOKEN},
          "runbook_awx_notify_email_to": ["oncall@example.invalid"], "runbook_awx_notify_email_from": "awx@example.invalid",
          "runbook_awx_notify_smtp_host": "smtp.example.invalid", "runbook_awx_notify_smtp_security": "starttls",
          "runbook_awx_notify_smtp_user": "awx", "runbook_awx_notify_smtp_password": SMTP_PASSWORD}
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
    assert len(tasks) == 8
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
        "runbook_awx_redis_credential": {"host": "cache1", "password": "pw"}, **NOTIFY,
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
    assert counts["Notification templates for failed jobs (webhook, email)"] == 2


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


def _configure_tasks(tmp_path, names, extra_tasks=()):
    """configure.yml's play with only the tasks ``names`` (their when: kept), then ``extra_tasks``."""
    play = yaml.safe_load((REPO / "awx" / "configure.yml").read_text())[0]
    tasks = [dict(t, ignore_errors=True) for t in play["tasks"] if t["name"] in names]
    assert len(tasks) == len(names)
    wrapper = tmp_path / "configure_part.yml"
    wrapper.write_text(yaml.safe_dump([{
        "name": "part of configure.yml", "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars_files": [str(REPO / "awx" / "vars" / "runbook.yml")], "vars": play["vars"],
        "tasks": tasks + list(extra_tasks)}], sort_keys=False))
    return wrapper


CHECK = "The notification settings are complete"
TEMPLATES = "Notification templates for failed jobs (webhook, email)"


@pytest.mark.parametrize("given, expected", [
    ({}, []),
    ({"runbook_awx_notify_webhook_url": "https://chat.example.invalid/hooks/ops"}, ["runbook.ops failed job webhook"]),
    (NOTIFY, ["runbook.ops failed job webhook", "runbook.ops failed job email"]),
])
def test_notification_templates_follow_the_variables(tmp_path, ansible_playbook, given, expected):
    """Nothing without the variables; each channel from its own; the email's port and TLS from the security."""
    wrapper = _configure_tasks(tmp_path, [CHECK], [
        {"name": "Show", "ansible.builtin.set_stats": {"data": {"notifications": "{{ _runbook_awx_notifications }}"},
                                                       "per_host": False}}])
    run = ansible_playbook(wrapper, extra_vars=given, env={"ANSIBLE_SHOW_CUSTOM_STATS": "1"}, timeout=300)
    assert run.rc == 0, run.stdout[-3000:]
    got = run.data["global_custom_stats"]["notifications"]
    assert [n["name"] for n in got] == expected
    by_type = {n["type"]: n["configuration"] for n in got}
    if "email" in by_type:
        assert by_type["email"] == {"host": "smtp.example.invalid", "port": 587, "use_tls": True, "use_ssl": False,
                                    "username": "awx", "password": SMTP_PASSWORD, "sender": "awx@example.invalid",
                                    "recipients": ["oncall@example.invalid"], "timeout": 30}
    if "webhook" in by_type:
        assert by_type["webhook"]["url"] == "https://chat.example.invalid/hooks/ops"
        assert by_type["webhook"]["http_method"] == "POST"


@pytest.mark.parametrize("given, word", [
    ({"runbook_awx_notify_smtp_security": "tls"}, "runbook_awx_notify_smtp_security"),
    ({"runbook_awx_notify_email_to": ["a@example.invalid"], "runbook_awx_notify_email_from": "b@example.invalid"},
     "runbook_awx_notify_smtp_host"),
    ({"runbook_awx_notify_email_to": "a@example.invalid", "runbook_awx_notify_smtp_host": "smtp"}, "must be a list"),
])
def test_incomplete_notification_settings_are_refused(tmp_path, ansible_playbook, given, word):
    play = yaml.safe_load((REPO / "awx" / "configure.yml").read_text())[0]
    check = next(t for t in play["tasks"] if t["name"] == CHECK)
    wrapper = tmp_path / "check.yml"
    wrapper.write_text(yaml.safe_dump([{"name": "check", "hosts": "localhost", "connection": "local",
                                        "gather_facts": False, "vars_files": [str(REPO / "awx" / "vars" / "runbook.yml")],
                                        "tasks": [check]}], sort_keys=False))
    run = ansible_playbook(wrapper, extra_vars=given, timeout=300)
    assert run.rc != 0
    assert word in str(run.data["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"])


def test_the_notification_secrets_are_never_printed(tmp_path, ansible_playbook):
    """The notification task as configure.yml has it (no_log), against a controller that is not there:
    it runs (and fails to connect) without the SMTP password or the webhook's token in any output."""
    wrapper = _configure_tasks(tmp_path, [CHECK, TEMPLATES])
    run = ansible_playbook(wrapper, extra_vars=NOTIFY, env={
        "CONTROLLER_HOST": f"http://127.0.0.1:{free_port()}", "CONTROLLER_OAUTH_TOKEN": "not-a-token"}, timeout=300)
    task = run.data["plays"][0]["tasks"][1]
    assert task["task"]["name"] == TEMPLATES
    result = task["hosts"]["localhost"]
    assert result.get("failed") and len(result["results"]) == 2 and result.get("censored"), result
    for text in (run.stdout, run.stderr):
        assert SMTP_PASSWORD not in text and "hook-t0ken-secret" not in text
