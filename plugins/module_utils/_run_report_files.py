# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The run report's files in the report directory: atomic writes, names, which runs to keep, the series state."""

from __future__ import annotations

import json
import os
import re
import tempfile
import typing as t

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
from ansible_collections.runbook.ops.plugins.module_utils._run_report_common import (
    RunReportError, _dict, _list, good_backup, parse_stamp,
)
from ansible_collections.runbook.ops.plugins.module_utils._run_report_redact import redact


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


def metrics_file(metrics_dir: str | None, schedule: str) -> str | None:
    """The schedule's Prometheus textfile in ``metrics_dir`` (None without a metrics directory)."""
    return os.path.join(metrics_dir, f"runbook_{schedule}.prom") if metrics_dir else None


def remove_files(paths: t.Iterable[str]) -> None:
    """Delete ``paths``; one already gone is fine (removed by hand or by a run in parallel)."""
    for p in paths:
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass


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


def plan_report_retention(report_dir: str, schedule: str, keep_last: int, new_stamp: str | None = None) -> list[str]:
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
        if good_backup(e):
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
