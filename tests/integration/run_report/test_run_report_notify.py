# SPDX-License-Identifier: GPL-3.0-or-later
"""Direct notifications of the run_report callback, from real ansible-playbook runs: a local webhook
receiver and a local SMTP server (aiosmtpd) get exactly one message for a failed run and none for a
healthy one; no message holds an inventory password; a webhook that hangs, refuses or answers 500
costs the run at most its timeout, is recorded in the run report and never changes the run's result.
Email over STARTTLS and implicit TLS goes to aiosmtpd servers with a certificate from a CA made here,
with a login; a certificate from another CA or for another address is refused, recorded, and changes
nothing else."""
from __future__ import annotations

import json
import shutil
import socket
import sys
import time
from pathlib import Path

import pytest
import yaml

from harness.ansible import run_playbook
from harness.hostile import HostilePeer
from harness.monitoring import SmtpReceiver, WebhookReceiver
from harness.tls import make_tls

LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
PASSWORD = "inv-Pa55word-never-sent"


@pytest.fixture()
def receivers():
    hook, smtp = WebhookReceiver(), SmtpReceiver()
    try:
        yield hook, smtp
    finally:
        hook.stop()
        smtp.stop()


@pytest.fixture()
def setup(tmp_path):
    """broken fails (its message holds the inventory password) when `fail_it`; fine is always ok."""
    playbook = tmp_path / "notified.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Notified", "hosts": "all", "gather_facts": False, "tasks": [
        {"name": "Work", "ansible.builtin.debug": {"msg": "working"}},
        {"name": "Break", "ansible.builtin.fail": {"msg": "login with {{ db_admin_password }} refused"},
         "when": "fail_it | bool and inventory_hostname == 'broken'"},
    ]}]))

    def run(schedule: str, fail_it: bool, **extra):
        inv = tmp_path / f"{schedule}.yml"
        inv.write_text(yaml.safe_dump({"all": {"vars": dict({
            "runbook_report_dir": str(tmp_path / "reports"), "runbook_metrics_dir": "", "runbook_report_name": schedule,
            "db_admin_password": PASSWORD, "fail_it": fail_it, "runbook_notify_timeout": 3}, **extra),
            "hosts": {"broken": LOCAL, "fine": LOCAL}}}))
        started = time.monotonic()
        result = run_playbook(playbook, inventory=str(inv), env={"ANSIBLE_SHOW_CUSTOM_STATS": "1"})
        summary = result.data["global_custom_stats"]["runbook_run_report"]
        return result, json.loads(Path(summary["json"]).read_text()), time.monotonic() - started

    return run


def test_a_failed_run_sends_one_webhook_and_one_email_without_secrets(receivers, setup):
    hook, smtp = receivers
    result, report, _took = setup("notify_failed", True, runbook_notify_webhook_url=hook.url,
                                  runbook_notify_email_to=["oncall@example.test", "dba@example.test"],
                                  runbook_notify_email_from="runbook@example.test",
                                  runbook_notify_smtp_host="127.0.0.1", runbook_notify_smtp_port=smtp.port)
    assert result.rc == 2 and report["status"] == "critical"
    assert len(hook.received) == 1 and len(smtp.messages) == 1, (hook.received, result.stderr)
    body = hook.received[0]["json"]
    assert hook.received[0]["content_type"] == "application/json"
    text = body["text"]
    assert "notify_failed" in text and "CRITICAL" in text
    assert "Failed hosts: broken" in text and "Unreachable hosts: none" in text
    assert "refused" in text and "file://" in text and report["stamp"] in text
    assert body["@type"] == "MessageCard" and body["summary"].startswith("[runbook.ops] notify_failed: CRITICAL")
    rcpts, mail = smtp.messages[0]
    assert sorted(rcpts) == ["dba@example.test", "oncall@example.test"]
    assert mail["From"] == "runbook@example.test" and "notify_failed: CRITICAL" in mail["Subject"]
    content = mail.get_content()
    assert "Failed hosts: broken" in content
    for sent in (json.dumps(body), mail.as_string()):
        assert PASSWORD not in sent
    assert "********" in text  # the password was there, redacted
    assert report["notifications"] == [{"channel": "webhook", "sent": True, "error": None},
                                       {"channel": "email", "sent": True, "error": None}]
    assert "webhook notification sent" in result.stdout + result.stderr


