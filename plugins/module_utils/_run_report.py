# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One report per run: merge what the run did, render HTML and Prometheus metrics.

The callback plugin ``runbook.ops.run_report`` calls :func:`build_run` at the end of a run with
what it saw of every host (outcome, failures, where the run stopped) and the step results of
the roles; without the callback, the module ``run_report`` calls :func:`build` with the
per-host reports ``roles/report`` wrote (``<schedule>-<host>-<stamp>.json``: ``schedule``,
``host``, ``stamp``, ``check_mode``, ``results`` and optionally ``backup_history``).
:func:`merge` turns either into one run report (a dict, schema :data:`RUN_REPORT_FORMAT`
version :data:`RUN_REPORT_VERSION`, documented in the module ``run_report``), with the
data-loss check of new backups (:func:`data_loss`); :func:`render_html` renders it as one
self-contained HTML page through the Jinja2 template of ``_run_report_html`` with autoescape
(inline CSS and SVG, no script, a Content-Security-Policy that forbids every fetch);
:func:`render_metrics` renders Prometheus text-format metrics for node_exporter's textfile
collector. :func:`write_atomic` writes files through a temporary file and a rename.

Backup history comes from the backup manifests (:func:`backup_history` reads them with
:func:`_backup.read_manifests` on the host that holds them). Failure messages go through
:func:`redact`; Prometheus label values through :func:`label_value`.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import tempfile
import typing as t

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
from ansible_collections.runbook.ops.plugins.module_utils._pg_names import table_key

RUN_REPORT_FORMAT = "runbook.ops/run-report"
RUN_REPORT_VERSION = 1
HOST_REPORT_KEYS = ("schedule", "host", "stamp", "check_mode", "results")

STATUSES = ("ok", "warning", "critical")
STATUS_VALUE = {"ok": 0, "warning": 1, "critical": 2}
STAMP_RE = re.compile(r"^\d{8}T\d{6}Z$")
TOP = 10


class RunReportError(Exception):
    """A failure already worded for the user (the module turns it into fail_json)."""


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------
def worst(*statuses: str | None) -> str:
    """The worst of ok / warning / critical (unknown values count as ok)."""
    best = "ok"
    for s in statuses:
        if STATUS_VALUE.get(s or "ok", 0) > STATUS_VALUE[best]:
            best = t.cast(str, s)
    return best


def _num(value: t.Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    try:
        out = float(str(value))
    except ValueError:
        return None
    return out if math.isfinite(out) else None


def _int(value: t.Any) -> int | None:
    n = _num(value)
    return int(n) if n is not None else None


def _dict(value: t.Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: t.Any) -> list:
    return value if isinstance(value, list) else []


def parse_stamp(stamp: str) -> _dt.datetime:
    """``20261124T002130Z`` as an aware UTC datetime."""
    if not STAMP_RE.match(stamp or ""):
        raise RunReportError(f"stamp: {stamp!r} is not a UTC stamp like 20261124T002130Z")
    return _dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=_dt.timezone.utc)


def human_bytes(n: t.Any) -> str:
    value = _num(n)
    return "-" if value is None else B.human_bytes(value)


def _loop_items(value: t.Any) -> list[dict]:
    """The per-item results of a registered loop (skipped items left out)."""
    return [r for r in _list(value) if isinstance(r, dict) and not r.get("skipped")]


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------
def load_host_report(path: str) -> dict:
    """One per-host report written by roles/report; RunReportError naming the file when it is not one."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise RunReportError(f"host_reports: cannot read {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise RunReportError(f"host_reports: {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or any(k not in data for k in HOST_REPORT_KEYS):
        raise RunReportError(f"host_reports: {path} is not a per-host report of runbook.ops.report "
                             f"(it needs the keys {', '.join(HOST_REPORT_KEYS)})")
    data["source"] = os.path.abspath(path)
    return data


def backup_history(directories: t.Iterable[str], limit: int = 30) -> list[dict]:
    """Backups with a runbook.ops manifest in ``directories`` (newest ``limit`` per series), oldest first.

    One entry per backup: ``kind``, ``name``, ``id``, ``directory``, ``finished_at``, ``size``,
    ``duration_seconds``, ``verified`` (passed / failed / skipped), ``complete`` and, for
    PostgreSQL dumps, ``database_size`` (bytes at dump time); for Redis, ``total_keys``.
    """
    out: list[dict] = []
    seen: set[str] = set()
    for directory in directories:
        real = os.path.realpath(directory)
        if real in seen:
            continue
        seen.add(real)
        series: dict[tuple[str, str], list[dict]] = {}
        for rec in B.read_manifests(directory):
            manifest = rec.manifest
            details = _dict(manifest.get(B.details_key(rec.kind)))
            entry = {
                "kind": rec.kind,
                "name": rec.name,
                "id": rec.id,
                "directory": directory,
                "finished_at": B.format_time(rec.finished_at),
                "size": _int(manifest.get("size")),
                "duration_seconds": _num(manifest.get("duration_seconds")),
                "verified": manifest.get("verified"),
                "complete": rec.complete,
                "database_size": _int(details.get("database_size")),
                "total_keys": _int(details.get("total_keys")),
                "row_counts": details.get("row_counts") if isinstance(details.get("row_counts"), dict) else None,
                # dated ahead of now (a wrong clock, a copied directory): never the newest, never compared
                "future": B.is_future(rec),
            }
            series.setdefault((rec.kind, rec.name), []).append(entry)
        for entries in series.values():
            _keep_row_counts_for_comparison(entries)
            out.extend(entries[-limit:] if limit > 0 else entries)
    out.sort(key=lambda e: (e["finished_at"], e["kind"], e["name"], e["id"]))
    return out


def _keep_row_counts_for_comparison(entries: list[dict]) -> None:
    """Row counts stay only on the newest backup and the newest good one before it (what the data-loss check
    compares); a future-dated backup is neither."""
    trusted = [e for e in entries if not e["future"]]
    keep = {id(trusted[-1])} if trusted else set()
    for e in reversed(trusted[:-1]):
        if e["verified"] == B.VERIFY_PASSED and e["complete"]:
            keep.add(id(e))
            break
    for e in entries:
        if id(e) not in keep:
            e["row_counts"] = None


# ---------------------------------------------------------------------------
# secrets
# ---------------------------------------------------------------------------
_SECRET_PATTERNS = (
    # password=..., PGPASSWORD: ..., "token": "..."
    re.compile(r"""(?i)((?:pass(?:word|wd)?|pwd|secret|token|api[_-]?key|auth)["']?\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&}]+)"""),
    # scheme://user:secret@host
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)([^@\s]+)(?=@)"),
)
REDACTED = "********"


