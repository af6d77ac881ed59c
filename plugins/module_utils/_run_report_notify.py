# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tell someone at the end of a run: the Pushgateway push and direct notifications (webhook, email).

A run whose status is ``notify_min_status`` or worse sends one message to a webhook (JSON with a
``text`` field, which Slack, Mattermost and Teams' incoming webhooks show; the MessageCard fields make
it a card in Teams) and/or one email over SMTP. The message holds the schedule, the worst status, the
failed and unreachable hosts, the top problems and the report's link; every text goes through the
report's redaction with the run's secret values. Each delivery runs under its own deadline; its
outcome is printed and recorded in the run report's JSON (``notifications``); none changes the run's
result.
"""

from __future__ import annotations

import email.message
import json
import os
import smtplib
import socket
import ssl
import typing as t

from ansible_collections.runbook.ops.plugins.module_utils import _run_report_push as P
from ansible_collections.runbook.ops.plugins.module_utils._run_report_common import STATUS_VALUE
from ansible_collections.runbook.ops.plugins.module_utils._run_report_files import write_atomic
from ansible_collections.runbook.ops.plugins.module_utils._run_report_redact import redact

# (variable, option, default); the variables override the plugin options like the other runbook_* ones
_SETTINGS = (
    ("runbook_notify_webhook_url", "notify_webhook_url", ""),
    ("runbook_notify_email_to", "notify_email_to", []),
    ("runbook_notify_email_from", "notify_email_from", ""),
    ("runbook_notify_smtp_host", "notify_smtp_host", "localhost"),
    ("runbook_notify_smtp_port", "notify_smtp_port", 0),
    ("runbook_notify_smtp_security", "notify_smtp_security", "none"),
    ("runbook_notify_smtp_user", "notify_smtp_user", ""),
    ("runbook_notify_smtp_password", "notify_smtp_password", ""),
    ("runbook_notify_smtp_ca_file", "notify_smtp_ca_file", ""),
    ("runbook_notify_min_status", "notify_min_status", "warning"),
    ("runbook_notify_timeout", "notify_timeout", 10),
)
VARS = P.VARS + tuple(var for var, _option, _default in _SETTINGS)
SECURITY_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
TOP_PROBLEMS = 10


def settings(found: dict, option: t.Callable[[str], t.Any]) -> dict:
    """Push and notification settings; ``error`` names the first bad option (nothing is sent then)."""
    out: dict[str, t.Any] = {"push": P.settings(found, option)}
    for var, name, default in _SETTINGS:
        value = found.get(var, option(name))
        out[name[len("notify_"):]] = default if value is None else value
    try:
        to = out["email_to"]
        out["email_to"] = [a.strip() for a in (to.split(",") if isinstance(to, str) else to) if str(a).strip()]
        if out["smtp_security"] not in SECURITY_PORTS:
            raise ValueError(f"notify_smtp_security: must be one of {sorted(SECURITY_PORTS)}, got {out['smtp_security']!r}")
        if out["min_status"] not in ("warning", "critical"):
            raise ValueError(f"notify_min_status: must be warning or critical, got {out['min_status']!r}")
        out["smtp_port"] = int(out["smtp_port"]) or SECURITY_PORTS[out["smtp_security"]]
        out["timeout"] = float(out["timeout"])
        if not 0 < out["timeout"] <= 300:
            raise ValueError(f"notify_timeout: must be seconds between 0 and 300, got {out['timeout']!r}")
        if out["webhook_url"]:
            P.check_http_url(str(out["webhook_url"]), "notify_webhook_url")
        if out["email_to"] and not out["smtp_host"]:
            raise ValueError("notify_smtp_host: needed to send to notify_email_to")
        if out["smtp_ca_file"] and not os.path.isfile(str(out["smtp_ca_file"])):
            raise ValueError(f"notify_smtp_ca_file: no such file {out['smtp_ca_file']!r}")
    except (TypeError, ValueError) as exc:
        out["error"] = str(exc)
    return out


def message(report: dict, url: str, secrets: t.Iterable[str] = ()) -> tuple[str, str]:
    """(subject, text) of a run's notification, redacted."""
    secrets = list(secrets)
    hosts = report.get("hosts") or []
    failed = [h["host"] for h in hosts if h.get("outcome") == "failed"]
    unreachable = [h["host"] for h in hosts if h.get("outcome") == "unreachable"]
    run = report.get("run") or {}
    flags = [f for f, on in (("check mode", report.get("check_mode")), ("interrupted", run.get("interrupted"))) if on]
    subject = f"[runbook.ops] {report['schedule']}: {report['status'].upper()}"
    if failed or unreachable:
        subject += f", {len(failed) + len(unreachable)} host(s) failed or unreachable"
    lines = [f"Run {report['schedule']} {report['stamp']}: {report['status'].upper()}"
             + (f" ({', '.join(flags)})" if flags else "")]
    lines.append("Failed hosts: " + (", ".join(failed) or "none"))
    lines.append("Unreachable hosts: " + (", ".join(unreachable) or "none"))
    problems = sorted(report.get("problems") or [], key=lambda p: -STATUS_VALUE.get(p.get("severity"), 0))
    if problems:
        lines.append(f"Top problems ({min(len(problems), TOP_PROBLEMS)} of {len(problems)}):")
        for p in problems[:TOP_PROBLEMS]:
            text = " ".join(str(p.get("message", "")).split())
            lines.append(f"- [{p.get('severity')}] {p.get('host')} {p.get('where')}: "
                         + (text[:300] + "..." if len(text) > 300 else text))
    lines.append(f"Report: {url}")
    return redact(subject, secrets), "\n".join(redact(line, secrets) for line in lines)


