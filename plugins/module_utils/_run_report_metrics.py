# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The run report as Prometheus text-format metrics (for node_exporter's textfile collector).

:data:`METRICS` names every metric family with its type and help; label values go through
:func:`label_value`.
"""

from __future__ import annotations

import math
import re
import typing as t

from ansible_collections.runbook.ops.plugins.module_utils._run_report_common import (
    STATUS_VALUE, _dict, _list, _num, _ts, good_backup, parse_stamp,
)


METRICS: dict[str, tuple[str, str]] = {
    "runbook_run_timestamp_seconds": ("gauge", "Unix time of the run report of this schedule."),
    "runbook_run_check_mode": ("gauge", "1 when the run was a check-mode run (nothing changed)."),
    "runbook_run_status": ("gauge", "Worst status of the run: 0 ok, 1 warning, 2 critical."),
    "runbook_run_duration_seconds": ("gauge", "Wall-clock duration of the run."),
    "runbook_run_interrupted": ("gauge", "1 when the run was interrupted (the report holds what it saw)."),
    "runbook_run_partial": ("gauge", "1 when the report was written without the callback (partial, see the report)."),
    "runbook_host_status": ("gauge", "Worst status of a host in the run: 0 ok, 1 warning, 2 critical."),
    "runbook_host_outcome": ("gauge", "1 for the host's outcome in the run (ok, changed, failed, unreachable, not_reached)."),
    "runbook_host_unreachable": ("gauge", "1 when the host was unreachable in the run."),
    "runbook_probe_status": ("gauge", "Health probe status: 0 ok, 1 warning, 2 critical."),
    "runbook_probe_latency_seconds": ("gauge", "Duration of the health probe's last attempt."),
    "runbook_backup_last_success_timestamp_seconds": (
        "gauge", "Finish time of the newest complete, verified backup on disk."),
    "runbook_backup_last_success_size_bytes": ("gauge", "Size of the newest complete, verified backup on disk."),
    "runbook_backup_last_failure_timestamp_seconds": (
        "gauge", "Time of the newest failed backup of the series (a failed run or a failed verification)."),
    "runbook_backups_on_disk": ("gauge", "Backups with a manifest on disk (complete or not)."),
    "runbook_backup_data_loss_warnings": (
        "gauge", "Data-loss warnings of the series' new backup against the previous verified one (0 none)."),
    "runbook_backup_offsite_last_verified_timestamp_seconds": (
        "gauge", "Time of the newest verified off-site copy of the series at the destination."),
    "runbook_restore_drill_last_success_timestamp_seconds": (
        "gauge", "Finish time of the restore drill of the series in this run when it succeeded (none when it failed)."),
    "runbook_restore_drill_duration_seconds": ("gauge", "Restore time of the series' successful restore drill in this run."),
    "runbook_probe_cert_expiry_timestamp_seconds": ("gauge", "Expiry (notAfter) of the certificate a probe read."),
    "runbook_pg_dead_tuples": ("gauge", "Dead tuples of the tables in scope of pg_vacuum, before and after the run."),
    "runbook_pg_database_size_bytes": ("gauge", "Database size reported by pg_report."),
    "runbook_redis_used_memory_bytes": ("gauge", "Redis used_memory before and after the purges, or as reported."),
    "runbook_redis_purged_keys": ("gauge", "Keys deleted by a purge pattern in the run (matched in check mode)."),
}

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def label_value(value: t.Any) -> str:
    """A label value escaped for the text format (backslash, double quote, newline)."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    """A sample value as Prometheus prints it: integers without a dot, shortest round-trip text, NaN, +Inf/-Inf."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    # the shortest text that reads back as the same float (what prometheus_client and Go print);
    # values computed here are rounded where they are computed, so no float noise reaches it
    return repr(float(value))


