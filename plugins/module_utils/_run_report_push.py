# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The run report's metrics pushed to a Prometheus Pushgateway at the end of a run.

Under AWX the controller is a throw-away container: the textfile is lost with it, a push is not.
The push replaces the group ``job="runbook_ops"``, ``schedule=<name>`` (and ``slice=<n>`` when the
run is one slice of a sliced job), so the newest run of a schedule is what Prometheus scrapes.

Monitoring that is down must never fail or hang the run: the whole exchange (DNS, connect, send,
answer) runs under one deadline in a daemon thread the run does not wait for past the deadline,
and every failure is a message the callback prints as a warning (``_run_report_notify.after_run``).
"""

from __future__ import annotations

import base64
import threading
import typing as t
import urllib.error
import urllib.parse

from ansible.module_utils.urls import open_url

from ansible_collections.runbook.ops.plugins.module_utils._deadline import deadline_message
from ansible_collections.runbook.ops.plugins.module_utils._run_report_metrics import render_metrics

JOB = "runbook_ops"
# inventory / extra variables read like the other runbook_* report variables
VARS = ("runbook_pushgateway_url", "runbook_pushgateway_timeout", "runbook_report_slice")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def settings(found: dict, option: t.Callable[[str], t.Any]) -> dict:
    """The push settings: the variables in ``found`` first, else the plugin options."""
    url = found.get("runbook_pushgateway_url", option("pushgateway_url"))
    timeout = found.get("runbook_pushgateway_timeout", option("pushgateway_timeout"))
    slice_ = found.get("runbook_report_slice", option("report_slice"))
    out = {"url": str(url or "").strip(), "timeout": 10.0, "slice": "" if slice_ is None else str(slice_).strip()}
    try:
        out["timeout"] = float(10 if timeout is None else timeout)
        if not 0 < out["timeout"] <= 300:
            raise ValueError
    except (TypeError, ValueError):
        # a bad value must not cost the run its report: the push is skipped with this warning
        out["error"] = f"pushgateway_timeout: must be seconds between 0 and 300, got {timeout!r}"
    return out


def _segment(name: str, value: str) -> str:
    """One grouping label as a URL path segment (base64 when the value holds a slash or is empty)."""
    if value == "" or "/" in value:
        return f"{name}@base64/" + (base64.urlsafe_b64encode(value.encode()).decode() or "=")
    return f"{name}/" + urllib.parse.quote(value, safe="")


def check_http_url(url: str, option: str) -> None:
    """ValueError naming ``option`` unless ``url`` is http(s)://host... (urllib would also open file:// URLs)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{option}: must be an http(s) URL, got {url!r}")


def group_url(base: str, schedule: str, slice_: str = "") -> str:
    """``<base>/metrics/job/runbook_ops/schedule/<schedule>[/slice/<n>]``."""
    check_http_url(base, "pushgateway_url")
    path = "/metrics/" + _segment("job", JOB) + "/" + _segment("schedule", schedule)
    if slice_:
        path += "/" + _segment("slice", slice_)
    return base.rstrip("/") + path


def call_bounded(work: t.Callable[[], None], seconds: float, what: str = "") -> str | None:
    """Run ``work`` (which talks to a peer) for at most ``seconds``; None, or what went wrong.

    Libraries' timeouts (urllib, smtplib) bound each socket operation only, so the work runs in a
    daemon thread and the caller waits for it until the deadline, not longer (a peer that answers
    one byte a second is left behind; the thread ends with its socket timeout or with the process).
    """
    outcome: list[str | None] = []

    def run() -> None:
        try:
            work()
            outcome.append(None)
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode("utf-8", "replace").strip() if exc.fp else ""
            outcome.append(f"HTTP {exc.code} {exc.reason}" + (f": {detail}" if detail else ""))
        except Exception as exc:  # pylint: disable=broad-exception-caught
            reason = getattr(exc, "reason", exc)
            # a socket timeout is this deadline met in one read: one wording for both
            outcome.append("" if isinstance(reason, TimeoutError) else (str(reason) or type(exc).__name__))

    worker = threading.Thread(target=run, name=f"runbook-ops {what or 'call'}", daemon=True)
    worker.start()
    worker.join(seconds)
    if not outcome or outcome[0] == "":
        return deadline_message(seconds, what)
    if outcome[0] is None:
        return None
    return f"{what}: {outcome[0]}" if what else outcome[0]


def bounded_request(url: str, body: bytes, headers: dict, seconds: float, method: str = "POST",
                    what: str = "") -> str | None:
    """Send one HTTP request and read its answer within ``seconds`` in all; None, or what went wrong."""

    def send() -> None:
        answer = open_url(url, data=body, headers=headers, method=method, timeout=seconds, follow_redirects="none")
        try:
            answer.read(65536)
        finally:
            answer.close()

    return call_bounded(send, seconds, what)


def push_metrics(push: dict, report: dict) -> str | None:
    """PUT the report's metrics to the group of its schedule; None when done, else why not."""
    if not push.get("url"):
        return None
    if push.get("error"):
        return push["error"]
    try:
        url = group_url(push["url"], report["schedule"], push.get("slice", ""))
        body = render_metrics(report).encode()
    except (ValueError, KeyError) as exc:
        return str(exc)
    return bounded_request(url, body, {"Content-Type": CONTENT_TYPE}, push.get("timeout", 10.0), "PUT",
                           f"Pushgateway {push['url']}")
