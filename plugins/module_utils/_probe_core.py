# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Health probes of runbook.ops, the core: definitions, thresholds, results and the runner.

A probe is a dict (``name``, ``kind`` and the kind's own fields). Every
definition is validated against the schema below before any probe runs, so a
typo fails the task naming the probe and the field instead of turning into a
"critical" at 3 a.m. Each :class:`ProbeResult` says ``ok | warning | critical``
with the measured value, a short message, its latency and the number of attempts.

The kinds live in one file per family, each over this core:
``_probe_network.py`` (http, websocket, tcp, certificate), ``_probe_data.py``
(postgres, redis, celery) and ``_probe_host.py`` (systemd, container, disk,
memory, load, pm2, command); ``_probe.py`` puts them together.

Time: every attempt of a probe runs under one :class:`~._deadline.Deadline` of
its ``timeout`` (plus ``settle_seconds`` for systemd) that covers connect, TLS
handshake, every read and the whole exchange. Checks use it for every step
(``ctx.deadline``); and each attempt runs in a child process of its own process
group that :func:`run_probes` kills at the deadline plus ``GRACE``, so that a
peer which drips a byte before each read, or a library that ignores its
timeout, never holds the module, and no thread, socket or child process
outlives it. Such a probe is critical: ``no complete answer within 2 s (deadline)``.

Thresholds: every kind measures named metrics (``latency_ms``, ``usage_pct``,
``days_left`` ...). Each metric is either *higher is worse* (critical when
``value >= crit``, warning when ``value >= warn``) or *lower is worse*
(critical when ``value <= crit``, warning when ``value <= warn``). A probe sets
them with ``thresholds: {metric: {warn: N, crit: N}}``; ``warn``/``crit`` at the
top level are shorthand for the kind's primary metric.
"""

from __future__ import annotations

import math
import os
import pickle
import re
import select
import signal
import socket
import ssl
import subprocess
import time
import traceback
import typing as t
import urllib.parse
from dataclasses import dataclass, field

from ansible_collections.runbook.ops.plugins.module_utils._deadline import (
    GRACE, Deadline, DeadlineExceeded, deadline_message,
)

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


# ---------------------------------------------------------------------------
# running probes
# ---------------------------------------------------------------------------
class Context:
    """What checks may use besides their definition: the attempt's deadline and bounded subprocesses."""

    def __init__(self, check_mode: bool = False, which: t.Callable[[str], str | None] | None = None) -> None:
        self.check_mode = check_mode
        self._which = which
        self.deadline: Deadline = Deadline(3600.0)  # replaced by each attempt's own deadline

    def which(self, name: str) -> str | None:
        if self._which is not None:
            return self._which(name)
        import shutil

        return shutil.which(name)

    def run(self, argv: list[str], timeout: float, data: bytes | None = None,
            env: dict | None = None) -> tuple[int, str, str]:
        """Run ``argv`` (never a shell), killed after ``timeout`` seconds or at the deadline (ProbeFailure)."""
        full_env = None
        if env:
            full_env = dict(os.environ)
            full_env.update(env)
        limit = min(timeout, self.deadline.remaining())
        try:
            proc = subprocess.run(argv, input=data, capture_output=True, timeout=max(limit, 0.001), env=full_env,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise ProbeFailure(deadline_message(self.deadline.seconds, f"{argv[0]} did not finish")) from None
        except OSError as exc:
            raise ProbeFailure(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
        return (proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))


def _fmt(v: t.Any) -> str:
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) < 1e6 else f"{v:.0f}"
    return str(v)


def evaluate(probe: dict, kind: Kind, outcome: Outcome) -> tuple[str, str, dict]:
    """Status, message and per-metric report of one outcome against the probe's thresholds."""
    thresholds = probe["_thresholds"]
    statuses = [outcome.status]
    notes: list[str] = []
    report: dict[str, dict] = {}
    for metric, value in outcome.metrics.items():
        spec = kind.metrics.get(metric)
        if spec is None:
            continue
        warn, crit = thresholds.get(metric, (None, None))
        status = OK
        if value is not None:
            if spec.higher_is_worse:
                if crit is not None and value >= crit:
                    status = CRITICAL
                elif warn is not None and value >= warn:
                    status = WARNING
            else:
                if crit is not None and value <= crit:
                    status = CRITICAL
                elif warn is not None and value <= warn:
                    status = WARNING
        report[metric] = {"value": value, "unit": spec.unit, "warn": warn, "crit": crit, "status": status}
        if status != OK:
            op = ">=" if spec.higher_is_worse else "<="
            limit = crit if status == CRITICAL else warn
            notes.append(f"{metric} {_fmt(value)}{spec.unit} {op} {status[:4]} {limit:g}{spec.unit}")
        statuses.append(status)
    message = outcome.message
    if notes:
        message = (message + "; " if message else "") + ", ".join(notes)
    return worst(statuses), message, report


def attempt_budget(probe: dict) -> float:
    """Seconds one attempt may take: its ``timeout`` (plus ``settle_seconds`` of a systemd probe)."""
    return float(probe["timeout"]) + float(probe.get("settle_seconds") or 0)


def probe_budget(probe: dict) -> float:
    """Longest time a probe may take with its retries (settle time included), GRACE per attempt included."""
    tries = probe["retries"] + 1
    return (attempt_budget(probe) + GRACE) * tries + probe["delay"] * probe["retries"]


@dataclass
class Attempt:
    """What one attempt of a probe found."""

    status: str
    message: str
    metrics_report: dict
    details: dict
    latency_ms: float


def _alarm(signum, frame) -> t.NoReturn:
    raise DeadlineExceeded(_ALARM_BUDGET[0], "did not finish (timed out)")


_ALARM_BUDGET = [0.0]


def attempt(probe: dict, ctx: Context, hard: bool = False) -> Attempt:
    """One attempt of ``probe``, in this process, under a deadline of its attempt budget.

    ``hard`` (only in an attempt's own child process, see run_probes): a SIGALRM
    at the deadline interrupts whatever the check is blocked in, library code included.
    """
    kind = KINDS[probe["kind"]]
    budget = attempt_budget(probe)
    ctx.deadline = Deadline(budget)
    t0 = time.monotonic()
    metrics_report: dict = {}
    details: dict = {}
    try:
        try:
            if hard:
                _ALARM_BUDGET[0] = budget
                signal.signal(signal.SIGALRM, _alarm)
                signal.setitimer(signal.ITIMER_REAL, budget + 0.1)  # the check's own deadline message first
            outcome = kind.check(probe, ctx)
        finally:
            if hard:
                signal.setitimer(signal.ITIMER_REAL, 0)
        status, message, metrics_report = evaluate(probe, kind, outcome)
        details = outcome.details
    except ProbeFailure as exc:
        message = str(exc)
        if ctx.deadline.expired and "(deadline)" not in message:  # it failed because time ran out: say so
            message = deadline_message(budget, message)
        outcome = Outcome(message=message, metrics=exc.metrics, details=exc.details, status=exc.status)
        status, message, metrics_report = evaluate(probe, kind, outcome)
        status = worst([status, exc.status])
        details = exc.details
    except DeadlineExceeded as exc:
        status, message = CRITICAL, str(exc)
    except Exception as exc:  # a bug or an unexpected library error: critical, with its type
        status = CRITICAL
        message = f"{type(exc).__name__}: {exc}"
        if ctx.deadline.expired and "(deadline)" not in message:
            message = deadline_message(budget, message)
        details = {"exception": traceback.format_exc()}
    return Attempt(status, message, metrics_report, details, round((time.monotonic() - t0) * 1000, 1))


def _result(probe: dict, last: Attempt, attempts: int, started: float) -> ProbeResult:
    kind = KINDS[probe["kind"]]
    report = last.metrics_report
    latency_ms = last.latency_ms
    if "latency_ms" in report and report["latency_ms"]["value"] is not None:
        latency_ms = report["latency_ms"]["value"]
    value = unit = None
    if kind.primary and kind.primary in report:
        value = report[kind.primary]["value"]
        unit = report[kind.primary]["unit"]
    return ProbeResult(
        name=probe["name"], kind=probe["kind"], status=last.status, message=last.message, value=value, unit=unit,
        latency_ms=latency_ms, duration_ms=round((time.monotonic() - started) * 1000, 1), attempts=attempts,
        metrics=report, details=last.details,
    )


def run_probe(probe: dict, ctx: Context) -> ProbeResult:
    """One probe with its retries (retried while critical), in this process.

    Cooperative only: the checks honour ``ctx.deadline`` but nothing kills a
    library call that ignores it. The module uses :func:`run_probes`.
    """
    started = time.monotonic()
    attempts = 0
    while True:
        attempts += 1
        last = attempt(probe, ctx)
        if last.status != CRITICAL or attempts > probe["retries"]:
            return _result(probe, last, attempts, started)
        time.sleep(probe["delay"])


def _missed(probe: dict, elapsed_ms: float) -> Attempt:
    return Attempt(CRITICAL, deadline_message(attempt_budget(probe), "did not finish (timed out)"), {}, {},
                   elapsed_ms)


def _child(probe: dict, ctx: Context, wfd: int, siblings: t.Iterable[int]) -> t.NoReturn:
    """Body of an attempt's child process: run it, send the Attempt through ``wfd``, exit."""
    code = 1
    try:
        os.setpgid(0, 0)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # the module's stdout carries its JSON result: nothing else may write there
            os.dup2(null, fd)
        for fd in siblings:  # the other attempts' pipes are the parent's business
            os.close(fd)
        res = attempt(probe, ctx, hard=True)
        try:
            data = pickle.dumps(res)
        except Exception:  # a value that does not pickle: keep the verdict, stringify the rest
            res.details = {k: str(v) for k, v in (res.details or {}).items()}
            data = pickle.dumps(res)
        view = memoryview(len(data).to_bytes(8, "big") + data)  # length first: complete without waiting for EOF
        while view:
            view = view[os.write(wfd, view):]
        code = 0
    finally:
        os._exit(code)  # never return into the parent's code (atexit, Ansible's cleanup)


def _kill_group(pid: int) -> None:
    """SIGKILL to the attempt's process group (the attempt and whatever it started), and to the attempt."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class _Running:
    __slots__ = ("index", "pid", "rfd", "buf", "started", "expires")

    def __init__(self, index: int, pid: int, rfd: int, started: float, expires: float) -> None:
        self.index, self.pid, self.rfd = index, pid, rfd
        self.buf = bytearray()
        self.started, self.expires = started, expires


def run_probes(probes: list[dict], max_workers: int = 8, ctx: Context | None = None) -> list[ProbeResult]:
    """Validated probes, at most ``max_workers`` attempts at a time; results in definition order.

    Each attempt runs in a child process (its own process group) under the
    probe's deadline. A child that has not answered by the deadline plus
    ``GRACE`` is killed with its whole group and the attempt is critical
    (``no complete answer within N s (deadline)``); every child is reaped and
    its group killed before this returns, so nothing outlives the module.
    """
    ctx = ctx or Context()
    workers = max(1, min(max_workers, len(probes)))
    now = time.monotonic()
    queue: list[tuple[float, int]] = [(now, i) for i in range(len(probes))]  # (not before, probe index)
    tries = [0] * len(probes)
    started = [0.0] * len(probes)
    final: dict[int, ProbeResult] = {}
    running: dict[int, _Running] = {}  # by read fd
    try:
        while queue or running:
            now = time.monotonic()
            ready = [q for q in queue if q[0] <= now]
            while ready and len(running) < workers:
                item = ready.pop(0)
                queue.remove(item)
                i = item[1]
                if tries[i] == 0:
                    started[i] = now
                tries[i] += 1
                rfd, wfd = os.pipe()
                pid = os.fork()
                if pid == 0:  # pragma: no cover - the child never returns
                    os.close(rfd)
                    _child(probes[i], ctx, wfd, list(running))
                try:
                    os.setpgid(pid, pid)  # also done by the child: whichever runs first
                except OSError:
                    pass
                os.close(wfd)
                running[rfd] = _Running(i, pid, rfd, now, now + attempt_budget(probes[i]) + GRACE)
            waits = [r.expires for r in running.values()] + [q[0] for q in queue]
            timeout = max(0.0, min(waits) - time.monotonic()) if waits else None
            readable = select.select(list(running), [], [], timeout)[0] if running else []
            if not running and timeout:
                time.sleep(timeout)
            now = time.monotonic()
            done: list[tuple[_Running, Attempt]] = []
            for rfd in readable:
                run = running[rfd]
                chunk = os.read(rfd, 65536)
                run.buf += chunk
                size = int.from_bytes(run.buf[:8], "big") if len(run.buf) >= 8 else -1
                complete = size >= 0 and len(run.buf) >= 8 + size
                if chunk and not complete:
                    continue  # more to come (a process the attempt started may hold the pipe open: no EOF wait)
                try:
                    res = pickle.loads(bytes(run.buf[8:8 + size])) if complete else None  # nosec B301 - our child's
                except Exception:
                    res = None
                if not isinstance(res, Attempt):
                    res = Attempt(CRITICAL, "the probe's process ended without a result", {}, {},
                                  round((now - run.started) * 1000, 1))
                done.append((run, res))
            for run in list(running.values()):
                if run.expires <= now and all(d[0] is not run for d in done):
                    done.append((run, _missed(probes[run.index], round((now - run.started) * 1000, 1))))
            for run, res in done:
                del running[run.rfd]
                os.close(run.rfd)
                _kill_group(run.pid)  # the attempt, and anything it started that is still there
                os.waitpid(run.pid, 0)
                i = run.index
                probe = probes[i]
                if res.status == CRITICAL and tries[i] <= probe["retries"]:
                    queue.append((time.monotonic() + probe["delay"], i))
                else:
                    final[i] = _result(probe, res, tries[i], started[i])
    finally:
        for run in running.values():  # only on an exception in this loop: leave nothing behind
            _kill_group(run.pid)
            try:
                os.close(run.rfd)
                os.waitpid(run.pid, 0)
            except OSError:
                pass
    return [final[i] for i in range(len(probes))]


def summarize(results: list[ProbeResult]) -> dict:
    summary: dict[str, t.Any] = {s: 0 for s in STATUSES}
    for r in results:
        summary[r.status] += 1
    summary["total"] = len(results)
    summary["status"] = worst(r.status for r in results) if results else OK
    summary["critical_probes"] = [r.name for r in results if r.status == CRITICAL]
    summary["warning_probes"] = [r.name for r in results if r.status == WARNING]
    return summary


def should_fail(summary: dict, fail_on: str) -> bool:
    if fail_on == "never":
        return False
    if fail_on == "warning":
        return summary["status"] in (WARNING, CRITICAL)
    return summary["status"] == CRITICAL


def failure_message(results: list[ProbeResult], fail_on: str) -> str:
    bad = [r for r in results if r.status == CRITICAL or (fail_on == "warning" and r.status == WARNING)]
    parts = [f"{r.name} {r.status}: {r.message}" for r in bad]
    return f"{len(bad)} of {len(results)} probes at or above {fail_on}: " + "; ".join(parts)


# ---------------------------------------------------------------------------


def _ms_since(t0: float) -> float:
    return round((time.monotonic() - t0) * 1000, 1)


def _describe_os_error(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {exc.verify_message or exc}"
    if isinstance(exc, socket.timeout) or isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host: {exc.strerror or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _within(p: dict) -> str:
    return f"within {p['timeout']:g}s"


def _regex_error(field_name: str, pattern: str) -> list[str]:
    try:
        re.compile(pattern)
    except re.error as exc:
        return [f"{field_name}: invalid regular expression: {exc}"]
    return []


LATENCY = Metric("ms", True)


class _ParamsModule:
    """The slice of AnsibleModule that PostgresClient uses, built from one probe."""

    def __init__(self, params: dict) -> None:
        self.params = params

    def fail_json(self, msg: str, **kwargs) -> t.NoReturn:
        raise ProbeFailure(msg)


def _f(typ: str, **kw) -> Field:
    return Field(typ, **kw)
