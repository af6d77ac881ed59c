# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The data-loss check: each PostgreSQL backup of the run against the previous verified one."""

from __future__ import annotations

import os
import typing as t

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
from ansible_collections.runbook.ops.plugins.module_utils._run_report_common import _dict, _int, good_backup, human_bytes


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
                 and good_backup(e)]
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