def metric_samples(report: dict) -> dict[str, list[tuple[dict, float]]]:
    samples: dict[str, list[tuple[dict, float]]] = {name: [] for name in METRICS}
    sched = {"schedule": report["schedule"]}

    def add(name: str, labels: dict, value: t.Any) -> None:
        v = _num(value)
        if v is not None:
            samples[name].append((dict(sched, **labels), v))

    add("runbook_run_timestamp_seconds", {}, parse_stamp(report["stamp"]).timestamp())
    add("runbook_run_check_mode", {}, 1 if report["check_mode"] else 0)
    add("runbook_run_status", {}, STATUS_VALUE[report["status"]])
    run = _dict(report.get("run"))
    add("runbook_run_duration_seconds", {}, run.get("duration_seconds"))
    add("runbook_run_interrupted", {}, 1 if run.get("interrupted") else 0)
    add("runbook_run_partial", {}, 1 if report.get("partial") else 0)
    for h in report["hosts"]:
        add("runbook_host_status", {"host": h["host"]}, STATUS_VALUE[h["status"]])
        add("runbook_host_outcome", {"host": h["host"], "outcome": h.get("outcome", "ok")}, 1)
        add("runbook_host_unreachable", {"host": h["host"]}, 1 if h.get("outcome") == "unreachable" else 0)
    seen: set[tuple] = set()
    for p in report["probes"]:
        key = (p["host"], p["name"], p["kind"])
        if key in seen:
            continue
        seen.add(key)
        labels = {"host": p["host"], "probe": p["name"], "kind": p["kind"]}
        add("runbook_probe_status", labels, STATUS_VALUE[p["status"]])
        if p["latency_ms"] is not None:
            # to the microsecond: 61.8 / 1000 is 0.061799999999999994 in binary, round() gives 0.0618
            add("runbook_probe_latency_seconds", labels, round(p["latency_ms"] / 1000.0, 6))
        add("runbook_probe_cert_expiry_timestamp_seconds", labels, p.get("cert_not_after"))
    _drills(report, add)
    series: dict[tuple, list[dict]] = {}
    for e in report["backup_history"]:
        series.setdefault((e["host"], str(e.get("kind")), str(e.get("name"))), []).append(e)
    state = {(x["host"], x["kind"], x["name"]): x for x in _list(report.get("backup_series"))}
    for key in sorted(set(series) | set(state)):
        host, kind, name = key
        entries = series.get(key, [])
        labels = {"host": host, "kind": kind, "name": name}
        if entries:
            add("runbook_backups_on_disk", labels, len(entries))
        good = [e for e in entries if good_backup(e)]
        newest = max(good, key=lambda e: str(e["finished_at"])) if good else None
        success = _ts(newest["finished_at"]) if newest else None
        remembered = _dict(state.get(key))
        if _ts(remembered.get("last_success")) and (success is None or _ts(remembered["last_success"]) > success):
            success = _ts(remembered["last_success"])
        if success is not None:
            add("runbook_backup_last_success_timestamp_seconds", labels, success.timestamp())
        if newest:
            add("runbook_backup_last_success_size_bytes", labels, newest.get("size"))
        failure = _ts(remembered.get("last_failure"))
        add("runbook_backup_last_failure_timestamp_seconds", labels, failure.timestamp() if failure else 0)
    compared = {(b["host"], b["name"]) for b in report["backups"] if b["kind"] == "postgres" and not b["would_create"]}
    for host, name in sorted(compared):
        add("runbook_backup_data_loss_warnings", {"host": host, "kind": "postgres", "name": name},
            sum(1 for w in report.get("data_loss", []) if (w["host"], w["database"]) == (host, name)))
    offsite: dict[tuple, float] = {}
    for c in report.get("offsite", []):
        when = _ts(c.get("copied_at"))
        if c["verified"] and c["status"] in ("copied", "present") and when is not None:
            key = (c["kind"], c["host"], c["name"], c["destination"])
            offsite[key] = max(offsite.get(key, 0.0), when.timestamp())
    for (kind, host, name, dest), ts in sorted(offsite.items()):
        add("runbook_backup_offsite_last_verified_timestamp_seconds",
            {"kind": kind, "host": host, "name": name, "destination": dest}, ts)
    seen = set()
    for db in report["vacuum"]["databases"]:
        if (db["host"], db["database"]) in seen:
            continue
        seen.add((db["host"], db["database"]))
        for when in ("before", "after"):
            add("runbook_pg_dead_tuples", {"host": db["host"], "database": db["database"], "when": when},
                db[f"dead_tuples_{when}"])
    seen = set()
    for db in report["pg_report"]["databases"]:
        if (db["host"], db["database"]) in seen:
            continue
        seen.add((db["host"], db["database"]))
        add("runbook_pg_database_size_bytes", {"host": db["host"], "database": db["database"]}, db["size_bytes"])
    by_host: dict[str, list[dict]] = {}
    for p in report["redis"]["purges"]:
        by_host.setdefault(p["host"], []).append(p)
    for host, purges in sorted(by_host.items()):
        add("runbook_redis_used_memory_bytes", {"host": host, "when": "before"}, purges[0]["used_memory_before"])
        add("runbook_redis_used_memory_bytes", {"host": host, "when": "after"}, purges[-1]["used_memory_after"])
        counts: dict[str, int] = {}
        for p in purges:
            counts[p["pattern"]] = counts.get(p["pattern"], 0) + ((p["matched"] if p["check_mode"] else p["deleted"]) or 0)
        for pattern, n in sorted(counts.items()):
            add("runbook_redis_purged_keys", {"host": host, "pattern": pattern}, n)
    for m in report["redis"]["memory"]:
        if m["host"] not in by_host:
            add("runbook_redis_used_memory_bytes", {"host": m["host"], "when": "report"}, m["used_memory"])
    return samples


def _drills(report: dict, add: t.Callable[[str, dict, t.Any], None]) -> None:
    """The newest successful drill of each series; a failed drill adds no sample (its success stays in
    Prometheus through the rules' last_over_time)."""
    newest: dict[tuple, tuple] = {}
    for d in _list(report.get("drills")):
        when = _ts(d.get("finished_at"))
        if when is None or d.get("differences"):
            continue
        key = (d["host"], "postgres", d.get("source_database") or d["database"])
        if key not in newest or when > newest[key][0]:
            newest[key] = (when, d.get("duration_seconds"))
    for (host, kind, name), (when, duration) in sorted(newest.items()):
        labels = {"host": host, "kind": kind, "name": name}
        add("runbook_restore_drill_last_success_timestamp_seconds", labels, round(when.timestamp(), 6))
        add("runbook_restore_drill_duration_seconds", labels, duration)


def render_metrics(report: dict) -> str:
    """Prometheus text exposition format (0.0.4) of a run report, one HELP/TYPE block per metric family."""
    lines = []
    for name, samples in metric_samples(report).items():
        if not samples:
            continue
        kind, help_text = METRICS[name]
        if not _METRIC_NAME.match(name):
            raise ValueError(f"invalid metric name {name!r}")
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            bad = [k for k in labels if not _LABEL_NAME.match(k)]
            if bad:
                raise ValueError(f"invalid label names {bad} of {name}")
            text = ",".join(f'{k}="{label_value(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{text}}} {format_value(value)}")
    return "\n".join(lines) + "\n"