def redact(text: t.Any, secrets: t.Iterable[str] = ()) -> str:
    """``text`` with known secret values and password-looking assignments replaced by ``********``."""
    out = "" if text is None else str(text)
    for secret in sorted({str(s) for s in secrets if s and len(str(s)) >= 4}, key=len, reverse=True):
        out = out.replace(secret, REDACTED)
    for pattern in _SECRET_PATTERNS:
        out = pattern.sub(lambda m: m.group(1) + REDACTED, out)
    return out


# ---------------------------------------------------------------------------
# merging
# ---------------------------------------------------------------------------
# How a host came through the run (the callback plugin runbook.ops.run_report records it).
OUTCOMES = ("failed", "unreachable", "not_reached", "changed", "ok")
OUTCOME_STATUS = {"failed": "critical", "unreachable": "critical", "not_reached": "warning", "changed": "ok", "ok": "ok"}


def _problem(problems: list, host: str, where: str, severity: str, message: str) -> None:
    problems.append({"host": host, "where": where, "severity": severity, "message": message})


def _step_failed(problems: list, host: str, where: str, result: t.Any) -> bool:
    if isinstance(result, dict) and result.get("failed"):
        _problem(problems, host, where, "critical", str(result.get("msg") or "failed"))
        return True
    return False


def _probes(host: str, step: str, health: dict, out: dict, problems: list) -> None:
    first = _dict(health.get("probes"))
    after = _dict(health.get("after"))
    final = after if after.get("results") else first
    if _step_failed(problems, host, step, first):
        return
    for probe in _list(final.get("results")):
        if not isinstance(probe, dict):
            continue
        status = probe.get("status") if probe.get("status") in STATUSES else "critical"
        entry = {
            "host": host,
            "name": str(probe.get("name", "")),
            "kind": str(probe.get("kind", "")),
            "status": status,
            "message": str(probe.get("message", "")),
            "value": probe.get("value"),
            "unit": probe.get("unit"),
            "latency_ms": _num(probe.get("latency_ms")),
            "attempts": _int(probe.get("attempts")),
            "remediated": bool(after.get("results")),
        }
        out["probes"].append(entry)
        if status != "ok":
            _problem(problems, host, f"probe {entry['name']}", status, entry["message"])
    for name in _list(health.get("restarted")):
        _problem(problems, host, "health", "warning", f"restarted {name} after a critical probe")


def _vacuum(host: str, result: dict, out: dict, problems: list) -> None:
    if _step_failed(problems, host, "vacuum", result):
        return
    for db in _list(result.get("databases")):
        db = _dict(db)
        totals = _dict(db.get("totals"))
        out["vacuum"]["databases"].append({
            "host": host,
            "database": str(db.get("database", "")),
            "tables": _int(totals.get("tables")),
            "vacuumed": _int(totals.get("vacuumed")),
            "analyzed": _int(totals.get("analyzed")),
            "skipped": _int(totals.get("skipped")),
            "dead_tuples_before": _int(totals.get("dead_tuples_before")),
            "dead_tuples_after": _int(totals.get("dead_tuples_after")),
            "duration": _num(totals.get("duration")),
        })
        for table in _list(db.get("tables")):
            table = _dict(table)
            entry = {
                "host": host,
                "database": str(table.get("database", db.get("database", ""))),
                "table": _table_name(table),
                "action": str(table.get("action", "")),
                "planned_action": str(table.get("planned_action", "")),
                "changed": bool(table.get("changed")),
                "dead_tuples_before": _int(table.get("dead_tuples_before")),
                "dead_tuples_after": _int(table.get("dead_tuples_after")),
                "duration": _num(table.get("duration")),
                "reason": str(table.get("reason", "")),
                "skip_reason": table.get("skip_reason"),
            }
            out["vacuum"]["tables"].append(entry)
            if entry["skip_reason"] in ("locked", "lock_timeout", "insufficient_privilege"):
                _problem(problems, host, f"vacuum {entry['database']} {entry['table']}", "warning", entry["reason"])


def _table_name(row: dict) -> str:
    """A table's one unambiguous key (``a."b.c"`` and ``"a.b".c`` stay two): the module's own ``name``,
    else built by the same rule from ``schema`` and ``table``."""
    if row.get("name"):
        return str(row["name"])
    return table_key(str(row.get("schema", "")), str(row.get("table", "")))


def _pg_report(host: str, step: str, report: dict, out: dict, problems: list) -> None:
    if _step_failed(problems, host, step, report):
        return
    rep = out["pg_report"]
    for db in _list(report.get("databases")):
        db = _dict(db)
        rep["databases"].append({"host": host, "database": str(db.get("database", "")),
                                 "size_bytes": _int(db.get("size_bytes"))})
    for row in _list(report.get("tables")):
        row = _dict(row)
        rep["largest_tables"].append({
            "host": host, "database": str(row.get("database", "")),
            "table": _table_name(row),
            "total_bytes": _int(row.get("total_bytes")), "index_bytes": _int(row.get("index_bytes")),
            "live_tuples": _int(row.get("live_tuples")), "dead_tuples": _int(row.get("dead_tuples")),
        })
    for row in _list(report.get("unused_indexes")):
        row = _dict(row)
        rep["unused_indexes"].append({
            "host": host, "database": str(row.get("database", "")),
            "table": _table_name(row), "index": str(row.get("index", "")),
            "size_bytes": _int(row.get("size_bytes")), "scans": _int(row.get("scans")),
            "backs_constraint": bool(row.get("backs_constraint") or row.get("primary") or row.get("unique")),
        })
    for row in _list(report.get("slow_queries")):
        row = _dict(row)
        rep["slow_queries"].append({
            "host": host, "database": str(row.get("database", "")), "calls": _int(row.get("calls")),
            "mean_ms": _num(row.get("mean_ms")), "max_ms": _num(row.get("max_ms")),
            "total_ms": _num(row.get("total_ms")), "query": str(row.get("query", "")),
        })
    for row in _list(report.get("bloat")):
        row = _dict(row)
        rep["bloat"].append({
            "host": host, "database": str(row.get("database", "")),
            "table": _table_name(row),
            "dead_tuples": _int(row.get("dead_tuples")), "dead_percent": _num(row.get("dead_percent")),
        })
    for row in _list(report.get("sessions")):
        row = _dict(row)
        _problem(problems, host, f"session {row.get('pid')}", "warning",
                 f"{row.get('kind', 'session')} for {row.get('duration_seconds')} s in {row.get('database')}: "
                 f"{str(row.get('query', ''))[:200]}")


def _data_retention(host: str, items: list, out: dict, problems: list) -> None:
    for item in _loop_items(items):
        db = str(_dict(item.get("item")).get("database", ""))
        if _step_failed(problems, host, f"data retention {db}", item):
            continue
        for table in _list(item.get("tables")):
            table = _dict(table)
            out["retention"]["data"].append({
                "host": host, "database": db, "table": str(table.get("table", "")),
                "column": str(table.get("column", "")), "cutoff": table.get("cutoff"),
                "rows": _int(table.get("rows")), "remaining": _int(table.get("remaining")),
            })


