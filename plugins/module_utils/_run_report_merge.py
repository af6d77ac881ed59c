# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Merge what a run did into one run report (schema :data:`RUN_REPORT_FORMAT` version :data:`RUN_REPORT_VERSION`).

:func:`merge` takes the per-host reports (from :func:`_run_report_read.load_host_report`, or
built by the callback plugin from what it saw) and reads each step's result into the report's
sections: probes, vacuum, the PostgreSQL report, backups, restores, drills, retention, Redis,
off-site copies; every failure becomes a problem with a severity, and the data-loss check
(:func:`_run_report_dataloss.data_loss`) runs on the result.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import typing as t

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
from ansible_collections.runbook.ops.plugins.module_utils._pg_names import table_key
from ansible_collections.runbook.ops.plugins.module_utils._run_report_common import (
    STATUS_VALUE, STATUSES, _dict, _int, _list, _num, parse_stamp, worst,
)
from ansible_collections.runbook.ops.plugins.module_utils._run_report_dataloss import data_loss


RUN_REPORT_FORMAT = "runbook.ops/run-report"
RUN_REPORT_VERSION = 1


def _loop_items(value: t.Any) -> list[dict]:
    """The per-item results of a registered loop (skipped items left out)."""
    return [r for r in _list(value) if isinstance(r, dict) and not r.get("skipped")]


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
            # certificate probes: the expiry as Unix time (health_probe's details.not_after_timestamp)
            "cert_not_after": _num(_dict(probe.get("details")).get("not_after_timestamp")),
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


def _would_create(host: str, kind: str, name: str, path: str, size: int | None) -> dict:
    """A backup a check-mode run would make: no duration, checksum or verification yet."""
    return {"host": host, "kind": kind, "name": name, "path": path, "size": size, "duration_seconds": None,
            "sha256": None, "verified": "skipped", "verification_method": "", "verification_error": None,
            "would_create": True}


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
            out["backups"].append(_would_create(host, "postgres", str(w.get("name") or w.get("database") or ""),
                                                str(w.get("path", "")), _int(w.get("estimated_size") or w.get("size"))))
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
                              "source_database": str(drill.get("source_database") or ""),
                              "duration_seconds": _num(drill.get("duration_seconds")),
                              "finished_at": drill.get("finished_at") if not diffs else None,
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
            out["backups"].append(_would_create(host, "redis", str(backup.get("name") or "redis"),
                                                str(backup.get("would_create")), None))
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
    """The run report of ``host_reports`` (dicts from :func:`_run_report_read.load_host_report`).

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
        first_backup = len(out["backups"])  # this host's backups are the ones added from here on
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
        for b in out["backups"][first_backup:]:
            # e.g. redis_backup returns no duration: the manifest on disk has it
            if b["duration_seconds"] is None and os.path.basename(b["path"]) in by_id:
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
    out["data_loss"] = data_loss(out, **_dict(thresholds))
    hosts = {h["host"]: h for h in out["hosts"]}
    for w in out["data_loss"]:
        out["problems"].append({"host": w["host"], "where": f"data loss {w['database']}", "severity": "warning",
                                "message": w["message"]})
        if w["host"] in hosts:
            hosts[w["host"]]["status"] = worst(hosts[w["host"]]["status"], "warning")
    # the worst first: critical (failed, unreachable, then the others), warning, ok
    out["hosts"].sort(key=lambda h: (-STATUS_VALUE[h["status"]],
                                     OUTCOMES.index(h["outcome"]) if h["outcome"] in OUTCOMES else 9, h["host"]))
    out["status"] = worst(out["status"], *(h["status"] for h in out["hosts"]))
    out["problems"].sort(key=lambda p: -STATUS_VALUE.get(p["severity"], 0))
    out["pg_report"]["largest_tables"].sort(key=lambda r: -(r["total_bytes"] or 0))
    out["pg_report"]["unused_indexes"].sort(key=lambda r: -(r["size_bytes"] or 0))
    out["pg_report"]["slow_queries"].sort(key=lambda r: -(r["mean_ms"] or 0))
    out["pg_report"]["bloat"].sort(key=lambda r: -(r["dead_tuples"] or 0))
    out["backup_history"].sort(key=lambda e: (str(e.get("finished_at")), e["host"], str(e.get("name"))))
    return out
