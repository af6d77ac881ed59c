# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a run report is made of, read from disk.

:func:`load_host_report` reads one per-host report that ``roles/report`` wrote
(``<schedule>-<host>-<stamp>.json``); :func:`backup_history` reads the backup manifests of a
host's backup directories with :func:`_backup.read_manifests` (the module ``backup_history``
runs it on the host that holds them).
"""

from __future__ import annotations

import json
import os
import typing as t

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
from ansible_collections.runbook.ops.plugins.module_utils._run_report_common import RunReportError, _dict, _int, _num, good_backup


HOST_REPORT_KEYS = ("schedule", "host", "stamp", "check_mode", "results")


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
        if good_backup(e):
            keep.add(id(e))
            break
    for e in entries:
        if id(e) not in keep:
            e["row_counts"] = None