def _backup_retention(host: str, kind: str, retention: t.Any, out: dict) -> None:
    retention = _dict(retention)
    groups = {"": retention} if "delete" in retention or "keep" in retention else retention
    for name, plan in groups.items():
        for decision in _list(_dict(plan).get("delete")):
            decision = _dict(decision)
            out["retention"]["backups"].append({
                "host": host, "kind": kind, "name": str(name), "id": str(decision.get("id", "")),
                "finished_at": decision.get("finished_at"), "verified": decision.get("verified"),
                "reason": str(decision.get("reason", "")),
            })


def _backup_entry(host: str, kind: str, backup: dict, check_mode: bool) -> dict:
    verification = _dict(backup.get("verification"))
    return {
        "host": host, "kind": kind,
        "name": str(backup.get("name") or backup.get("database") or ""),
        "path": str(backup.get("path", "")),
        "size": _int(backup.get("size")),
        "duration_seconds": _num(backup.get("duration_seconds")),
        "sha256": backup.get("sha256"),
        "verified": str(backup.get("verified") or "skipped"),
        "verification_method": str(verification.get("method", "")),
        "verification_error": verification.get("error"),
        "would_create": check_mode,
    }


def _pg_backup(host: str, result: dict, check_mode: bool, out: dict, problems: list) -> None:
    backup = _dict(result.get("backup"))
    if backup and not _step_failed(problems, host, "pg_backup", backup):
        for b in _list(backup.get("backups")):
            entry = _backup_entry(host, "postgres", _dict(b), False)
            if entry["duration_seconds"] is None:
                entry["duration_seconds"] = _num(_dict(b).get("duration_seconds"))
            out["backups"].append(entry)
            if entry["verified"] == "failed":
                _problem(problems, host, f"backup {entry['name']}", "critical",
                         f"verification failed: {entry['verification_error'] or 'see the report'}")
        for w in _list(backup.get("would_create")):
            w = _dict(w)
            out["backups"].append({"host": host, "kind": "postgres", "name": str(w.get("name") or w.get("database") or ""),
                                   "path": str(w.get("path", "")), "size": _int(w.get("estimated_size") or w.get("size")),
                                   "duration_seconds": None, "sha256": None, "verified": "skipped",
                                   "verification_method": "", "verification_error": None, "would_create": True})
        _backup_retention(host, "postgres", backup.get("retention"), out)
    restore = _dict(result.get("restore"))
    if restore and not _step_failed(problems, host, "restore", restore):
        diffs = _list(restore.get("row_count_differences"))
        out["restores"].append({"host": host, "database": str(restore.get("source_database") or ""),
                                "target_database": str(restore.get("target_database") or ""),
                                "backup": str(restore.get("backup") or ""),
                                "backup_finished_at": restore.get("backup_finished_at"),
                                "tables_compared": _int(restore.get("tables_compared")),
                                "differences": len(diffs),
                                "changed": bool(restore.get("changed"))})
        if diffs:
            _problem(problems, host, "restore", "critical", f"{len(diffs)} tables differ from the dump's snapshot")
    for drill in _loop_items(result.get("drill")):
        if _step_failed(problems, host, "drill", drill):
            continue
        diffs = _list(drill.get("row_count_differences"))
        out["drills"].append({"host": host, "database": str(drill.get("target_database") or _dict(drill.get("item")).get("database") or ""),
                              "differences": len(diffs), "changed": bool(drill.get("changed"))})
        if diffs:
            _problem(problems, host, "drill", "critical", f"{len(diffs)} tables differ from the dump's snapshot")


def _redis(host: str, result: dict, check_mode: bool, out: dict, problems: list) -> None:
    maint = _dict(result.get("maintenance"))
    if maint and not _step_failed(problems, host, "redis maintenance", maint):
        memory = _dict(maint.get("memory"))
        if memory:
            out["redis"]["memory"].append({"host": host, "used_memory": _int(memory.get("used_memory")),
                                           "used_memory_peak": _int(memory.get("used_memory_peak")),
                                           "maxmemory": _int(memory.get("maxmemory")),
                                           "maxmemory_policy": str(memory.get("maxmemory_policy") or "")})
    for item in _loop_items(result.get("purges")):
        label = ", ".join(str(p) for p in _list(_dict(item.get("item")).get("patterns")))
        if _step_failed(problems, host, f"redis purge {label}", item):
            continue
        patterns = _list(item.get("patterns")) or [{"pattern": label, "matched": item.get("matched"),
                                                    "deleted": item.get("deleted")}]
        for p in patterns:
            p = _dict(p)
            out["redis"]["purges"].append({
                "host": host, "pattern": str(p.get("pattern", "")), "matched": _int(p.get("matched")),
                "deleted": _int(p.get("deleted")), "used_memory_before": _int(item.get("used_memory_before")),
                "used_memory_after": _int(item.get("used_memory_after")), "check_mode": check_mode,
            })
    backup = _dict(result.get("backup"))
    if backup and not _step_failed(problems, host, "redis backup", backup):
        made = _dict(backup.get("backup"))
        if made:
            entry = _backup_entry(host, "redis", made, False)
            entry["name"] = entry["name"] or str(backup.get("name") or "redis")
            out["backups"].append(entry)
            if entry["verified"] == "failed":
                _problem(problems, host, "redis backup", "critical", "verification failed")
        elif backup.get("would_create"):
            out["backups"].append({"host": host, "kind": "redis", "name": str(backup.get("name") or "redis"),
                                   "path": str(backup.get("would_create")), "size": None, "duration_seconds": None,
                                   "sha256": None, "verified": "skipped", "verification_method": "",
                                   "verification_error": None, "would_create": True})
        _backup_retention(host, "redis", {str(backup.get("name") or "redis"): _dict(backup.get("retention"))}, out)


# runbook.ops.backup_copy results the roles keep as facts (pg_backup_copy_results, redis_copy_results)
COPY_STEPS = ("pg_backup_copy", "redis_copy")


def _offsite(host: str, results: list, out: dict, problems: list) -> None:
    """Off-site copies (results of runbook.ops.backup_copy, each with ``copies``), each copy once."""
    seen: set[str] = set()
    for result in results:
        for c in _list(_dict(result).get("copies")):
            c = _dict(c)
            key = json.dumps(c, sort_keys=True, default=str)
            if key in seen:
                continue
            seen.add(key)
            entry = {"host": host, "kind": str(c.get("kind") or ""), "name": str(c.get("name") or ""),
                     "backup": str(c.get("backup") or ""), "destination": str(c.get("destination") or ""),
                     "size": _int(c.get("size")), "verified": bool(c.get("verified")),
                     "copied_at": c.get("copied_at"), "status": str(c.get("status") or ""),
                     "message": str(c.get("msg") or "")}
            out["offsite"].append(entry)
            if entry["status"] == "failed" or (entry["status"] and not entry["verified"]):
                _problem(problems, host, f"off-site copy {entry['name']} to {entry['destination']}", "critical",
                         entry["message"] or "the copy failed or was not verified")


