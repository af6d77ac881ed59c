# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every part of the run report shares: statuses, stamps, the error, lenient readers of host data.

Host data comes from modules and facts of any version, so the readers (:func:`_num`, :func:`_int`,
:func:`_dict`, :func:`_list`, :func:`_ts`) turn what does not fit into None or an empty value
instead of failing.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import typing as t

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B


STATUSES = ("ok", "warning", "critical")
STATUS_VALUE = {"ok": 0, "warning": 1, "critical": 2}
STAMP_RE = re.compile(r"^\d{8}T\d{6}Z$")


class RunReportError(Exception):
    """A failure already worded for the user (the module turns it into fail_json)."""


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


def good_backup(entry: dict) -> bool:
    """A backup entry of the history that is complete and passed its verification (a success to count on)."""
    return entry.get("verified") == B.VERIFY_PASSED and bool(entry.get("complete"))


def _ts(text: t.Any) -> _dt.datetime | None:
    try:
        return B.parse_time(str(text))
    except (ValueError, TypeError):
        return None
