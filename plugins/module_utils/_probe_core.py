# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Health probes of runbook.ops, the core: the runner and its deadline.

The model (statuses, results, the schema of probe definitions and thresholds)
is in ``_probe_schema.py``; the kinds live in one file per family over this
core: ``_probe_network.py`` (http, websocket, tcp, certificate),
``_probe_data.py`` (postgres, redis, celery) and ``_probe_host.py`` (systemd,
container, disk, memory, load, pm2, command); ``_probe.py`` puts them together.

Time: every attempt of a probe runs under one :class:`~._deadline.Deadline` of
its ``timeout`` (plus ``settle_seconds`` for systemd) that covers connect, TLS
handshake, every read and the whole exchange. Checks use it for every step
(``ctx.deadline``); and each attempt runs in a child process of its own process
group that :func:`run_probes` kills at the deadline plus ``GRACE``, so that a
peer which drips a byte before each read, or a library that ignores its
timeout, never holds the module, and no thread, socket or child process
outlives it. Such a probe is critical: ``no complete answer within 2 s (deadline)``.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import socket
import ssl
import subprocess
import time
import traceback
import typing as t
from dataclasses import dataclass

from ansible_collections.runbook.ops.plugins.module_utils._deadline import (
    GRACE, Deadline, DeadlineExceeded, deadline_message,
)
from ansible_collections.runbook.ops.plugins.module_utils._probe_schema import (
    CRITICAL, KINDS, OK, STATUSES, WARNING, Kind, Outcome, ProbeFailure, ProbeResult, worst,
)


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
    for kind in sorted({p["kind"] for p in probes}):
        if KINDS[kind].prepare is not None:
            KINDS[kind].prepare()
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


class _ParamsModule:
    """The slice of AnsibleModule that PostgresClient uses, built from one probe."""

    def __init__(self, params: dict) -> None:
        self.params = params

    def fail_json(self, msg: str, **kwargs) -> t.NoReturn:
        raise ProbeFailure(msg)