def _other_failures(host: str, results: dict, problems: list) -> None:
    """Any other step result (or nested step) that says failed."""
    for step, value in results.items():
        if isinstance(value, dict):
            for key, nested in value.items():
                if isinstance(nested, dict) and nested.get("failed") and not any(
                        p["host"] == host and (key in p["where"] or step in p["where"]) for p in problems):
                    _problem(problems, host, f"{step}.{key}", "critical", str(nested.get("msg") or "failed"))


def empty_report(schedule: str, stamp: str) -> dict:
    return {
        "format": RUN_REPORT_FORMAT,
        "version": RUN_REPORT_VERSION,
        "schedule": schedule,
        "stamp": stamp,
        "generated_at": None,
        "check_mode": False,
        "status": "ok",
        # without the callback: what the report could not know (_run_report_partial.PARTIAL), else null
        "partial": None,
        "hosts": [],
        "problems": [],
        "probes": [],
        "vacuum": {"databases": [], "tables": []},
        "pg_report": {"databases": [], "largest_tables": [], "unused_indexes": [], "slow_queries": [], "bloat": []},
        "backups": [],
        "restores": [],
        "drills": [],
        "retention": {"backups": [], "data": []},
        "redis": {"purges": [], "memory": []},
        "backup_history": [],
        "offsite": [],
        "data_loss": [],
        "run": {},
    }


def merge(host_reports: t.Sequence[dict], schedule: str, stamp: str,
          generated_at: _dt.datetime | None = None, run: dict | None = None,
          thresholds: dict | None = None) -> dict:
    """The run report of ``host_reports`` (dicts from :func:`load_host_report`).

    ``run`` is what the callback plugin saw: ``hosts`` (host -> ``outcome`` of :data:`OUTCOMES`,
    ``failures`` [{play, role, task, message}], ``reason``), ``started_at``, ``finished_at``,
    ``duration_seconds``, ``playbook``, ``interrupted``, ``check_mode`` and ``stopped`` (where a
    play stopped the run). Every host of ``run`` is in the report, with or without a host report.
    ``thresholds`` are the data-loss shares (``rows_share``, ``size_share``).
    """
    parse_stamp(stamp)
    out = empty_report(schedule, stamp)
    out["generated_at"] = B.format_time(generated_at or B.utcnow())
    run = _dict(run)
    outcomes = _dict(run.get("hosts"))
    by_host = {str(r.get("host")): r for r in host_reports}
    for host in outcomes:
        by_host.setdefault(str(host), {"host": str(host), "check_mode": bool(run.get("check_mode")), "results": {},
                                       "stamp": stamp, "source": None})
    for rep in sorted(by_host.values(), key=lambda r: str(r.get("host"))):
        host = str(rep.get("host"))
        check_mode = bool(rep.get("check_mode"))
        # a step that did not run: null, or "" from default(None) before ansible-core 2.19
        results = {k: v for k, v in _dict(rep.get("results")).items() if v is not None and v != ""}
        problems: list[dict] = []
        seen = _dict(outcomes.get(host))
        outcome = str(seen.get("outcome") or "ok")
        failures = [_dict(f) for f in _list(seen.get("failures"))]
        for f in failures:
            where = " / ".join(str(f[k]) for k in ("play", "role", "task") if f.get(k))
            _problem(problems, host, where or "run", "critical" if not f.get("rescued") else "warning",
                     ("rescued: " if f.get("rescued") else "") + str(f.get("message") or "failed"))
        if outcome == "not_reached" or (seen.get("reason") and outcome not in ("failed", "unreachable")):
            _problem(problems, host, "run", "warning", str(seen.get("reason") or "not reached"))
        for step in ("health",):
            if isinstance(results.get(step), dict):
                _probes(host, step, results[step], out, problems)
        system_update = _dict(results.get("system_update"))
        if isinstance(system_update.get("health"), dict):
            _probes(host, "system_update.health", system_update["health"], out, problems)
        pgm = _dict(results.get("pg_maintenance"))
        if isinstance(pgm.get("vacuum"), dict):
            _vacuum(host, pgm["vacuum"], out, problems)
        for step, report in (("pg_maintenance.report", pgm.get("report")), ("capacity", results.get("capacity"))):
            if isinstance(report, dict):
                _pg_report(host, step, report, out, problems)
        _data_retention(host, _list(pgm.get("retention")), out, problems)
        if isinstance(pgm.get("activity"), dict):
            _step_failed(problems, host, "pg_activity", pgm["activity"])
        if isinstance(results.get("pg_backup"), dict):
            _pg_backup(host, results["pg_backup"], check_mode, out, problems)
        if isinstance(results.get("redis"), dict):
            _redis(host, results["redis"], check_mode, out, problems)
        copies = _list(results.get("backup_copy")) + [results[k] for k in COPY_STEPS if isinstance(results.get(k), dict)]
        _offsite(host, copies, out, problems)
        _other_failures(host, {k: v for k, v in results.items() if k != "backup_copy" and k not in COPY_STEPS}, problems)
        history = [dict(e, host=host) for e in _list(rep.get("backup_history")) if isinstance(e, dict)]
        out["backup_history"].extend(history)
        by_id = {e.get("id"): e for e in history}
        for b in out["backups"]:
            # e.g. redis_backup returns no duration: the manifest on disk has it
            if b["host"] == host and b["duration_seconds"] is None and os.path.basename(b["path"]) in by_id:
                b["duration_seconds"] = _num(by_id[os.path.basename(b["path"])].get("duration_seconds"))
        status = worst(OUTCOME_STATUS.get(outcome, "ok"), *(p["severity"] for p in problems))
        out["hosts"].append({
            "host": host,
            "status": status,
            "outcome": outcome,
            "reason": str(seen.get("reason") or (failures[0]["message"] if failures else "")),
            "failures": failures,
            "check_mode": check_mode,
            "stamp": rep.get("stamp"),
            "source": rep.get("source"),
            "steps": sorted(k for k, v in results.items() if v is not None),
            "problems": len(problems),
            "results": results,
        })
        out["problems"].extend(problems)
        out["check_mode"] = out["check_mode"] or check_mode
    out["status"] = worst(*(h["status"] for h in out["hosts"]))
    out["check_mode"] = out["check_mode"] or bool(run.get("check_mode"))
    run_keys = ("playbook", "started_at", "finished_at", "duration_seconds", "interrupted", "stopped")
    out["run"] = {k: run.get(k) for k in run_keys}
    out["partial"] = run.get("partial") or None
    out["hosts"].sort(key=lambda h: (-STATUS_VALUE[h["status"]],
                                     OUTCOMES.index(h["outcome"]) if h["outcome"] in OUTCOMES else 9, h["host"]))
    out["data_loss"] = data_loss(out, **_dict(thresholds))
    for w in out["data_loss"]:
        out["problems"].append({"host": w["host"], "where": f"data loss {w['database']}", "severity": "warning",
                                "message": w["message"]})
        for h in out["hosts"]:
            if h["host"] == w["host"]:
                h["status"] = worst(h["status"], "warning")
    out["status"] = worst(out["status"], *(h["status"] for h in out["hosts"]))
    out["problems"].sort(key=lambda p: -STATUS_VALUE.get(p["severity"], 0))
    out["pg_report"]["largest_tables"].sort(key=lambda r: -(r["total_bytes"] or 0))
    out["pg_report"]["unused_indexes"].sort(key=lambda r: -(r["size_bytes"] or 0))
    out["pg_report"]["slow_queries"].sort(key=lambda r: -(r["mean_ms"] or 0))
    out["pg_report"]["bloat"].sort(key=lambda r: -(r["dead_tuples"] or 0))
    out["backup_history"].sort(key=lambda e: (str(e.get("finished_at")), e["host"], str(e.get("name"))))
    return out


