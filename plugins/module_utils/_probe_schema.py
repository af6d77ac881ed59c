# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Health probes of runbook.ops: statuses, results and the schema of probe definitions.

A probe is a dict (``name``, ``kind`` and the kind's own fields). Every
definition is validated against the schema below before any probe runs, so a
typo fails the task naming the probe and the field instead of turning into a
"critical" at 3 a.m.

Thresholds: every kind measures named metrics (``latency_ms``, ``usage_pct``,
``days_left`` ...). Each metric is either *higher is worse* (critical when
``value >= crit``, warning when ``value >= warn``) or *lower is worse*
(critical when ``value <= crit``, warning when ``value <= warn``). A probe sets
them with ``thresholds: {metric: {warn: N, crit: N}}``; ``warn``/``crit`` at the
top level are shorthand for the kind's primary metric.
"""

from __future__ import annotations

import math
import re
import typing as t
import urllib.parse
from dataclasses import dataclass, field

OK = "ok"
WARNING = "warning"
CRITICAL = "critical"
STATUSES = (OK, WARNING, CRITICAL)
_RANK = {OK: 0, WARNING: 1, CRITICAL: 2}
FAIL_ON = ("critical", "warning", "never")


def worst(statuses: t.Iterable[str]) -> str:
    out = OK
    for s in statuses:
        if _RANK[s] > _RANK[out]:
            out = s
    return out


# ---------------------------------------------------------------------------
# errors and results
# ---------------------------------------------------------------------------
class ProbeDefinitionError(Exception):
    """One or more probe definitions are invalid; ``errors`` lists each problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


class ProbeFailure(Exception):
    """The checked thing is not healthy; the message says why (status critical unless given)."""

    def __init__(self, message: str, status: str = CRITICAL, details: dict | None = None,
                 metrics: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.details = details or {}
        self.metrics = metrics or {}


@dataclass
class Outcome:
    """What a check function measured; thresholds are applied by the runner."""

    message: str = ""
    metrics: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)
    status: str = OK  # a check may itself report a warning (e.g. container health "starting")


@dataclass
class ProbeResult:
    name: str
    kind: str
    status: str
    message: str
    value: t.Any = None
    unit: str | None = None
    latency_ms: float | None = None
    duration_ms: float | None = None
    attempts: int = 0
    metrics: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "message": self.message,
            "value": self.value,
            "unit": self.unit,
            "latency_ms": self.latency_ms,
            "duration_ms": self.duration_ms,
            "attempts": self.attempts,
            "metrics": self.metrics,
            "details": self.details,
        }


# ---------------------------------------------------------------------------
# schema
# ---------------------------------------------------------------------------
@dataclass
class Field:
    type: str  # str int float bool list_str list_int dict_str
    required: bool = False
    default: t.Any = None
    choices: tuple | None = None
    minimum: float | None = None
    secret: bool = False


@dataclass
class Metric:
    unit: str
    higher_is_worse: bool = True
    warn: float | None = None
    crit: float | None = None


@dataclass
class Kind:
    check: t.Callable[[dict, "Context"], Outcome]
    fields: dict
    metrics: dict
    primary: str | None = None
    validate: t.Callable[[dict], list[str]] | None = None
    # imports what the check needs (a client library), once, before any attempt forks
    prepare: t.Callable[[], t.Any] | None = None


# every kind, by name: filled by _probe.py from the family files
KINDS: dict[str, "Kind"] = {}

COMMON_FIELDS = {
    "name": Field("str", required=True),
    "kind": Field("str", required=True),
    "timeout": Field("float", default=10.0, minimum=0.001),
    "retries": Field("int", default=0, minimum=0),
    "delay": Field("float", default=1.0, minimum=0),
    "warn": Field("float"),
    "crit": Field("float"),
    "thresholds": Field("dict_any"),
}

_TRUE = ("yes", "true", "on", "1", "y")
_FALSE = ("no", "false", "off", "0", "n")


