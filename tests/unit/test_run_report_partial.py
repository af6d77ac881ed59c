# SPDX-License-Identifier: GPL-3.0-or-later
"""The run report without the callback: every targeted host, failed steps fail their host, marked partial."""
from __future__ import annotations

import json

from ansible_collections.runbook.ops.plugins.module_utils import _run_report as R
from ansible_collections.runbook.ops.plugins.module_utils import _run_report_partial as P
from ansible_collections.runbook.ops.plugins.module_utils._run_report_html import render_html
from ansible_collections.runbook.ops.plugins.module_utils._run_report_merge import merge
from ansible_collections.runbook.ops.plugins.module_utils._run_report_metrics import render_metrics
from ansible_collections.runbook.ops.plugins.module_utils._run_report_read import load_host_report
from ansible_collections.runbook.ops.plugins.module_utils._run_report_redact import redact

STAMP = "20261124T020000Z"


def host_report(host, failed_steps=(), step_failures=()):
    return {"schedule": "daily", "host": host, "stamp": STAMP, "check_mode": False, "results": {},
            "failed_steps": list(failed_steps), "step_failures": list(step_failures), "source": f"/r/{host}.json"}


BACKUP_FAILURE = {"step": "pg_backup", "role": "runbook.ops.pg_backup", "play": "Daily - backup", "task": "Back up",
                  "action": "runbook.ops.pg_backup", "message": "backup_dir /x is not a directory; password=hunter22",
                  "names": {"databases": ["shop", "crm"]}}


def test_a_failed_step_fails_its_host_and_names_its_backup_series():
    reports = [host_report("db1"), host_report("db3", ["pg_backup"], [BACKUP_FAILURE])]
    run = P.partial_run(reports, ["db1", "db3"], redact)
    assert run["partial"] == P.PARTIAL
    assert run["hosts"]["db1"] == {"outcome": "ok", "failures": [], "reason": ""}
    db3 = run["hosts"]["db3"]
    assert db3["outcome"] == "failed" and len(db3["failures"]) == 1
    failure = db3["failures"][0]
    assert failure["message"] == "step pg_backup failed: backup_dir /x is not a directory; password=********"
    assert (failure["play"], failure["role"], failure["task"], failure["action"]) == (
        "Daily - backup", "runbook.ops.pg_backup", "Back up", "pg_backup")
    assert [(f["host"], f["kind"], f["name"]) for f in run["backup_failures"]] == [
        ("db3", "postgres", "shop"), ("db3", "postgres", "crm")]


def test_hosts_without_a_report_are_listed_from_the_inventory_as_failed():
    run = P.partial_run([host_report("db1")], ["db1", "db2", "web1"], redact)
    for host in ("db2", "web1"):
        assert run["hosts"][host]["outcome"] == "failed" and run["hosts"][host]["reason"] == P.LOST
    report = merge([host_report("db1")], "daily", STAMP, run=run)
    assert report["status"] == "critical" and report["partial"] == P.PARTIAL
    assert {h["host"]: (h["outcome"], h["status"]) for h in report["hosts"]} == {
        "db1": ("ok", "ok"), "db2": ("failed", "critical"), "web1": ("failed", "critical")}
    assert [h["host"] for h in report["hosts"]][-1] == "db1"  # failed first
    summary = R.summary(report)
    assert summary["partial"] == P.PARTIAL and sorted(summary["failed_hosts"]) == ["db2", "web1"]
    metrics = render_metrics(report)
    assert 'runbook_run_partial{schedule="daily"} 1' in metrics and 'runbook_run_status{schedule="daily"} 2' in metrics
    page = render_html(report)
    assert "Partial report" in page and P.PARTIAL in page


def test_bare_step_names_of_an_own_rescue_still_fail_the_host():
    """A playbook of one's own whose rescue only appends to runbook_failed_steps."""
    run = P.partial_run([host_report("app1", ["deploy"])], ["app1"], redact)
    assert run["hosts"]["app1"]["outcome"] == "failed"
    assert run["hosts"]["app1"]["failures"][0]["message"] == "step deploy failed: see the Ansible output"
    assert run["backup_failures"] == []


def test_a_report_with_the_callback_is_not_partial():
    report = merge([host_report("db1")], "daily", STAMP, run={"hosts": {"db1": {"outcome": "changed"}}})
    assert report["partial"] is None and R.summary(report)["partial"] is None
    assert 'runbook_run_partial{schedule="daily"} 0' in render_metrics(report)
    assert "Partial report" not in render_html(report)


def test_build_writes_the_partial_report_and_the_failed_backup_series(tmp_path):
    path = tmp_path / "daily-db3.json"
    path.write_text(json.dumps(host_report("db3", ["pg_backup"], [BACKUP_FAILURE])))
    run = P.partial_run([load_host_report(str(path))], ["db3", "db2"], redact)
    done = R.build(str(tmp_path), "daily", STAMP, [str(path)], str(tmp_path / "m"), run=run)
    report = json.loads((tmp_path / f"daily-{STAMP}.json").read_text())
    assert done["status"] == "critical" and report["partial"] == P.PARTIAL
    assert [(s["host"], s["name"]) for s in report["backup_series"] if s["last_failure"]] == [
        ("db3", "crm"), ("db3", "shop")]


def test_backup_failures_of_other_actions_and_single_names():
    assert P.backup_failures("h", "ansible.builtin.fail", {}, "m") == []
    redis = {"host": "h", "kind": "redis", "name": "redis", "message": "m"}
    assert P.backup_failures("h", "redis_backup", None, "m") == [redis]
    assert P.backup_failures("h", "runbook.ops.pg_backup", {"database": "shop"}, "m")[0]["name"] == "shop"