def _pct(before: float, after: float) -> str:
    return f"{(after - before) / before * 100:+.0f}%" if before else "new"


def data_loss(report: dict, rows_share: float = 0.5, size_share: float = 0.5) -> list[dict]:
    """Early warnings of data loss: each PostgreSQL backup made in this run against the previous verified one.

    A warning when a table lost more than ``rows_share`` of its rows (or is gone), or the backup
    shrank by more than ``size_share``. Row counts come from the manifests (pg_backup row_counts).
    Table keys are shown as the manifest has them.
    """
    warnings: list[dict] = []
    history: dict[tuple, list[dict]] = {}
    for e in report["backup_history"]:
        history.setdefault((e["host"], e.get("kind"), e.get("name")), []).append(e)
    for b in report["backups"]:
        if b["kind"] != "postgres" or b["would_create"] or b["verified"] == B.VERIFY_FAILED:
            continue
        entries = history.get((b["host"], "postgres", b["name"]), [])
        new = next((e for e in entries if e.get("id") == os.path.basename(b["path"])), None)
        if new is None:
            continue
        older = [e for e in entries if str(e.get("finished_at")) < str(new.get("finished_at"))
                 and e.get("verified") == B.VERIFY_PASSED and e.get("complete")]
        if not older:
            continue
        prev = max(older, key=lambda e: str(e.get("finished_at")))
        since = str(prev.get("finished_at") or "")[:10]

        def warn(table: str | None, before: t.Any, after: t.Any, message: str,
                 _b: dict = b, _prev: dict = prev, _since: str = since) -> None:
            warnings.append({"host": _b["host"], "database": _b["name"], "table": table, "before": before,
                             "after": after, "since": _since, "previous": _prev.get("id"),
                             "backup": os.path.basename(_b["path"]), "message": message})

        size_before, size_after = _int(prev.get("size")), _int(new.get("size"))
        if size_before and size_after is not None and size_after < size_before * (1 - size_share):
            warn(None, size_before, size_after,
                 f"backup size: {human_bytes(size_before)} -> {human_bytes(size_after)} "
                 f"({_pct(size_before, size_after)}) since the backup of {since}")
        before_rows, after_rows = _dict(prev.get("row_counts")), new.get("row_counts")
        if not before_rows or not isinstance(after_rows, dict):
            continue
        for key in sorted(before_rows):
            old_n, new_n = _int(before_rows[key]), _int(after_rows.get(key))
            if not old_n:
                continue
            if new_n is None:
                warn(key, old_n, None, f"{key}: {old_n:,} rows -> table missing since the backup of {since}")
            elif new_n < old_n * (1 - rows_share):
                warn(key, old_n, new_n, f"{key}: {old_n:,} -> {new_n:,} rows ({_pct(old_n, new_n)}) "
                                        f"since the backup of {since}")
    return warnings


def summary(report: dict, paths: dict | None = None) -> dict:
    """The compact form of a run report (module return value and AWX set_stats)."""
    tables = report["vacuum"]["tables"]
    vacuumed = [x for x in tables if x["changed"] and "vacuum" in x["action"]]
    counts = {s: sum(1 for p in report["probes"] if p["status"] == s) for s in STATUSES}
    return dict(paths or {}, **{
        "schedule": report["schedule"],
        "stamp": report["stamp"],
        "check_mode": report["check_mode"],
        "status": report["status"],
        "partial": report.get("partial"),
        "hosts": {h["host"]: h["status"] for h in report["hosts"]},
        "outcomes": {h["host"]: h["outcome"] for h in report["hosts"]},
        "failed_hosts": [h["host"] for h in report["hosts"] if h["outcome"] in ("failed", "unreachable")],
        "not_reached": [h["host"] for h in report["hosts"] if h["outcome"] == "not_reached"],
        "stopped": _dict(report.get("run")).get("stopped"),
        "data_loss": [w["message"] for w in report.get("data_loss", [])],
        "probes": counts,
        "tables_vacuumed": len(vacuumed),
        "tables_analyzed_only": sum(1 for x in tables if x["changed"] and "vacuum" not in x["action"]),
        "dead_tuples_before": sum(x["dead_tuples_before"] or 0 for x in vacuumed),
        "dead_tuples_after": sum(x["dead_tuples_after"] or 0 for x in vacuumed),
        "backups": [{"host": b["host"], "kind": b["kind"], "name": b["name"], "size": b["size"],
                     "verified": b["verified"], "would_create": b["would_create"]} for b in report["backups"]],
        "backups_deleted": len(report["retention"]["backups"]),
        "rows_deleted": sum(r["rows"] or 0 for r in report["retention"]["data"]),
        "redis_keys_deleted": sum(p["deleted"] or 0 for p in report["redis"]["purges"]),
        "problems": report["problems"][:50],
    })