def _coerce(value: t.Any, f: Field) -> t.Any:
    """Value converted to the field's type, or ValueError with the problem."""
    typ = f.type
    if typ == "str":
        if isinstance(value, (dict, list)) or value is None:
            raise ValueError(f"must be a string, got {type(value).__name__}")
        value = str(value)
        if f.required and value == "":
            raise ValueError("must not be empty")
    elif typ in ("int", "float"):
        if isinstance(value, bool):
            raise ValueError(f"must be a number, got {value!r}")
        try:
            num = float(value) if typ == "float" else int(str(value), 10) if isinstance(value, str) else value
            if typ == "int" and not isinstance(num, int):
                if isinstance(num, float) and num.is_integer():
                    num = int(num)
                else:
                    raise ValueError
        except (TypeError, ValueError):
            raise ValueError(f"must be {'an integer' if typ == 'int' else 'a number'}, got {value!r}") from None
        if isinstance(num, float) and math.isnan(num):
            raise ValueError("must be a number, got NaN")
        value = num
    elif typ == "bool":
        if isinstance(value, bool):
            pass
        elif isinstance(value, str) and value.lower() in _TRUE + _FALSE:
            value = value.lower() in _TRUE
        else:
            raise ValueError(f"must be a boolean, got {value!r}")
    elif typ in ("list_str", "list_int"):
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list) or not value:
            raise ValueError("must be a non-empty list")
        sub = Field("str" if typ == "list_str" else "int", required=True)
        value = [_coerce(v, sub) for v in value]
    elif typ == "dict_str":
        if not isinstance(value, dict):
            raise ValueError(f"must be a dict, got {type(value).__name__}")
        value = {str(k): str(v) for k, v in value.items()}
    elif typ == "dict_any":
        if not isinstance(value, dict):
            raise ValueError(f"must be a dict, got {type(value).__name__}")
    if f.choices is not None and value not in f.choices:
        raise ValueError(f"must be one of {', '.join(map(str, f.choices))}, got {value!r}")
    if f.minimum is not None and isinstance(value, (int, float)) and value < f.minimum:
        raise ValueError(f"must be >= {f.minimum:g}, got {value!r}")
    return value


def _check_thresholds(probe: dict, kind: Kind) -> tuple[dict, list[str]]:
    """Resolved thresholds {metric: (warn, crit)} and the problems found (field names included)."""
    errors: list[str] = []
    resolved: dict[str, tuple] = {}
    given = dict(probe.get("thresholds") or {})
    if probe.get("warn") is not None or probe.get("crit") is not None:
        if kind.primary is None:
            errors.append(f"warn/crit: kind {probe['kind']!r} measures no number to compare")
        else:
            entry = dict(given.get(kind.primary) or {})
            for k in ("warn", "crit"):
                if probe.get(k) is not None:
                    if k in entry:
                        errors.append(f"{k}: given both at the top level and in thresholds.{kind.primary}")
                    entry[k] = probe[k]
            given[kind.primary] = entry
    for metric, spec in kind.metrics.items():
        resolved[metric] = (spec.warn, spec.crit)
    for metric, entry in given.items():
        where = f"thresholds.{metric}"
        if metric not in kind.metrics:
            known = ", ".join(sorted(kind.metrics)) or "none"
            errors.append(f"{where}: unknown metric for kind {probe['kind']!r} (known: {known})")
            continue
        if not isinstance(entry, dict):
            errors.append(f"{where}: must be a dict with warn and/or crit")
            continue
        warn, crit = resolved[metric]
        for k in entry:
            if k not in ("warn", "crit"):
                errors.append(f"{where}.{k}: unknown key (use warn, crit)")
        higher = kind.metrics[metric].higher_is_worse
        bad = False
        for k in ("warn", "crit"):
            if k in entry:
                if entry[k] is None:
                    val = None
                else:
                    try:
                        val = _coerce(entry[k], Field("float"))
                    except ValueError as exc:
                        errors.append(f"{where}.{k}: {exc}")
                        bad = True
                        continue
                if k == "warn":
                    warn = val
                else:
                    crit = val
        if bad:
            continue
        if warn is not None and crit is not None and (warn > crit if higher else warn < crit):
            # a default on the other side that conflicts with the value the user set is dropped
            if "warn" not in entry:
                warn = None
            elif "crit" not in entry:
                crit = None
        if warn is not None and crit is not None:
            if higher and warn > crit:
                errors.append(f"{where}: warn {warn:g} is above crit {crit:g} (higher {metric} is worse)")
            if not higher and warn < crit:
                errors.append(f"{where}: warn {warn:g} is below crit {crit:g} (lower {metric} is worse)")
        resolved[metric] = (warn, crit)
    return resolved, errors


