# SPDX-License-Identifier: GPL-3.0-or-later
"""The notification's text and settings (module_utils/_run_report_notify.py); delivery is tested from real
runs in tests/integration/run_report/test_run_report_notify.py."""
from __future__ import annotations

import sys
from pathlib import Path

from ansible_collections.runbook.ops.plugins.module_utils import _run_report_merge as M
from ansible_collections.runbook.ops.plugins.module_utils import _run_report_notify as N

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_run_report import health, host_report, probe  # noqa: E402

OPTIONS = {"notify_smtp_host": "localhost", "notify_smtp_port": 0, "notify_smtp_security": "none",
           "notify_min_status": "warning", "notify_timeout": 10.0, "pushgateway_timeout": 10.0}


def _report():
    reports = [host_report("web1", health=health(probe("api", "critical"), *[probe(f"disk{i}", "warning") for i in range(12)])),
               host_report("db1")]
    run = {"hosts": {"web1": {"outcome": "ok", "failures": []},
                     "db1": {"outcome": "unreachable", "failures": [{"play": "p", "role": "", "task": "t", "action": "ping",
                                                                     "message": "ssh: password=hunter22 refused"}]},
                     "db2": {"outcome": "failed", "failures": [{"play": "p", "role": "", "task": "t", "action": "fail",
                                                                "message": "the key sekrit-value-1 leaked"}]}}}
    return M.merge(reports, "nightly", "20261124T020000Z", run=run)


def test_message_holds_what_on_call_needs_and_no_secret():
    subject, text = N.message(_report(), "https://reports.example/nightly.html", ["sekrit-value-1"])
    assert subject == "[runbook.ops] nightly: CRITICAL, 2 host(s) failed or unreachable"
    lines = text.splitlines()
    assert lines[0] == "Run nightly 20261124T020000Z: CRITICAL"
    assert "Failed hosts: db2" in lines and "Unreachable hosts: db1" in lines
    top = [x for x in lines if x.startswith("- [")]
    assert len(top) == N.TOP_PROBLEMS and "Top problems (10 of" in text
    # the worst first
    assert [x.split("]")[0] for x in top[:3]] == ["- [critical"] * 3
    assert lines[-1] == "Report: https://reports.example/nightly.html"
    assert "hunter22" not in text and "sekrit-value-1" not in text and "********" in text


def test_settings_name_the_bad_option():
    assert "error" not in N.settings({}, OPTIONS.get)
    got = N.settings({"runbook_notify_email_to": "a@x, b@x"}, OPTIONS.get)
    assert got["email_to"] == ["a@x", "b@x"] and got["smtp_port"] == 25
    assert N.settings({"runbook_notify_smtp_security": "ssl"}, OPTIONS.get)["smtp_port"] == 465
    for var, value, option in (("runbook_notify_smtp_security", "tls", "notify_smtp_security"),
                               ("runbook_notify_min_status", "error", "notify_min_status"),
                               ("runbook_notify_timeout", "0", "notify_timeout"),
                               ("runbook_notify_webhook_url", "file:///etc/passwd", "notify_webhook_url"),
                               ("runbook_notify_smtp_ca_file", "/nonexistent/ca.pem", "notify_smtp_ca_file")):
        assert N.settings({var: value}, OPTIONS.get)["error"].startswith(option), var


def test_a_bad_setting_is_reported_not_sent():
    cfg = N.settings({"runbook_notify_webhook_url": "file:///etc/passwd"}, OPTIONS.get)
    assert N.notify(cfg, _report(), "u") == [{"channel": "webhook", "sent": False, "error": cfg["error"]}]
    healthy = M.merge([host_report("web1")], "nightly", "20261124T020000Z")
    assert N.notify(cfg, healthy, "u") == []  # nothing to say