# ---------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------
CSS = """
:root{--ok:#1a7f37;--warning:#9a6700;--critical:#cf222e;--muted:#57606a;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:0;color:#1f2328;background:#fff;font-size:14px}
header{background:#24292f;color:#fff;padding:16px 24px}
header h1{margin:0 0 4px;font-size:22px}
header .meta{color:#d0d7de}
main{padding:8px 24px 32px;max-width:1400px}
nav{margin:12px 0}
nav a{margin-right:12px;color:#0969da;text-decoration:none}
section{margin:24px 0}
h2{font-size:18px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;margin:6px 0;width:100%}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--bg)}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code{font-family:"DejaVu Sans Mono",monospace;font-size:12px;word-break:break-all}
.status{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-weight:bold;font-size:12px}
.status-ok{background:var(--ok)}.status-warning{background:var(--warning)}.status-critical{background:var(--critical)}
.status-passed{background:var(--ok)}.status-failed{background:var(--critical)}.status-skipped{background:var(--muted)}
.empty{color:var(--muted);font-style:italic}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 14px;min-width:150px;background:var(--bg)}
.card b{display:block;font-size:20px}
.charts{display:flex;flex-wrap:wrap;gap:16px}
figure{margin:0;border:1px solid var(--line);border-radius:6px;padding:8px;background:#fff}
figcaption{font-weight:bold;margin-bottom:4px}
.check{background:#fff8c5;color:#1f2328;padding:2px 8px;border-radius:4px;margin-left:8px}
.stopped{background:#ffebe9;border:1px solid var(--critical);padding:6px 10px;border-radius:6px}
tr.host-failed td,tr.host-unreachable td{background:#ffebe9}
tr.host-not_reached td{background:#fff8c5}
"""

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


# -- SVG charts: the geometry is computed here, the template draws it ---------------------
PALETTE = ("#0969da", "#bf3989", "#1a7f37", "#9a6700", "#8250df", "#cf222e", "#1b7c83", "#6e7781")
STATUS_COLOUR = {"ok": "#1a7f37", "warning": "#9a6700", "critical": "#cf222e"}


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return step * exp
    return 10 * exp  # pragma: no cover


def _r(value: float) -> float:
    return round(value, 1)


def line_chart(chart_id: str, title: str, series: t.Sequence[tuple[str, t.Sequence[tuple[_dt.datetime, float]]]],
               fmt: t.Callable[[float], str] = human_bytes, width: int = 580, height: int = 260) -> dict:
    """The geometry of an SVG line chart of time series (one polyline and legend entry per series)."""
    series = [(label, sorted(points)) for label, points in series if points]
    chart: dict = {"kind": "line", "id": chart_id, "title": title, "empty": None if series else "no data"}
    if not series:
        return chart
    left, right, top, bottom = 80, 16, 16, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    times = [p[0].timestamp() for _label, pts in series for p in pts]
    t0, t1 = min(times), max(times)
    if t1 - t0 < 1:
        t0, t1 = t0 - 3600, t1 + 3600
    vmax = _nice_max(max(p[1] for _label, pts in series for p in pts))

    def x(ts: float) -> float:
        return _r(left + (ts - t0) / (t1 - t0) * plot_w)

    def y(v: float) -> float:
        return _r(top + plot_h - v / vmax * plot_h)

    span = t1 - t0
    time_fmt = "%H:%M:%S" if span < 6 * 3600 else "%m-%d %H:%M" if span < 4 * 86400 else "%Y-%m-%d"
    day = _dt.datetime.fromtimestamp(t0, _dt.timezone.utc).strftime("%Y-%m-%d")
    chart.update(
        width=width, height=height + 18 * len(series), left=left, right=left + plot_w, axis_y=top + plot_h + 16,
        grid=[{"y": y(vmax * i / 4), "label": fmt(vmax * i / 4)} for i in range(5)],
        xticks=[{"x": x(t0 + span * i / 3), "anchor": "start" if i == 0 else "end" if i == 3 else "middle",
                 "label": _dt.datetime.fromtimestamp(t0 + span * i / 3, _dt.timezone.utc).strftime(time_fmt)}
                for i in range(4)],
        utc="UTC" + (" " + day if span < 4 * 86400 else ""),
        series=[{"label": label, "colour": PALETTE[n % len(PALETTE)], "legend_y": height + 18 * n + 4,
                 "points": " ".join(f"{x(p[0].timestamp())},{y(p[1])}" for p in points),
                 "dots": [{"x": x(ts.timestamp()), "y": y(v),
                           "title": f"{label}: {fmt(v)} at {ts.strftime('%Y-%m-%d %H:%M:%S')} UTC"} for ts, v in points]}
                for n, (label, points) in enumerate(series)],
    )
    return chart


def bar_chart(chart_id: str, title: str, bars: t.Sequence[tuple[str, t.Sequence[tuple[str, float, str]]]],
              fmt: t.Callable[[float], str] = str, width: int = 580) -> dict:
    """The geometry of a horizontal bar chart; each group is a label with (name, value, colour) bars."""
    bars = [(label, values) for label, values in bars if values]
    chart: dict = {"kind": "bar", "id": chart_id, "title": title, "empty": None if bars else "no data"}
    if not bars:
        return chart
    left, right, bar_h, gap = 200, 110, 14, 10
    rows = sum(len(v) for _label, v in bars)
    vmax = _nice_max(max((entry[1] for _label, values in bars for entry in values), default=0))
    plot_w = width - left - right
    groups = []
    y = 12
    for label, values in bars:
        group = {"label": label, "short": label if len(label) <= 32 else "\u2026" + label[-31:], "y": y + bar_h - 3,
                 "bars": []}
        for name, value, colour in values:
            w = max(1.0, value / vmax * plot_w) if value > 0 else 0.0
            group["bars"].append({"y": y, "w": _r(w), "h": bar_h - 2, "colour": colour, "tx": _r(left + w + 4),
                                  "ty": y + bar_h - 3, "title": f"{label} {name}: {fmt(value)}",
                                  "text": f"{name} {fmt(value)}"})
            y += bar_h
        y += gap
        groups.append(group)
    chart.update(width=width, height=16 + rows * bar_h + len(bars) * gap + 8, left=left, groups=groups)
    return chart


def _ts(text: t.Any) -> _dt.datetime | None:
    try:
        return B.parse_time(str(text))
    except (ValueError, TypeError):
        return None


def charts(report: dict) -> list[dict]:
    history = report["backup_history"]
    backup_series: dict[str, list] = {}
    db_series: dict[str, list] = {}
    for e in history:
        when = _ts(e.get("finished_at"))
        if when is None:
            continue
        label = f"{e['host']} {e.get('kind')} {e.get('name')}"
        if e.get("size") is not None:
            backup_series.setdefault(label, []).append((when, float(e["size"])))
        if e.get("kind") == "postgres" and e.get("database_size") is not None:
            db_series.setdefault(f"{e['host']} {e.get('name')}", []).append((when, float(e["database_size"])))
    run_time = parse_stamp(report["stamp"])
    for db in report["pg_report"]["databases"]:
        if db["size_bytes"] is not None:
            db_series.setdefault(f"{db['host']} {db['database']}", []).append((run_time, float(db["size_bytes"])))
    probes = [(f"{p['host']} {p['name']}", [("", p["latency_ms"], STATUS_COLOUR[p["status"]])])
              for p in report["probes"] if p["latency_ms"] is not None]
    dead = [(f"{x['host']} {x['database']} {x['table']}",
             [("before", float(x["dead_tuples_before"] or 0), "#cf222e"),
              ("after", float(x["dead_tuples_after"] or 0), "#1a7f37")])
            for x in report["vacuum"]["tables"] if x["changed"]]
    dead.sort(key=lambda b: -b[1][0][1])
    return [
        line_chart("chart-database-sizes", "Database sizes over time", list(db_series.items())),
        line_chart("chart-backup-sizes", "Backup sizes over time", list(backup_series.items())),
        bar_chart("chart-probe-latency", "Probe latency (ms)", probes, fmt=lambda v: f"{v:,.1f} ms"),
        bar_chart("chart-dead-tuples", "Dead tuples before / after vacuum", dead[:15], fmt=lambda v: f"{v:,.0f}"),
    ]