def validate_probes(probes: t.Any) -> list[dict]:
    """Normalised copies of ``probes`` (defaults filled, ``_thresholds`` resolved).

    Raises ProbeDefinitionError listing every problem as
    ``probes[INDEX] (name 'NAME'): FIELD: PROBLEM``.
    """
    if not isinstance(probes, list) or not probes:
        raise ProbeDefinitionError(["probes: must be a non-empty list of probe definitions"])
    errors: list[str] = []
    out: list[dict] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(probes):
        if not isinstance(raw, dict):
            errors.append(f"probes[{index}]: must be a dict, got {type(raw).__name__}")
            continue
        name = raw.get("name")
        label = f"probes[{index}] (name {name!r})" if name not in (None, "") else f"probes[{index}]"
        problems: list[str] = []
        kind_name = raw.get("kind")
        if kind_name in (None, ""):
            problems.append("kind: required (one of " + ", ".join(sorted(KINDS)) + ")")
            kind = None
        elif kind_name not in KINDS:
            problems.append(f"kind: unknown kind {kind_name!r} (one of {', '.join(sorted(KINDS))})")
            kind = None
        else:
            kind = KINDS[kind_name]
        allowed = dict(COMMON_FIELDS)
        if kind is not None:
            allowed.update(kind.fields)
        clean: dict[str, t.Any] = {}
        for key in raw:
            if key not in allowed and kind is not None:
                problems.append(f"{key}: unknown field for kind {kind_name!r}")
        for key, f in allowed.items():
            if key not in raw or raw[key] is None:
                if f.required and not (key == "kind"):
                    problems.append(f"{key}: required" + (f" for kind {kind_name!r}" if key not in COMMON_FIELDS else ""))
                clean[key] = f.default
                continue
            try:
                clean[key] = _coerce(raw[key], f)
            except ValueError as exc:
                problems.append(f"{key}: {exc}")
        if isinstance(name, str) and name:
            if name in seen:
                problems.append(f"name: duplicate of probes[{seen[name]}]")
            else:
                seen[name] = index
        if kind is not None and not problems:
            clean["_thresholds"], th_errors = _check_thresholds(clean, kind)
            problems.extend(th_errors)
            if kind.validate is not None and not th_errors:
                problems.extend(kind.validate(clean))
        errors.extend(f"{label}: {p}" for p in problems)
        out.append(clean)
    if errors:
        raise ProbeDefinitionError(errors)
    return out


def secret_values(probes: t.Iterable[dict]) -> set[str]:
    """Values the module must censor (passwords, secret-looking headers, URLs' passwords)."""
    found: set[str] = set()
    for raw in probes:
        if not isinstance(raw, dict):
            continue
        kind = KINDS.get(raw.get("kind"))
        fields = kind.fields if kind else {}
        for key, value in raw.items():
            f = fields.get(key)
            if f is not None and f.secret and value:
                found.add(str(value))
            if key == "headers" and isinstance(value, dict):
                for hk, hv in value.items():
                    if re.search(r"auth|token|key|cookie|secret|pass", str(hk), re.I) and hv:
                        found.add(str(hv))
            if isinstance(value, str) and "://" in value:
                pw = urllib.parse.urlsplit(value).password if _url_ok(value) else None
                if pw:
                    found.add(pw)
                    found.add(urllib.parse.unquote(pw))
    return found


def _url_ok(value: str) -> bool:
    try:
        urllib.parse.urlsplit(value).port  # noqa: B018 - raises on a bad port
        return True
    except ValueError:
        return False


def _regex_error(field_name: str, pattern: str) -> list[str]:
    try:
        re.compile(pattern)
    except re.error as exc:
        return [f"{field_name}: invalid regular expression: {exc}"]
    return []


def _f(typ: str, **kw) -> Field:
    return Field(typ, **kw)


LATENCY = Metric("ms", True)
