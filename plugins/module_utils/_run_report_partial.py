# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a run report can know without the callback plugin ``runbook.ops.run_report``.

The role ``runbook.ops.report`` then merges the per-host reports of the hosts that reached its
play (module ``run_report``). :func:`partial_run` turns them, and the hosts the play targeted
(``ansible_play_hosts_all``), into the ``run`` that :func:`_run_report.merge` takes from the
callback otherwise: a host whose step failed (``runbook.ops.step`` remembered it) is failed, with
the step's task and message; a targeted host without a report failed or was unreachable before the
report play and is listed from the inventory, without a message; and the report says it is
partial (:data:`PARTIAL`).

:func:`backup_failures` names the backup series of a failed backup task, for the callback and
for the failed steps alike.
"""

from __future__ import annotations

import typing as t

PARTIAL = "partial: hosts that failed before the report play are listed from the inventory, without their messages"
ENABLE_HINT = ("For the full report, enable the callback: callbacks_enabled = runbook.ops.run_report in ansible.cfg, "
               "or ANSIBLE_CALLBACKS_ENABLED=runbook.ops.run_report.")
LOST = "failed or unreachable before the report play (listed from the inventory: without the callback there is no message)"
BACKUP_ACTIONS = {"pg_backup": "postgres", "redis_backup": "redis"}


def short_action(action: t.Any) -> str:
    return str(action or "").rsplit(".", 1)[-1]


def backup_failures(host: str, action: t.Any, args: t.Any, message: str) -> list[dict]:
    """The backup series (``host``, ``kind``, ``name``, ``message``) a failed task of ``action`` failed."""
    kind = BACKUP_ACTIONS.get(short_action(action))
    if not kind:
        return []
    args = args if isinstance(args, dict) else {}
    names = args.get("databases") or [args.get("database") or args.get("name") or kind]
    return [{"host": host, "kind": kind, "name": str(n), "message": message}
            for n in (names if isinstance(names, list) else [names])]


def _step_failures(report: dict) -> list[dict]:
    """The failed steps of a per-host report: ``step_failures`` (runbook.ops.step), else the bare names."""
    out = [f for f in report.get("step_failures") or [] if isinstance(f, dict)]
    named = {str(f.get("step")) for f in out}
    names = report.get("failed_steps") or []
    out += [{"step": str(s)} for s in (names if isinstance(names, list) else []) if str(s) not in named]
    return out


def partial_run(host_reports: t.Sequence[dict], targeted: t.Iterable[str], redact: t.Callable[[t.Any], str]) -> dict:
    """The ``run`` of :func:`_run_report.merge` for a report written without the callback."""
    hosts: dict[str, dict] = {}
    failed_backups: list[dict] = []
    for rep in host_reports:
        host = str(rep.get("host"))
        failures = []
        for f in _step_failures(rep):
            message = redact(f"step {f.get('step')} failed: {f.get('message') or 'see the Ansible output'}")
            failures.append({"play": str(f.get("play") or ""), "role": str(f.get("role") or ""),
                             "task": str(f.get("task") or ""), "action": short_action(f.get("action")),
                             "message": message})
            failed_backups += backup_failures(host, f.get("action"), f.get("names"), message)
        hosts[host] = {"outcome": "failed" if failures else "ok", "failures": failures, "reason": ""}
    for host in targeted:
        if str(host) not in hosts:
            hosts[str(host)] = {"outcome": "failed", "reason": LOST,
                                "failures": [{"play": "", "role": "", "task": "", "action": "", "message": LOST}]}
    return {"hosts": hosts, "partial": PARTIAL, "backup_failures": failed_backups}