def _fmt_num(value: t.Any) -> str:
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value):,}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def cards(report: dict) -> list[tuple[str, t.Any, bool]]:
    """The counts at the top of the page; each counts rows of a table below it."""
    hosts = report["hosts"]
    bad = [h for h in hosts if h.get("outcome") in ("failed", "unreachable")]
    changed = [x for x in report["vacuum"]["tables"] if x["changed"]]
    return [
        ("Status", report["status"], True),
        ("Hosts", len(hosts), False),
        ("Failed / unreachable", f"{sum(1 for h in bad if h['outcome'] == 'failed')} / "
                                 f"{sum(1 for h in bad if h['outcome'] == 'unreachable')}", False),
        ("Not reached", sum(1 for h in hosts if h.get("outcome") == "not_reached"), False),
        ("Probes ok / warn / crit", " / ".join(str(sum(1 for p in report["probes"] if p["status"] == s))
                                               for s in STATUSES), False),
        ("Tables vacuumed", sum(1 for x in changed if "vacuum" in x["action"]), False),
        ("Tables analyzed only", sum(1 for x in changed if "vacuum" not in x["action"]), False),
        ("Backups" + (" (would create)" if report["check_mode"] else ""), len(report["backups"]), False),
        ("Data-loss warnings", len(report.get("data_loss", [])), False),
        ("Redis keys purged", _fmt_num(sum(p["deleted"] or 0 for p in report["redis"]["purges"])), False),
    ]


NAV = (("hosts", "Hosts"), ("problems", "Problems"), ("data-loss", "Data loss"), ("charts", "Charts"),
       ("probes", "Probes"), ("vacuum", "Vacuum"), ("pg-report", "PostgreSQL report"), ("backups", "Backups"),
       ("retention", "Retention"), ("redis", "Redis"))


def render_html(report: dict, json_name: str = "") -> str:
    """The run report as one self-contained HTML document (no script, no external resource).

    Rendered by Jinja2 with autoescape from :data:`_run_report_html.TEMPLATE`: every value that
    came from a host is escaped in text and attributes.
    """
    try:
        import jinja2  # pylint: disable=import-outside-toplevel
    except ImportError as exc:  # pragma: no cover (Jinja2 comes with ansible-core)
        raise RunReportError("the HTML report needs Jinja2 (it comes with ansible-core)") from exc
    from ansible_collections.runbook.ops.plugins.module_utils._run_report_html import TEMPLATE  # pylint: disable=import-outside-toplevel

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=False)
    env.filters.update(num=_fmt_num, human_bytes=human_bytes, basename=lambda p: os.path.basename(str(p or "")))
    r = dict(report)
    r.setdefault("run", {})
    r["run"] = dict({"interrupted": False, "stopped": None, "duration_seconds": None}, **_dict(r["run"]))
    r.setdefault("data_loss", [])
    r.setdefault("offsite", [])
    vac_tables = [x for x in r["vacuum"]["tables"] if x["changed"] or x["skip_reason"] not in (None, "below_threshold")]
    return env.from_string(TEMPLATE).render(
        r=r, rep=r["pg_report"], vac_tables=vac_tables, top=TOP, json_name=json_name, nav=NAV, cards=cards(r),
        charts=charts(r), title=f"runbook.ops {r['schedule']} run {r['stamp']}", css=CSS, csp=CSP,
        badge_classes=STATUSES + ("passed", "failed", "skipped"),
    ).lstrip() + "\n"


# ---------------------------------------------------------------------------
# Prometheus text format
# ---------------------------------------------------------------------------
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