def test_a_healthy_run_sends_nothing(receivers, setup):
    hook, smtp = receivers
    result, report, _took = setup("notify_healthy", False, runbook_notify_webhook_url=hook.url,
                                  runbook_notify_email_to="oncall@example.test",
                                  runbook_notify_smtp_host="127.0.0.1", runbook_notify_smtp_port=smtp.port)
    assert result.rc == 0 and report["status"] == "ok"
    assert hook.received == [] and smtp.messages == []
    assert "notifications" not in report


def test_min_status_critical_ignores_a_warning(receivers, setup, tmp_path):
    """A run that is only a warning (a rescued failure) sends nothing when the threshold is critical."""
    hook, _smtp = receivers
    playbook = tmp_path / "rescued.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Rescued", "hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Try", "block": [{"name": "Break", "ansible.builtin.fail": {"msg": "transient"}}],
         "rescue": [{"name": "Recover", "ansible.builtin.debug": {"msg": "recovered"}}]}]}]))
    common = {"runbook_report_dir": str(tmp_path / "reports"), "runbook_metrics_dir": "",
              "runbook_notify_webhook_url": hook.url, "ansible_python_interpreter": sys.executable}
    for threshold, expected in (("critical", 0), ("warning", 1)):
        result = run_playbook(playbook, extra_vars=dict(common, runbook_notify_min_status=threshold),
                              env={"ANSIBLE_SHOW_CUSTOM_STATS": "1"})
        report = json.loads(Path(result.data["global_custom_stats"]["runbook_run_report"]["json"]).read_text())
        assert result.rc == 0 and report["status"] == "warning"
        assert len(hook.received) == expected, threshold
        hook.received.clear()


class _Refused:
    def __enter__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))  # bound, never listening
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"

    def __exit__(self, *exc):
        self.sock.close()


class _Silent:
    def __enter__(self):
        self.peer = HostilePeer("silent").start()
        return f"http://{self.peer.address}/hook"

    def __exit__(self, *exc):
        self.peer.stop()


class _Fails:
    def __enter__(self):
        self.hook = WebhookReceiver(status=500)
        return self.hook.url

    def __exit__(self, *exc):
        self.hook.stop()


@pytest.mark.parametrize("peer, error", [(_Refused, "refused"), (_Silent, "no complete answer within 3 s (deadline)"),
                                         (_Fails, "HTTP 500")])
def test_a_broken_webhook_is_recorded_and_bounded(setup, peer, error):
    base, base_report, base_took = setup("notify_base", True)
    with peer() as url:
        result, report, took = setup("notify_broken", True, runbook_notify_webhook_url=url)
    assert result.rc == base.rc == 2 and report["status"] == base_report["status"] == "critical"
    assert [(h["host"], h["outcome"]) for h in report["hosts"]] == [(h["host"], h["outcome"]) for h in base_report["hosts"]]
    (outcome,) = report["notifications"]
    assert outcome["channel"] == "webhook" and outcome["sent"] is False, outcome
    assert error.lower() in outcome["error"].lower(), outcome
    assert "the webhook notification was not sent (the run's result is unchanged)" in result.stderr
    # bounded by its timeout (3 s); generous for the shared machine
    assert took < base_took + 3 + 20, (took, base_took)


# --- email over TLS: STARTTLS and implicit TLS against aiosmtpd with a CA made here ------------------------
SMTP_LOGIN = ("runbook", "smtp-Pa55-never-printed")


