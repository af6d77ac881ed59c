# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One report per run: merge what the run did, render HTML and Prometheus metrics, write the files.

The callback plugin ``runbook.ops.run_report`` calls :func:`build_run` at the end of a run with
what it saw of every host (outcome, failures, where the run stopped) and the step results of
the roles; without the callback, the module ``run_report`` calls :func:`build` with the
per-host reports ``roles/report`` wrote (``<schedule>-<host>-<stamp>.json``: ``schedule``,
``host``, ``stamp``, ``check_mode``, ``results`` and optionally ``backup_history``).

Where things are:

- ``_run_report_common.py``: statuses, stamps, :class:`RunReportError`, lenient readers of host data;
- ``_run_report_read.py``: reading per-host reports, and ``backup_history`` from the manifests;
- ``_run_report_redact.py``: secrets out of failure messages;
- ``_run_report_merge.py``: :func:`merge`, per host and per step, into one run report (a dict);
- ``_run_report_dataloss.py``: the data-loss check of new backups;
- ``_run_report_charts.py`` and ``_run_report_html.py``: the self-contained HTML page;
- ``_run_report_metrics.py``: Prometheus text-format metrics;
- ``_run_report_files.py``: atomic writes, file names, which runs to keep, the backup series state;
- ``_run_report_slices.py``: the slices of a sliced job in a shared store, merged into one report.

This file puts them together and gives the compact :func:`summary` (the module's return value
and the job's artifacts).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import typing as t

from ansible_collections.runbook.ops.plugins.module_utils._run_report_common import (
    STATUSES, RunReportError, _dict, _list, parse_stamp,
)
from ansible_collections.runbook.ops.plugins.module_utils._run_report_files import (
    metrics_file, plan_report_retention, remove_files, run_report_paths, update_backup_series, write_atomic,
)
from ansible_collections.runbook.ops.plugins.module_utils._run_report_html import render_html
from ansible_collections.runbook.ops.plugins.module_utils._run_report_merge import merge
from ansible_collections.runbook.ops.plugins.module_utils._run_report_metrics import render_metrics
from ansible_collections.runbook.ops.plugins.module_utils._run_report_read import load_host_report
from ansible_collections.runbook.ops.plugins.module_utils import _run_report_slices as S


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


def check_name(schedule: str) -> None:
    """The report's name goes into file names: a simple name only."""
    if not re.match(r"^[A-Za-z0-9_.-]+$", schedule or ""):
        raise RunReportError(f"name: {schedule!r} must be a simple name (letters, digits, '.', '_', '-')")


def write_files(report: dict, json_path: str, html_path: str, metrics_path: str | None) -> None:
    """The run report as JSON and HTML, and as metrics when there is a metrics path."""
    # compact: json's C encoder (indent falls back to the pure-Python one, several times slower at fleet size)
    write_atomic(json_path, json.dumps(report, sort_keys=True, default=str, separators=(",", ":")) + "\n")
    write_atomic(html_path, render_html(report, os.path.basename(json_path)))
    if metrics_path:
        write_atomic(metrics_path, render_metrics(report), 0o644)


def build_run(report_dir: str, schedule: str, stamp: str, host_reports: t.Sequence[dict], run: dict,
              metrics_dir: str | None = None, keep_last: int = 0, thresholds: dict | None = None,
              now: _dt.datetime | None = None) -> dict:
    """What the callback plugin calls at the end of a run: merge, render, write, keep the last runs.

    ``run`` is described in :func:`_run_report_merge.merge`; ``run["backup_failures"]`` feeds
    :func:`_run_report_files.update_backup_series`.
    """
    check_name(schedule)
    report = merge(host_reports, schedule, stamp, now, run, thresholds)
    json_path, html_path = run_report_paths(report_dir, schedule, stamp)
    metrics_path = metrics_file(metrics_dir, schedule)
    for directory in (report_dir, metrics_dir):
        if directory:
            os.makedirs(directory, exist_ok=True)
    report["backup_series"] = update_backup_series(report_dir, report, _list(run.get("backup_failures")))
    write_files(report, json_path, html_path, metrics_path)
    deleted = [p for p in plan_report_retention(report_dir, schedule, keep_last, stamp) if p not in (json_path, html_path)]
    remove_files(deleted)
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
    check_name(schedule)
    parse_stamp(stamp)
    if keep_last < 0:
        raise RunReportError(f"keep_last: must be 0 (keep all) or positive, got {keep_last}")
    reports = [load_host_report(p) for p in host_report_paths]
    report = merge(reports, schedule, stamp, now, run)
    json_path, html_path = run_report_paths(report_dir, schedule, stamp)
    metrics_path = metrics_file(metrics_dir, schedule)
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
            write_files(report, json_path, html_path, metrics_path)
        except OSError as exc:
            raise RunReportError(f"cannot write the run report: {exc}") from exc
    doomed = [p for p in plan_report_retention(report_dir, schedule, keep_last, stamp)
              if p not in (json_path, html_path) and p not in host_report_paths]
    if not check_mode:
        remove_files(doomed)
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


def build_slices(store: str, name: str, job: str, slice_count: int, expected_hosts: t.Sequence[str],
                 report_dir: str | None = None, metrics_dir: str | None = None, thresholds: dict | None = None,
                 check_mode: bool = False, now: _dt.datetime | None = None) -> dict:
    """Merge the slice reports of one sliced job into one run report, written beside them (or in ``report_dir``).

    The stamp is the earliest slice's, so a second merge (the last slice, then the workflow's merge
    step) rewrites the same files. Returns what :func:`build_run` returns, plus ``slices``.
    """
    check_name(name)
    directory = S.job_dir(store, name, job or S.latest_job(store, name))
    slices = S.read_slices(directory)
    fallback = (now or _dt.datetime.now(_dt.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    stamp = S.first_stamp(slices, fallback)
    report = S.merge_slices(slices, expected_hosts, slice_count, name, stamp, now, thresholds)
    out_dir = report_dir or directory
    json_path, html_path = run_report_paths(out_dir, name, stamp)
    metrics_path = metrics_file(metrics_dir, name)
    if not check_mode:
        try:
            for d in (out_dir, metrics_dir):
                if d:
                    os.makedirs(d, exist_ok=True)
            write_files(report, json_path, html_path, metrics_path)
        except OSError as exc:
            raise RunReportError(f"cannot write the merged run report: {exc}") from exc
    paths = {"json": json_path, "html": html_path, "metrics": metrics_path, "deleted": []}
    return {"json_path": json_path, "html_path": html_path, "metrics_path": metrics_path,
            "url": "file://" + os.path.abspath(html_path), "status": report["status"],
            "slices": report["slices"], "summary": summary(report, paths)}