def _fmt_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
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
            add("runbook_probe_latency_seconds", labels, p["latency_ms"] / 1000.0)
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
        good = [e for e in entries if e.get("verified") == B.VERIFY_PASSED and e.get("complete")]
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
            lines.append(f"{name}{{{text}}} {_fmt_value(value)}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------
def write_atomic(path: str, text: str, mode: int = 0o640) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory and a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def run_report_paths(report_dir: str, schedule: str, stamp: str) -> tuple[str, str]:
    base = os.path.join(report_dir, f"{schedule}-{stamp}")
    return base + ".json", base + ".html"


def run_stamps(report_dir: str, schedule: str) -> list[str]:
    """Stamps of the run reports (``<schedule>-<stamp>.json``) of a schedule in ``report_dir``, oldest first."""
    pattern = re.compile(rf"^{re.escape(schedule)}-(\d{{8}}T\d{{6}}Z)\.(?:json|html)$")
    found = set()
    if os.path.isdir(report_dir):
        for entry in os.listdir(report_dir):
            m = pattern.match(entry)
            if m:
                found.add(m.group(1))
    return sorted(found)


def plan_retention(report_dir: str, schedule: str, keep_last: int, new_stamp: str | None = None) -> list[str]:
    """Files to delete so that only the newest ``keep_last`` runs of ``schedule`` remain (0 keeps all).

    A run's files are its ``.json`` and ``.html`` and the per-host reports it merged
    (the ``source`` of each host, when it is a ``<schedule>-*-<stamp>.json`` in ``report_dir``).
    The choice is the shared retention engine's (:func:`_backup.plan_retention`): the run
    ``new_stamp`` is never deleted, and a stamp dated in the future never outranks it (it is kept).
    """
    if keep_last <= 0:
        return []
    stamps = run_stamps(report_dir, schedule)
    if new_stamp and new_stamp not in stamps:
        stamps = sorted(stamps + [new_stamp])
    records = []
    for run_stamp in stamps:
        try:
            when = parse_stamp(run_stamp)
        except RunReportError:
            continue
        records.append(B.BackupRecord(id=run_stamp, name=schedule, kind="files", finished_at=when, verified=True))
    plan = B.plan_retention(records, keep_last=keep_last, current=[new_stamp] if new_stamp else [])
    old = sorted(d.record.id for d in plan.delete)
    doomed: list[str] = []
    real_dir = os.path.realpath(report_dir)
    for stamp in old:
        json_path, html_path = run_report_paths(report_dir, schedule, stamp)
        if os.path.exists(json_path):
            try:
                with open(json_path, encoding="utf-8") as fh:
                    data = json.load(fh)
                for h in _list(_dict(data).get("hosts")):
                    src = str(_dict(h).get("source") or "")
                    name = os.path.basename(src)
                    if (os.path.realpath(os.path.dirname(src)) == real_dir and name.startswith(f"{schedule}-")
                            and name.endswith(f"-{stamp}.json") and os.path.exists(src)):
                        doomed.append(src)
            except (OSError, ValueError):
                pass
        doomed.extend(p for p in (json_path, html_path) if os.path.exists(p))
    return doomed


SERIES_STATE = ".runbook-backup-series.json"


def update_backup_series(report_dir: str, report: dict, failures: t.Iterable[dict] = ()) -> list[dict]:
    """Last success and last failure per backup series, remembered across runs in ``report_dir``.

    A host whose run failed reads no manifests, so the newest success it had is kept from earlier
    runs; ``failures`` are the backup tasks that failed in this run (``host``, ``kind``, ``name``,
    ``message``), and a new backup that failed its verification counts as a failure too.
    """
    path = os.path.join(report_dir, SERIES_STATE)
    try:
        with open(path, encoding="utf-8") as fh:
            state = {(x["host"], x["kind"], x["name"]): x for x in _list(json.load(fh)) if isinstance(x, dict)}
    except (OSError, ValueError, KeyError, TypeError):
        state = {}

    def entry(host: str, kind: str, name: str) -> dict:
        return state.setdefault((host, kind, name), {"host": host, "kind": kind, "name": name,
                                                     "last_success": None, "last_failure": None,
                                                     "last_failure_message": None})

    for e in report["backup_history"]:
        if e.get("verified") == B.VERIFY_PASSED and e.get("complete"):
            x = entry(e["host"], str(e.get("kind")), str(e.get("name")))
            if str(e.get("finished_at")) > str(x["last_success"] or ""):
                x["last_success"] = e.get("finished_at")
    now = report["generated_at"]
    failed = [dict(f) for f in failures]
    failed += [{"host": b["host"], "kind": b["kind"], "name": b["name"], "message": "verification failed"}
               for b in report["backups"] if b["verified"] == B.VERIFY_FAILED]
    for f in failed:
        x = entry(str(f["host"]), str(f["kind"]), str(f["name"]))
        x["last_failure"], x["last_failure_message"] = now, redact(f.get("message"))
    out = sorted(state.values(), key=lambda x: (x["host"], x["kind"], x["name"]))
    write_atomic(path, json.dumps(out, indent=1) + "\n")
    return out


def build_run(report_dir: str, schedule: str, stamp: str, host_reports: t.Sequence[dict], run: dict,
              metrics_dir: str | None = None, keep_last: int = 0, thresholds: dict | None = None,
              now: _dt.datetime | None = None) -> dict:
    """What the callback plugin calls at the end of a run: merge, render, write, keep the last runs.

    ``run`` is described in :func:`merge`; ``run["backup_failures"]`` feeds :func:`update_backup_series`.
    """
    if not re.match(r"^[A-Za-z0-9_.-]+$", schedule or ""):
        raise RunReportError(f"name: {schedule!r} must be a simple name (letters, digits, '.', '_', '-')")
    report = merge(host_reports, schedule, stamp, now, run, thresholds)
    json_path, html_path = run_report_paths(report_dir, schedule, stamp)
    metrics_path = os.path.join(metrics_dir, f"runbook_{schedule}.prom") if metrics_dir else None
    for directory in (report_dir, metrics_dir):
        if directory:
            os.makedirs(directory, exist_ok=True)
    report["backup_series"] = update_backup_series(report_dir, report, _list(run.get("backup_failures")))
    write_atomic(json_path, json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")
    write_atomic(html_path, render_html(report, os.path.basename(json_path)))
    if metrics_path:
        write_atomic(metrics_path, render_metrics(report), 0o644)
    deleted = [p for p in plan_retention(report_dir, schedule, keep_last, stamp) if p not in (json_path, html_path)]
    for p in deleted:
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
    paths = {"json": json_path, "html": html_path, "metrics": metrics_path, "deleted": deleted}
    return {"json_path": json_path, "html_path": html_path, "metrics_path": metrics_path,
            "url": "file://" + os.path.abspath(html_path), "status": report["status"], "deleted": deleted,
            "summary": summary(report, paths)}


def build(report_dir: str, schedule: str, stamp: str, host_report_paths: t.Sequence[str],
          metrics_dir: str | None = None, keep_last: int = 0, check_mode: bool = False,
          now: _dt.datetime | None = None, run: dict | None = None) -> dict:
    """Merge, render and write everything; the module's return value (without ``changed``).

    ``run`` (see :func:`merge`) is what the module knows of the run without the callback
    (:func:`_run_report_partial.partial_run`); its ``backup_failures`` feed :func:`update_backup_series`.
    """
    if not re.match(r"^[A-Za-z0-9_.-]+$", schedule or ""):
        raise RunReportError(f"name: {schedule!r} must be a simple name (letters, digits, '.', '_', '-')")
    parse_stamp(stamp)
    if keep_last < 0:
        raise RunReportError(f"keep_last: must be 0 (keep all) or positive, got {keep_last}")
    reports = [load_host_report(p) for p in host_report_paths]
    report = merge(reports, schedule, stamp, now, run)
    json_path, html_path = run_report_paths(report_dir, schedule, stamp)
    metrics_path = os.path.join(metrics_dir, f"runbook_{schedule}.prom") if metrics_dir else None
    if not check_mode:
        for directory, what in ((report_dir, "report_dir"), (metrics_dir, "metrics_dir")):
            if directory:
                try:
                    os.makedirs(directory, exist_ok=True)
                except OSError as exc:
                    raise RunReportError(f"{what}: cannot create {directory}: {exc.strerror or exc}") from exc
        try:
            if run is not None:
                report["backup_series"] = update_backup_series(report_dir, report, _list(run.get("backup_failures")))
            write_atomic(json_path, json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")
            write_atomic(html_path, render_html(report, os.path.basename(json_path)))
            if metrics_path:
                write_atomic(metrics_path, render_metrics(report), 0o644)
        except OSError as exc:
            raise RunReportError(f"cannot write the run report: {exc}") from exc
    doomed = [p for p in plan_retention(report_dir, schedule, keep_last, stamp)
              if p not in (json_path, html_path) and p not in host_report_paths]
    if not check_mode:
        for p in doomed:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
    paths = {"json": json_path, "html": html_path, "metrics": metrics_path}
    return {
        "json_path": json_path,
        "html_path": html_path,
        "metrics_path": metrics_path,
        "url": "file://" + os.path.abspath(html_path),
        "status": report["status"],
        "deleted": doomed,
        "summary": summary(report, paths),
    }