@pytest.fixture(scope="module")
def smtp_tls():
    """The server's certificate (localhost, 127.0.0.1) from one CA; another CA that did not sign it."""
    mine, other = make_tls(days=30.0), make_tls(days=30.0)
    try:
        yield mine, other
    finally:
        for files in (mine, other):
            shutil.rmtree(files.dir, ignore_errors=True)


def _tls_vars(server: SmtpReceiver, security: str, ca_file: str, smtp_host: str = "127.0.0.1") -> dict:
    return {"runbook_notify_email_to": "oncall@example.test", "runbook_notify_smtp_host": smtp_host,
            "runbook_notify_smtp_port": server.port, "runbook_notify_smtp_security": security,
            "runbook_notify_smtp_ca_file": ca_file, "runbook_notify_smtp_user": SMTP_LOGIN[0],
            "runbook_notify_smtp_password": SMTP_LOGIN[1]}


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_email_over_tls_with_login(setup, smtp_tls, security):
    """The server refuses mail before STARTTLS and AUTH outside TLS: a message that arrives came over TLS,
    with the login; the SMTP password is in no output and no file."""
    files, _other = smtp_tls
    server = SmtpReceiver(security, tls=files, login=SMTP_LOGIN)
    try:
        result, report, _took = setup(f"notify_{security}", True, **_tls_vars(server, security, files.ca_path))
    finally:
        server.stop()
    assert result.rc == 2 and report["status"] == "critical"
    assert report["notifications"] == [{"channel": "email", "sent": True, "error": None}], result.stderr
    assert len(server.messages) == 1 and server.logins == [SMTP_LOGIN[0]]
    rcpts, mail = server.messages[0]
    assert rcpts == ["oncall@example.test"] and "Failed hosts: broken" in mail.get_content()
    assert "email notification sent" in result.stdout
    for text in (result.stdout, result.stderr, json.dumps(report), mail.as_string()):
        where = text.find(SMTP_LOGIN[1])
        assert where < 0, text[max(0, where - 1500):where + 200]


@pytest.mark.parametrize("security", ["starttls", "ssl"])
@pytest.mark.parametrize("problem, reason", [
    ("wrong CA", "unable to get local issuer certificate"),
    ("wrong host name", "IP address mismatch"),
])
def test_a_certificate_the_client_must_refuse(setup, smtp_tls, security, problem, reason):
    """A server whose certificate is not from the CA the run trusts, or not for the address it dials
    (the server listens on 127.0.0.2; the certificate is for localhost and 127.0.0.1), gets nothing: not
    the password, not the message. The run report says why, and the run's result is what it was without."""
    files, other = smtp_tls
    host = "127.0.0.2" if problem == "wrong host name" else "127.0.0.1"
    ca_file = other.ca_path if problem == "wrong CA" else files.ca_path
    base, base_report, _took = setup("notify_tls_base", True)
    server = SmtpReceiver(security, tls=files, login=SMTP_LOGIN, host=host)
    try:
        result, report, _took = setup(f"notify_{security}_refused", True,
                                      **_tls_vars(server, security, ca_file, smtp_host=host))
    finally:
        server.stop()
    assert server.messages == [] and server.logins == []
    assert result.rc == base.rc == 2 and report["status"] == base_report["status"] == "critical"
    assert [(h["host"], h["outcome"]) for h in report["hosts"]] == [(h["host"], h["outcome"]) for h in base_report["hosts"]]
    (outcome,) = report["notifications"]
    assert outcome["channel"] == "email" and outcome["sent"] is False, outcome
    assert f"{security}: the server's TLS certificate was refused" in outcome["error"], outcome
    assert reason in outcome["error"] and repr(host) in outcome["error"], outcome
    assert "the email notification was not sent (the run's result is unchanged)" in result.stderr
    assert SMTP_LOGIN[1] not in result.stdout + result.stderr + json.dumps(report)