def send_webhook(url: str, subject: str, text: str, status: str, seconds: float) -> str | None:
    payload = {"text": f"{subject}\n{text}",
               # Teams' MessageCard (Slack and Mattermost ignore these)
               "@type": "MessageCard", "@context": "https://schema.org/extensions", "summary": subject,
               "themeColor": {"critical": "D00000", "warning": "E8A200"}.get(status, "2E7D32")}
    return P.bounded_request(url, json.dumps(payload).encode(), {"Content-Type": "application/json"}, seconds,
                             "POST", "webhook")


def send_email(cfg: dict, subject: str, text: str) -> str | None:
    seconds = cfg["timeout"]
    msg = email.message.EmailMessage()
    msg["Subject"] = subject
    msg["From"] = cfg["email_from"] or f"runbook-ops@{socket.getfqdn()}"
    msg["To"] = ", ".join(cfg["email_to"])
    msg.set_content(text)

    def exchange() -> None:
        # the server's certificate and host name are checked, against smtp_ca_file or the system's CAs
        context = ssl.create_default_context(cafile=cfg.get("smtp_ca_file") or None)
        if cfg["smtp_security"] == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(cfg["smtp_host"], cfg["smtp_port"], timeout=seconds, context=context)
        else:
            smtp = smtplib.SMTP(cfg["smtp_host"], cfg["smtp_port"], timeout=seconds)
        with smtp:
            if cfg["smtp_security"] == "starttls":
                smtp.starttls(context=context)
            if cfg["smtp_user"]:
                smtp.login(cfg["smtp_user"], cfg["smtp_password"])
            smtp.send_message(msg)

    def send() -> None:
        try:
            exchange()
        except ssl.SSLCertVerificationError as exc:
            # str() of the exception would say only CERTIFICATE_VERIFY_FAILED
            trusted = f"the CA in {cfg['smtp_ca_file']}" if cfg.get("smtp_ca_file") else "the system's CAs"
            raise RuntimeError(f"{cfg['smtp_security']}: the server's TLS certificate was refused "
                               f"({exc.verify_message}; checked against {trusted} and the host name "
                               f"{cfg['smtp_host']!r}), nothing was sent") from None

    return P.call_bounded(send, seconds, f"email via {cfg['smtp_host']}:{cfg['smtp_port']}")


def notify(cfg: dict, report: dict, url: str, secrets: t.Iterable[str] = ()) -> list[dict]:
    """Send the notifications the run's status calls for: [{"channel", "sent", "error"}]."""
    channels = (["webhook"] if cfg.get("webhook_url") else []) + (["email"] if cfg.get("email_to") else [])
    if not channels or STATUS_VALUE.get(report["status"], 0) < STATUS_VALUE.get(cfg.get("min_status"), 1):
        return []
    if cfg.get("error"):
        return [{"channel": c, "sent": False, "error": cfg["error"]} for c in channels]
    subject, text = message(report, url, list(secrets) + [cfg.get("smtp_password") or ""])
    out = []
    for channel in channels:
        if channel == "webhook":
            error = send_webhook(cfg["webhook_url"], subject, text, report["status"], cfg["timeout"])
        else:
            error = send_email(cfg, subject, text)
        out.append({"channel": channel, "sent": error is None,
                    "error": redact(error, [cfg.get("smtp_password") or ""]) if error else None})
    return out


def after_run(cfg: dict, done: dict | None, secrets: t.Iterable[str], display: t.Any) -> list[dict]:
    """What the callback calls once the run report is written: push, notify, print and record the outcomes."""
    if not done or not cfg:
        return []
    try:
        with open(done["json_path"], encoding="utf-8") as fh:
            report = json.load(fh)
    except (OSError, ValueError, KeyError) as exc:
        display.warning(f"runbook.ops.run_report: no push, no notification: cannot read the run report: {exc}")
        return []
    outcomes = []
    push = cfg.get("push") or {}
    if push.get("url"):
        error = P.push_metrics(push, report)
        outcomes.append({"channel": "pushgateway", "sent": error is None, "error": error})
    outcomes += notify(cfg, report, done.get("url", ""), secrets)
    for o in outcomes:
        if o["error"]:
            verb = "the metrics were not pushed" if o["channel"] == "pushgateway" else \
                f"the {o['channel']} notification was not sent"
            display.warning(f"runbook.ops.run_report: {verb} (the run's result is unchanged): {o['error']}")
        elif o["channel"] != "pushgateway":
            display.display(f"Run report: {o['channel']} notification sent")
    if outcomes:
        report["notifications"] = outcomes
        try:
            write_atomic(done["json_path"], json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")
        except OSError as exc:
            display.warning(f"runbook.ops.run_report: cannot record the notifications in the report: {exc}")
    return outcomes
