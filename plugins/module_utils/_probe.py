# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Health probes of runbook.ops: definitions, checks, thresholds, concurrency.

A probe is a dict (``name``, ``kind`` and the kind's own fields). Every
definition is validated against the schema below before any probe runs, so a
typo fails the task naming the probe and the field instead of turning into a
"critical" at 3 a.m. Probes then run on a bounded thread pool; each returns a
:class:`ProbeResult` with ``ok | warning | critical``, the measured value, a
short message, its latency and the number of attempts.

Thresholds: every kind measures named metrics (``latency_ms``, ``usage_pct``,
``days_left`` ...). Each metric is either *higher is worse* (critical when
``value >= crit``, warning when ``value >= warn``) or *lower is worse*
(critical when ``value <= crit``, warning when ``value <= warn``). A probe sets
them with ``thresholds: {metric: {warn: N, crit: N}}``; ``warn``/``crit`` at the
top level are shorthand for the kind's primary metric.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
import socket
import ssl
import subprocess
import time
import traceback
import typing as t
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field

JMESPATH_IMP_ERR = None
try:
    import jmespath

    HAS_JMESPATH = True
except ImportError:  # pragma: no cover - depends on the managed host
    jmespath = None
    HAS_JMESPATH = False
    JMESPATH_IMP_ERR = traceback.format_exc()

CRYPTOGRAPHY_IMP_ERR = None
try:
    from cryptography import x509

    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - depends on the managed host
    x509 = None
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMP_ERR = traceback.format_exc()

CELERY_IMP_ERR = None
try:
    import celery

    HAS_CELERY = True
except ImportError:  # pragma: no cover - depends on the managed host
    celery = None
    HAS_CELERY = False
    CELERY_IMP_ERR = traceback.format_exc()

OK = "ok"
WARNING = "warning"
CRITICAL = "critical"
STATUSES = (OK, WARNING, CRITICAL)
_RANK = {OK: 0, WARNING: 1, CRITICAL: 2}
FAIL_ON = ("critical", "warning", "never")

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC11B85"
MAX_BODY = 1024 * 1024


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
    """What checks may use besides their definition: subprocesses with timeouts."""

    def __init__(self, check_mode: bool = False, which: t.Callable[[str], str | None] | None = None) -> None:
        self.check_mode = check_mode
        self._which = which

    def which(self, name: str) -> str | None:
        if self._which is not None:
            return self._which(name)
        import shutil

        return shutil.which(name)

    def run(self, argv: list[str], timeout: float, data: bytes | None = None,
            env: dict | None = None) -> tuple[int, str, str]:
        """Run ``argv`` (never a shell), killed after ``timeout`` seconds (ProbeFailure)."""
        full_env = None
        if env:
            full_env = dict(os.environ)
            full_env.update(env)
        try:
            proc = subprocess.run(argv, input=data, capture_output=True, timeout=timeout, env=full_env, check=False)
        except subprocess.TimeoutExpired:
            raise ProbeFailure(f"{argv[0]} did not finish within {timeout:g}s") from None
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


def run_probe(probe: dict, ctx: Context) -> ProbeResult:
    """One probe with its retries (retried while critical)."""
    kind = KINDS[probe["kind"]]
    started = time.monotonic()
    attempts = 0
    while True:
        attempts += 1
        t0 = time.monotonic()
        metrics_report: dict = {}
        details: dict = {}
        try:
            outcome = kind.check(probe, ctx)
            status, message, metrics_report = evaluate(probe, kind, outcome)
            details = outcome.details
        except ProbeFailure as exc:
            outcome = Outcome(message=str(exc), metrics=exc.metrics, details=exc.details, status=exc.status)
            status, message, metrics_report = evaluate(probe, kind, outcome)
            status = worst([status, exc.status])
            details = exc.details
        except Exception as exc:  # a bug or an unexpected library error: critical, with its type
            status = CRITICAL
            message = f"{type(exc).__name__}: {exc}"
            details = {"exception": traceback.format_exc()}
        latency_ms = round((time.monotonic() - t0) * 1000, 1)
        if status != CRITICAL or attempts > probe["retries"]:
            break
        time.sleep(probe["delay"])
    if "latency_ms" in metrics_report and metrics_report["latency_ms"]["value"] is not None:
        latency_ms = metrics_report["latency_ms"]["value"]
    value = unit = None
    if kind.primary and kind.primary in metrics_report:
        value = metrics_report[kind.primary]["value"]
        unit = metrics_report[kind.primary]["unit"]
    return ProbeResult(
        name=probe["name"], kind=probe["kind"], status=status, message=message, value=value, unit=unit,
        latency_ms=latency_ms, duration_ms=round((time.monotonic() - started) * 1000, 1), attempts=attempts,
        metrics=metrics_report, details=details,
    )


def probe_budget(probe: dict) -> float:
    """Longest time a probe may take with its retries (settle time included)."""
    per_try = probe["timeout"] + float(probe.get("settle_seconds") or 0)
    return per_try * (probe["retries"] + 1) + probe["delay"] * probe["retries"]


def run_probes(probes: list[dict], max_workers: int = 8, ctx: Context | None = None) -> list[ProbeResult]:
    """Validated probes run on at most ``max_workers`` threads; results in definition order."""
    ctx = ctx or Context()
    workers = max(1, min(max_workers, len(probes)))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe")
    try:
        futures = [pool.submit(run_probe, p, ctx) for p in probes]
        # a probe that ignores its own timeout must not hold the verdict forever
        rounds = -(-len(probes) // workers)
        budget = max(probe_budget(p) for p in probes) * rounds + 5
        wait(futures, timeout=budget)
        results = []
        for probe, fut in zip(probes, futures):
            if fut.done():
                results.append(fut.result())
            else:
                fut.cancel()
                results.append(ProbeResult(
                    name=probe["name"], kind=probe["kind"], status=CRITICAL,
                    message=f"did not finish within {budget:g}s", attempts=0,
                ))
        return results
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


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
# helpers shared by checks
# ---------------------------------------------------------------------------
def _ms_since(t0: float) -> float:
    return round((time.monotonic() - t0) * 1000, 1)


def _ssl_context(p: dict, verify: bool) -> ssl.SSLContext:
    if verify:
        ctx = ssl.create_default_context(cafile=p.get("ca_path") or None)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if p.get("client_cert"):
        try:
            ctx.load_cert_chain(p["client_cert"], p.get("client_key") or None)
        except (OSError, ssl.SSLError) as exc:
            raise ProbeFailure(f"cannot load client_cert/client_key: {exc}") from None
    return ctx


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


# ---------------------------------------------------------------------------
# http
# ---------------------------------------------------------------------------
class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D401 - urllib API
        return None


def check_http(p: dict, ctx: Context) -> Outcome:
    url = p["url"]
    handlers: list = [urllib.request.ProxyHandler({})] if not p["use_proxy"] else []
    if url.lower().startswith("https://"):
        handlers.append(urllib.request.HTTPSHandler(context=_ssl_context(p, p["validate_certs"])))
    if not p["follow_redirects"]:
        handlers.append(_NoRedirect())
    opener = urllib.request.build_opener(*handlers)
    data = p["body"].encode("utf-8") if p.get("body") is not None else None
    req = urllib.request.Request(url, data=data, method=p["method"], headers=p.get("headers") or {})
    t0 = time.monotonic()
    try:
        resp = opener.open(req, timeout=p["timeout"])
    except urllib.error.HTTPError as exc:
        resp = exc  # an HTTP answer all the same: its status is judged below
    except urllib.error.URLError as exc:
        raise ProbeFailure(f"{p['method']} {url}: {_describe_os_error(exc.reason) if isinstance(exc.reason, BaseException) else exc.reason}",
                           metrics={"latency_ms": None}) from None
    except (OSError, ValueError, http_client_errors()) as exc:
        raise ProbeFailure(f"{p['method']} {url}: {_describe_os_error(exc)}") from None
    try:
        status = resp.status if hasattr(resp, "status") and resp.status else resp.code
        try:
            raw = resp.read(MAX_BODY)
        except (OSError, http_client_errors()) as exc:
            raise ProbeFailure(f"{p['method']} {url}: reading the body failed: {_describe_os_error(exc)}") from None
    finally:
        resp.close()
    latency = _ms_since(t0)
    details = {"status_code": status, "url": resp.geturl() if hasattr(resp, "geturl") else url}
    metrics = {"latency_ms": latency}
    if status not in p["status_code"]:
        raise ProbeFailure(f"HTTP {status}, expected {', '.join(map(str, p['status_code']))}",
                           details=details, metrics=metrics)
    text = raw.decode("utf-8", "replace")
    if p.get("body_regex") and not re.search(p["body_regex"], text):
        raise ProbeFailure(f"HTTP {status} but the body does not match body_regex {p['body_regex']!r}",
                           details=details, metrics=metrics)
    if p.get("json_query"):
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise ProbeFailure(f"HTTP {status} but the body is not JSON ({exc})", details=details, metrics=metrics) from None
        found = jmespath.search(p["json_query"], doc)
        details["json_query_result"] = found
        if "json_equals" in p and p.get("json_equals") is not None:
            if found != p["json_equals"]:
                raise ProbeFailure(f"json_query {p['json_query']!r} gave {found!r}, expected {p['json_equals']!r}",
                                   details=details, metrics=metrics)
        elif not found:
            raise ProbeFailure(f"json_query {p['json_query']!r} gave {found!r} (not true)", details=details, metrics=metrics)
    return Outcome(message=f"HTTP {status} in {latency:.0f} ms", metrics=metrics, details=details)


def http_client_errors():
    import http.client

    return http.client.HTTPException


def _validate_http(p: dict) -> list[str]:
    errs = []
    parts = urllib.parse.urlsplit(p["url"])
    if parts.scheme not in ("http", "https") or not parts.netloc:
        errs.append(f"url: must be an http:// or https:// URL, got {p['url']!r}")
    if p.get("body_regex"):
        errs.extend(_regex_error("body_regex", p["body_regex"]))
    if p.get("json_query"):
        if not HAS_JMESPATH:
            errs.append("json_query: the jmespath Python library is not installed on the managed host")
        else:
            try:
                jmespath.compile(p["json_query"])
            except Exception as exc:  # jmespath raises its own ParseError family
                errs.append(f"json_query: invalid jmespath expression: {exc}")
    if p.get("client_key") and not p.get("client_cert"):
        errs.append("client_key: requires client_cert")
    bad = [c for c in p["status_code"] if not 100 <= c <= 599]
    if bad:
        errs.append(f"status_code: {bad[0]} is not an HTTP status")
    return errs


def _regex_error(field_name: str, pattern: str) -> list[str]:
    try:
        re.compile(pattern)
    except re.error as exc:
        return [f"{field_name}: invalid regular expression: {exc}"]
    return []


TLS_FIELDS = {
    "validate_certs": Field("bool", default=True),
    "ca_path": Field("str"),
    "client_cert": Field("str"),
    "client_key": Field("str"),
}

LATENCY = Metric("ms", True)


# ---------------------------------------------------------------------------
# websocket / tcp
# ---------------------------------------------------------------------------
def _connect(host: str, port: int, timeout: float) -> socket.socket:
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise ProbeFailure(f"connect to {host}:{port}: {_describe_os_error(exc)}") from None


def check_tcp(p: dict, ctx: Context) -> Outcome:
    t0 = time.monotonic()
    s = _connect(p["host"], p["port"], p["timeout"])
    s.close()
    latency = _ms_since(t0)
    return Outcome(message=f"connected to {p['host']}:{p['port']} in {latency:.0f} ms", metrics={"latency_ms": latency})


def check_websocket(p: dict, ctx: Context) -> Outcome:
    parts = urllib.parse.urlsplit(p["url"])
    secure = parts.scheme == "wss"
    host = parts.hostname
    port = parts.port or (443 if secure else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    t0 = time.monotonic()
    sock = _connect(host, port, p["timeout"])
    try:
        if secure:
            try:
                sock = _ssl_context(p, p["validate_certs"]).wrap_socket(sock, server_hostname=host)
            except (OSError, ssl.SSLError) as exc:
                raise ProbeFailure(f"TLS handshake with {host}:{port}: {_describe_os_error(exc)}") from None
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        host_header = parts.netloc.rsplit("@", 1)[-1]
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host_header}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if p.get("origin"):
            lines.append(f"Origin: {p['origin']}")
        if p.get("subprotocols"):
            lines.append("Sec-WebSocket-Protocol: " + ", ".join(p["subprotocols"]))
        for hk, hv in (p.get("headers") or {}).items():
            lines.append(f"{hk}: {hv}")
        try:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                buf += chunk
                if len(buf) > 65536:
                    break
        except OSError as exc:
            raise ProbeFailure(f"websocket handshake with {p['url']}: {_describe_os_error(exc)}") from None
        latency = _ms_since(t0)
        metrics = {"latency_ms": latency}
        head = buf.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        if not head:
            raise ProbeFailure(f"{p['url']}: connection closed without a handshake answer", metrics=metrics)
        status_line, *header_lines = head.split("\r\n")
        m = re.match(r"HTTP/\d(?:\.\d)?\s+(\d{3})", status_line)
        code = int(m.group(1)) if m else None
        headers = {}
        for line in header_lines:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        details = {"status_code": code}
        if code != 101:
            raise ProbeFailure(f"handshake answered {status_line.strip()!r}, expected 101 Switching Protocols",
                               details=details, metrics=metrics)
        expected = base64.b64encode(hashlib.sha1((key + WS_GUID).encode("ascii")).digest()).decode("ascii")  # nosec B324 - RFC 6455
        if headers.get("sec-websocket-accept") != expected:
            raise ProbeFailure("101 answered but Sec-WebSocket-Accept is wrong (not a WebSocket server?)",
                               details=details, metrics=metrics)
        if "websocket" not in headers.get("upgrade", "").lower():
            raise ProbeFailure("101 answered without 'Upgrade: websocket'", details=details, metrics=metrics)
        if p.get("subprotocols"):
            details["subprotocol"] = headers.get("sec-websocket-protocol")
        try:  # polite close frame (masked, as a client must), then hang up
            sock.sendall(b"\x88\x80" + os.urandom(4))
        except OSError:
            pass
        return Outcome(message=f"WebSocket upgrade (101) in {latency:.0f} ms", metrics=metrics, details=details)
    finally:
        sock.close()


def _validate_ws(p: dict) -> list[str]:
    parts = urllib.parse.urlsplit(p["url"])
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        return [f"url: must be a ws:// or wss:// URL, got {p['url']!r}"]
    if not _url_ok(p["url"]):
        return [f"url: bad port in {p['url']!r}"]
    return []


def _validate_port(p: dict) -> list[str]:
    if not 1 <= p["port"] <= 65535:
        return [f"port: must be 1-65535, got {p['port']}"]
    return []


# ---------------------------------------------------------------------------
# postgres
# ---------------------------------------------------------------------------
class _ParamsModule:
    """The slice of AnsibleModule that PostgresClient uses, built from one probe."""

    def __init__(self, params: dict) -> None:
        self.params = params

    def fail_json(self, msg: str, **kwargs) -> t.NoReturn:
        raise ProbeFailure(msg)


PG_KEYS = ("login_host", "login_port", "login_unix_socket", "login_user", "login_password", "login_db",
           "ssl_mode", "ca_cert", "ssl_cert", "ssl_key")


def check_postgres(p: dict, ctx: Context) -> Outcome:
    from ansible_collections.runbook.ops.plugins.module_utils import _postgres as pgu

    params = {k: v.get("default") for k, v in pgu.postgres_argument_spec().items()}
    for k in PG_KEYS:
        if p.get(k) is not None:
            params[k] = p[k]
    params["connect_timeout"] = max(2, int(-(-p["timeout"] // 1)))
    t0 = time.monotonic()
    client = pgu.PostgresClient(_ParamsModule(params))
    try:
        try:
            conn = client.connect()
            client.query(conn, "SELECT set_config('statement_timeout', %s, false)", [f"{int(p['timeout'] * 1000)}ms"])
            client.query(conn, "SELECT 1")
        except pgu.PostgresError as exc:
            raise ProbeFailure(str(exc), metrics={"latency_ms": _ms_since(t0)}) from None
        latency = _ms_since(t0)
        try:
            row = client.query(conn, """
                SELECT current_setting('max_connections')::int AS max_connections,
                       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS connections,
                       pg_is_in_recovery() AS in_recovery,
                       CASE WHEN pg_is_in_recovery() THEN
                         CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                              ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END
                       END AS lag_s
            """)[0]
        except pgu.PostgresError as exc:
            raise ProbeFailure(f"SELECT 1 answered but reading the statistics failed: {exc}",
                               metrics={"latency_ms": latency}) from None
    finally:
        client.close()
    pct = round(100.0 * row["connections"] / row["max_connections"], 1)
    lag = None if row["lag_s"] is None else round(float(row["lag_s"]), 1)
    metrics = {"latency_ms": latency, "connections_pct": pct, "replication_lag_s": lag}
    details = {"connections": row["connections"], "max_connections": row["max_connections"],
               "in_recovery": row["in_recovery"]}
    role = "replica" if row["in_recovery"] else "primary"
    if p.get("expect_role") and p["expect_role"] != role:
        raise ProbeFailure(f"server is a {role}, expected a {p['expect_role']}", metrics=metrics, details=details)
    msg = f"SELECT 1 in {latency:.0f} ms; {row['connections']}/{row['max_connections']} connections ({pct:g}%)"
    if row["in_recovery"]:
        msg += "; replica, replay lag " + ("unknown (nothing replayed yet)" if lag is None else f"{lag:g}s")
    return Outcome(message=msg, metrics=metrics, details=details)


# ---------------------------------------------------------------------------
# celery (Redis or any kombu broker)
# ---------------------------------------------------------------------------
def check_celery(p: dict, ctx: Context) -> Outcome:
    if not HAS_CELERY:
        raise ProbeFailure("the celery Python library is not installed on the managed host (pip install celery)")
    app = celery.Celery("runbook_ops_probe", broker=p["broker_url"], set_as_current=False)
    app.conf.broker_connection_timeout = p["timeout"]
    app.conf.broker_connection_retry_on_startup = False
    app.conf.broker_connection_max_retries = 0
    app.conf.broker_transport_options = {"socket_timeout": p["timeout"], "socket_connect_timeout": p["timeout"],
                                         "max_retries": 0}
    metrics: dict = {}
    details: dict = {}
    reply_timeout = p["reply_timeout"]
    destination = p.get("workers")
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=0, timeout=p["timeout"])
            depths = {}
            channel = conn.default_channel
            for q in p["queues"]:
                try:
                    depths[q] = channel.queue_declare(queue=q, passive=True).message_count
                except Exception as exc:  # kombu: the queue key does not exist = nothing queued
                    if "NOT_FOUND" in str(exc) or "not found" in str(exc).lower() or "404" in str(exc):
                        depths[q] = 0
                        channel = conn.channel()
                    else:
                        raise
            details["queues"] = depths
            metrics["queue_depth"] = max(depths.values()) if depths else None
            replies = app.control.ping(timeout=reply_timeout, connection=conn, destination=destination) or []
            alive = sorted(name for r in replies for name in r)
            details["workers"] = alive
            metrics["workers"] = len(alive)
            if p["stuck_after"] is not None and alive:
                insp = app.control.inspect(timeout=reply_timeout, connection=conn, destination=alive)
                active = insp.active() or {}
                now = time.time()
                stuck = []
                for worker, tasks in active.items():
                    for task in tasks or []:
                        start = task.get("time_start")
                        if start is None:
                            continue
                        age = now - start if start > 1e9 else time.monotonic() - start
                        if age >= p["stuck_after"]:
                            stuck.append({"worker": worker, "id": task.get("id"), "name": task.get("name"),
                                          "age_s": round(age, 1)})
                details["stuck"] = stuck
                details["active"] = sum(len(v or []) for v in active.values())
                metrics["stuck_tasks"] = len(stuck)
    except ProbeFailure:
        raise
    except Exception as exc:  # kombu/redis connection errors have many types
        text = str(exc) or type(exc).__name__
        raise ProbeFailure(f"broker {_redact_url(p['broker_url'])}: {text}", metrics=metrics, details=details) from None
    if destination:
        missing = sorted(set(destination) - set(details["workers"]))
        if missing:
            raise ProbeFailure(f"worker(s) not answering ping: {', '.join(missing)}", metrics=metrics, details=details)
    msg = f"{metrics['workers']} worker(s) answered ping"
    if details.get("queues"):
        msg += "; queue depth " + ", ".join(f"{q}={n}" for q, n in details["queues"].items())
    if "stuck_tasks" in metrics:
        msg += f"; {metrics['stuck_tasks']} task(s) active for >= {p['stuck_after']:g}s"
    return Outcome(message=msg, metrics=metrics, details=details)


def _redact_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return url


def _validate_celery(p: dict) -> list[str]:
    if "://" not in p["broker_url"]:
        return [f"broker_url: must be a broker URL such as redis://host:6379/0, got {_redact_url(p['broker_url'])!r}"]
    return []


# ---------------------------------------------------------------------------
# systemd
# ---------------------------------------------------------------------------
SYSTEMD_PROPS = ("LoadState", "ActiveState", "SubState", "NRestarts", "MainPID", "ExecMainStartTimestampMonotonic",
                 "Result")


def parse_systemctl_show(text: str) -> dict:
    """``systemctl show -p A,B unit`` output (KEY=VALUE lines) as a dict of strings."""
    out = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def systemd_verdict(unit: str, before: dict, after: dict | None, settle: float,
                    expect_states: t.Sequence[str] = ("active",)) -> tuple[str, str, dict]:
    """Status, message and metrics from one or two ``systemctl show`` readings.

    ``after`` is the reading taken ``settle`` seconds later (None when no settle
    time). A unit fails when it is not in an expected ActiveState at either
    reading, or when between them its main PID, start time or restart count
    changed (it died and was restarted while we watched).
    """
    def restarts(d: dict) -> int | None:
        v = d.get("NRestarts")
        return int(v) if v not in (None, "", "[not set]") and v.isdigit() else None

    metrics = {"restarts": restarts(after or before)}
    if before.get("LoadState") == "not-found":
        return CRITICAL, f"unit {unit} not found", metrics
    for label, d in (("", before), (f" after {settle:g}s", after)):
        if d is None:
            continue
        state = d.get("ActiveState", "?")
        if state not in expect_states:
            sub = d.get("SubState", "?")
            result = d.get("Result")
            extra = f", result {result}" if result and result != "success" else ""
            return CRITICAL, f"{unit} is {state} ({sub}{extra}){label}, expected {'/'.join(expect_states)}", metrics
    if after is not None:
        changes = []
        if before.get("MainPID") != after.get("MainPID"):
            changes.append(f"main PID {before.get('MainPID')} -> {after.get('MainPID')}")
        if before.get("ExecMainStartTimestampMonotonic") != after.get("ExecMainStartTimestampMonotonic"):
            changes.append("restarted (start time changed)")
        r0, r1 = restarts(before), restarts(after)
        if r0 is not None and r1 is not None and r1 != r0:
            changes.append(f"restarts {r0} -> {r1}")
        if changes:
            return CRITICAL, f"{unit} did not stay up for {settle:g}s: " + ", ".join(changes), metrics
    state = (after or before)
    msg = f"{unit} {state.get('ActiveState')} ({state.get('SubState')})"
    if after is not None:
        msg += f", stable for {settle:g}s"
    return OK, msg, metrics


def check_systemd(p: dict, ctx: Context) -> Outcome:
    systemctl = ctx.which("systemctl")
    if not systemctl:
        raise ProbeFailure("systemctl not found on the managed host")
    argv = [systemctl, "show", "-p", ",".join(SYSTEMD_PROPS), "--", p["unit"]]
    if p.get("scope") == "user":
        argv.insert(1, "--user")

    def read() -> dict:
        rc, out, err = ctx.run(argv, timeout=p["timeout"])
        if rc != 0:
            raise ProbeFailure(f"systemctl show {p['unit']} failed (rc={rc}): {err.strip() or out.strip()}")
        return parse_systemctl_show(out)

    before = read()
    after = None
    settle = p["settle_seconds"]
    if settle > 0 and before.get("ActiveState") in p["expect_state"]:
        time.sleep(settle)
        after = read()
    status, msg, metrics = systemd_verdict(p["unit"], before, after, settle, tuple(p["expect_state"]))
    details = {"before": before, "after": after}
    if status == CRITICAL:
        raise ProbeFailure(msg, metrics=metrics, details=details)
    return Outcome(message=msg, metrics=metrics, details=details)


# ---------------------------------------------------------------------------
# container (podman / docker)
# ---------------------------------------------------------------------------
COMPOSE_LABELS = ("com.docker.compose.service", "io.podman.compose.service")


def container_verdict(info: dict) -> tuple[str, str, dict]:
    """Status, message and metrics from one ``podman|docker inspect`` object."""
    name = (info.get("Name") or "").lstrip("/") or info.get("Id", "?")[:12]
    state = info.get("State") or {}
    restarts = info.get("RestartCount")
    if restarts is None:
        restarts = state.get("RestartCount")
    metrics = {"restarts": restarts}
    health = state.get("Health") or state.get("Healthcheck") or {}
    health_status = health.get("Status") or None
    if not state.get("Running"):
        exit_code = state.get("ExitCode")
        return CRITICAL, f"container {name} is {state.get('Status', 'not running')} (exit code {exit_code})", metrics
    if state.get("Restarting"):
        return CRITICAL, f"container {name} is restarting", metrics
    if health_status == "unhealthy":
        last = (health.get("Log") or [{}])[-1]
        out = (last.get("Output") or "").strip()
        return CRITICAL, f"container {name} is unhealthy" + (f": {out[:200]}" if out else ""), metrics
    if health_status == "starting":
        return WARNING, f"container {name} is running, health check still starting", metrics
    msg = f"container {name} running" + (f", {health_status}" if health_status else ", no health check")
    return OK, msg, metrics


def check_container(p: dict, ctx: Context) -> Outcome:
    engine = p["engine"]
    if engine == "auto":
        engine = "podman" if ctx.which("podman") else "docker"
    binary = ctx.which(engine)
    if not binary:
        raise ProbeFailure(f"{engine} not found on the managed host")
    target = p.get("container")
    if not target:
        wanted = p["service"]
        ids: list[str] = []
        for label in COMPOSE_LABELS:
            argv = [binary, "ps", "-a", "-q", "--filter", f"label={label}={wanted}"]
            if p.get("project"):
                proj_label = "com.docker.compose.project" if label.startswith("com.docker") else "io.podman.compose.project"
                argv += ["--filter", f"label={proj_label}={p['project']}"]
            rc, out, err = ctx.run(argv, timeout=p["timeout"])
            if rc != 0:
                raise ProbeFailure(f"{engine} ps failed (rc={rc}): {err.strip()}")
            ids += [line.strip() for line in out.splitlines() if line.strip()]
        ids = list(dict.fromkeys(ids))
        if not ids:
            raise ProbeFailure(f"no {engine} container of compose service {wanted!r}")
        targets = ids
    else:
        targets = [target]
    rc, out, err = ctx.run([binary, "inspect", "--type", "container", "--"] + targets, timeout=p["timeout"])
    if rc != 0:
        text = (err or out).strip()
        if "no such" in text.lower():
            raise ProbeFailure(f"no {engine} container {target or targets!r}")
        raise ProbeFailure(f"{engine} inspect failed (rc={rc}): {text[:300]}")
    try:
        infos = json.loads(out)
    except ValueError:
        raise ProbeFailure(f"{engine} inspect printed no JSON") from None
    statuses, messages, restarts = [], [], []
    for info in infos:
        st, msg, m = container_verdict(info)
        statuses.append(st)
        messages.append(msg)
        if m["restarts"] is not None:
            restarts.append(m["restarts"])
    status = worst(statuses)
    metrics = {"restarts": max(restarts) if restarts else None}
    details = {"engine": engine, "containers": [(i.get("Name") or "").lstrip("/") for i in infos]}
    if status == CRITICAL:
        raise ProbeFailure("; ".join(m for m, s in zip(messages, statuses) if s == CRITICAL), metrics=metrics, details=details)
    return Outcome(message="; ".join(messages), metrics=metrics, details=details, status=status)


def _validate_container(p: dict) -> list[str]:
    if bool(p.get("container")) == bool(p.get("service")):
        return ["container/service: give exactly one of container (a name or id) or service (a compose service)"]
    if p.get("project") and not p.get("service"):
        return ["project: only with service"]
    return []


# ---------------------------------------------------------------------------
# disk, memory, load
# ---------------------------------------------------------------------------
def disk_usage(path: str) -> dict:
    """``df``-style usage and inode percentages of the filesystem holding ``path``."""
    st = os.statvfs(path)
    used = st.f_blocks - st.f_bfree
    avail_total = used + st.f_bavail
    usage_pct = round(100.0 * used / avail_total, 1) if avail_total else 0.0
    inodes_pct = round(100.0 * (st.f_files - st.f_ffree) / st.f_files, 1) if st.f_files else None
    return {
        "usage_pct": usage_pct,
        "inodes_pct": inodes_pct,
        "free_bytes": st.f_bavail * st.f_frsize,
        "total_bytes": st.f_blocks * st.f_frsize,
    }


def check_disk(p: dict, ctx: Context) -> Outcome:
    try:
        u = disk_usage(p["path"])
    except OSError as exc:
        raise ProbeFailure(f"statvfs {p['path']}: {exc.strerror or exc}") from None
    msg = f"{p['path']}: {u['usage_pct']:g}% used, {u['free_bytes'] // (1024 * 1024)} MiB free"
    if u["inodes_pct"] is not None:
        msg += f", inodes {u['inodes_pct']:g}% used"
    return Outcome(message=msg, metrics={"usage_pct": u["usage_pct"], "inodes_pct": u["inodes_pct"]},
                   details={"free_bytes": u["free_bytes"], "total_bytes": u["total_bytes"]})


def parse_meminfo(text: str) -> dict:
    """/proc/meminfo as {key: bytes}."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"(\w+(?:\(\w+\))?):\s+(\d+)(?:\s+kB)?", line)
        if m:
            out[m.group(1)] = int(m.group(2)) * (1024 if line.rstrip().endswith("kB") else 1)
    return out


def check_memory(p: dict, ctx: Context) -> Outcome:
    with open("/proc/meminfo", encoding="ascii") as fh:
        info = parse_meminfo(fh.read())
    total, avail = info.get("MemTotal"), info.get("MemAvailable")
    if not total or avail is None:
        raise ProbeFailure("/proc/meminfo has no MemTotal/MemAvailable")
    used_pct = round(100.0 - 100.0 * avail / total, 1)
    return Outcome(message=f"{used_pct:g}% used, {avail // (1024 * 1024)} MiB available of {total // (1024 * 1024)} MiB",
                   metrics={"used_pct": used_pct}, details={"available_bytes": avail, "total_bytes": total})


def check_load(p: dict, ctx: Context) -> Outcome:
    loads = os.getloadavg()
    cpus = os.cpu_count() or 1
    idx = {1: 0, 5: 1, 15: 2}[p["period"]]
    per_cpu = round(loads[idx] / cpus, 2)
    return Outcome(message=f"load {loads[0]:.2f} {loads[1]:.2f} {loads[2]:.2f} on {cpus} CPU(s); "
                           f"{p['period']}-minute load per CPU {per_cpu:g}",
                   metrics={"load_per_cpu": per_cpu}, details={"loadavg": list(loads), "cpus": cpus})


# ---------------------------------------------------------------------------
# certificate
# ---------------------------------------------------------------------------
def _not_after_openssl(ctx: Context, data: bytes, der: bool, timeout: float) -> float:
    openssl = ctx.which("openssl")
    if not openssl:
        raise ProbeFailure("neither the cryptography library nor openssl is available on the managed host")
    argv = [openssl, "x509", "-noout", "-enddate"] + (["-inform", "DER"] if der else [])
    rc, out, err = ctx.run(argv, timeout=timeout, data=data)
    if rc != 0:
        raise ProbeFailure(f"openssl x509 could not read the certificate: {err.strip()}")
    m = re.search(r"notAfter=(.+)", out)
    if not m:
        raise ProbeFailure(f"openssl x509 printed no notAfter: {out.strip()}")
    return float(ssl.cert_time_to_seconds(m.group(1).strip()))


def cert_not_after(ctx: Context, data: bytes, der: bool, timeout: float) -> tuple[float, dict]:
    """Expiry (epoch seconds) of the first certificate in ``data`` and a little detail."""
    if HAS_CRYPTOGRAPHY:
        try:
            cert = x509.load_der_x509_certificate(data) if der else x509.load_pem_x509_certificate(data)
        except ValueError as exc:
            raise ProbeFailure(f"not a {'DER' if der else 'PEM'} certificate: {exc}") from None
        try:
            not_after = cert.not_valid_after_utc.timestamp()
        except AttributeError:  # cryptography < 42
            import calendar

            not_after = calendar.timegm(cert.not_valid_after.timetuple())
        details = {"subject": cert.subject.rfc4514_string(), "not_after": time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(not_after))}
        return not_after, details
    not_after = _not_after_openssl(ctx, data, der, timeout)
    return not_after, {"not_after": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(not_after))}


def check_certificate(p: dict, ctx: Context) -> Outcome:
    if p.get("path"):
        try:
            with open(p["path"], "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise ProbeFailure(f"cannot read {p['path']}: {exc.strerror or exc}") from None
        der = b"-----BEGIN" not in data
        where = p["path"]
    else:
        host, port = p["host"], p["port"]
        sni = p.get("server_name") or host
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE  # read the certificate even when it is expired or self-signed
        sock = _connect(host, port, p["timeout"])
        try:
            try:
                with tls.wrap_socket(sock, server_hostname=sni) as tsock:
                    data = tsock.getpeercert(binary_form=True)
            except (OSError, ssl.SSLError) as exc:
                raise ProbeFailure(f"TLS handshake with {host}:{port} (SNI {sni}): {_describe_os_error(exc)}") from None
        finally:
            sock.close()
        if not data:
            raise ProbeFailure(f"{host}:{port} sent no certificate")
        der = True
        where = f"{host}:{port} (SNI {sni})"
    not_after, details = cert_not_after(ctx, data, der, p["timeout"])
    days = round((not_after - time.time()) / 86400.0, 2)
    details["source"] = where
    metrics = {"days_left": days}
    if days <= 0:
        raise ProbeFailure(f"certificate of {where} expired {-days:.1f} days ago ({details['not_after']})",
                           metrics=metrics, details=details)
    return Outcome(message=f"certificate of {where} expires in {days:.1f} days ({details['not_after']})",
                   metrics=metrics, details=details)


def _validate_certificate(p: dict) -> list[str]:
    if bool(p.get("path")) == bool(p.get("host")):
        return ["path/host: give exactly one of path (a certificate file) or host (+ port) of a TLS endpoint"]
    if p.get("port") is not None and not 1 <= p["port"] <= 65535:
        return [f"port: must be 1-65535, got {p['port']}"]
    return []


# ---------------------------------------------------------------------------
# pm2
# ---------------------------------------------------------------------------
def parse_pm2_jlist(text: str) -> list[dict]:
    """The JSON array printed by ``pm2 jlist`` (daemon start-up chatter before it is skipped)."""
    start = text.find("[")
    while start >= 0:
        try:
            data = json.loads(text[start:])
            if isinstance(data, list):
                return data
        except ValueError:
            pass
        start = text.find("[", start + 1)
    raise ValueError("no JSON array in pm2 jlist output")


def pm2_verdict(apps: list[dict], wanted: t.Sequence[str] | None) -> tuple[str, str, dict, dict]:
    """Status, message, metrics and details of the ``pm2 jlist`` apps (all, or the ``wanted`` names)."""
    rows = []
    for app in apps:
        env = app.get("pm2_env") or {}
        rows.append({
            "name": app.get("name"),
            "pm_id": app.get("pm_id"),
            "status": env.get("status"),
            "restarts": env.get("restart_time", 0) or 0,
            "unstable_restarts": env.get("unstable_restarts", 0) or 0,
            "pid": app.get("pid"),
        })
    if wanted:
        missing = [n for n in wanted if not any(r["name"] == n for r in rows)]
        rows = [r for r in rows if r["name"] in wanted]
    else:
        missing = []
    metrics = {"restarts": max((r["restarts"] for r in rows), default=None)}
    details = {"apps": rows}
    problems = [f"{n} not managed by pm2" for n in missing]
    problems += [f"{r['name']}[{r['pm_id']}] is {r['status']}" for r in rows if r["status"] != "online"]
    if not rows and not missing:
        problems.append("pm2 manages no apps")
    if problems:
        return CRITICAL, "; ".join(problems), metrics, details
    return OK, f"{len(rows)} pm2 app(s) online", metrics, details


def check_pm2(p: dict, ctx: Context) -> Outcome:
    pm2 = p.get("pm2_bin") or ctx.which("pm2")
    if not pm2:
        raise ProbeFailure("pm2 not found on the managed host (set pm2_bin)")
    env = {"PM2_HOME": p["pm2_home"]} if p.get("pm2_home") else None
    rc, out, err = ctx.run([pm2, "jlist"], timeout=p["timeout"], env=env)
    if rc != 0:
        raise ProbeFailure(f"pm2 jlist failed (rc={rc}): {err.strip()[:300]}")
    try:
        apps = parse_pm2_jlist(out)
    except ValueError as exc:
        raise ProbeFailure(str(exc)) from None
    status, msg, metrics, details = pm2_verdict(apps, p.get("apps"))
    if status == CRITICAL:
        raise ProbeFailure(msg, metrics=metrics, details=details)
    return Outcome(message=msg, metrics=metrics, details=details)


# ---------------------------------------------------------------------------
# command
# ---------------------------------------------------------------------------
def check_command(p: dict, ctx: Context) -> Outcome:
    argv = p["argv"]
    t0 = time.monotonic()
    rc, out, err = ctx.run(argv, timeout=p["timeout"], env=p.get("environment"))
    latency = _ms_since(t0)
    details = {"rc": rc, "stdout": out[-2000:], "stderr": err[-2000:]}
    metrics = {"latency_ms": latency}
    if rc not in p["expect_rc"]:
        tail = (err.strip() or out.strip())[-200:]
        raise ProbeFailure(f"{argv[0]} exited {rc}, expected {', '.join(map(str, p['expect_rc']))}"
                           + (f": {tail}" if tail else ""), details=details, metrics=metrics)
    if p.get("stdout_regex") and not re.search(p["stdout_regex"], out):
        raise ProbeFailure(f"{argv[0]} output does not match stdout_regex {p['stdout_regex']!r}",
                           details=details, metrics=metrics)
    return Outcome(message=f"{argv[0]} exited {rc}", metrics=metrics, details=details)


def _validate_command(p: dict) -> list[str]:
    return _regex_error("stdout_regex", p["stdout_regex"]) if p.get("stdout_regex") else []


# ---------------------------------------------------------------------------
# redis (reuses the Redis client layer of module_utils/_redis.py)
# ---------------------------------------------------------------------------
REDIS_KEYS = ("login_host", "login_port", "login_unix_socket", "login_user", "login_password", "db", "tls",
              "validate_certs", "ca_certs", "client_cert_file", "client_key_file")


def check_redis(p: dict, ctx: Context) -> Outcome:
    from ansible_collections.runbook.ops.plugins.module_utils import _redis as ru

    params = {k: v.get("default") for k, v in ru.redis_argument_spec().items()}
    for k in REDIS_KEYS:
        if p.get(k) is not None:
            params[k] = p[k]
    params["socket_timeout"] = params["connect_timeout"] = p["timeout"]
    t0 = time.monotonic()
    client = ru.RedisClient(_ParamsModule(params))
    try:
        try:
            client.connect()  # PING, with the client layer's error wording
            latency = _ms_since(t0)
            info = client.info()
        except ru.RedisError as exc:
            raise ProbeFailure(str(exc), metrics={"latency_ms": _ms_since(t0)}) from None
    finally:
        client.close()
    used = int(info.get("used_memory", 0))
    maxmem = int(info.get("maxmemory", 0) or 0)
    pct = round(100.0 * used / maxmem, 1) if maxmem else None
    metrics = {
        "latency_ms": latency,
        "memory_pct": pct,
        "connected_clients": int(info.get("connected_clients", 0)),
        "rejected_connections": int(info.get("rejected_connections", 0)),
    }
    details = {"used_memory": used, "maxmemory": maxmem, "role": info.get("role"),
               "redis_version": info.get("redis_version")}
    mem = f"{pct:g}% of maxmemory" if pct is not None else f"{used // 1024} KiB used, no maxmemory"
    msg = (f"PONG in {latency:.0f} ms; {mem}; {metrics['connected_clients']} client(s), "
           f"{metrics['rejected_connections']} rejected")
    return Outcome(message=msg, metrics=metrics, details=details)


# ---------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------
def _f(typ: str, **kw) -> Field:
    return Field(typ, **kw)


KINDS: dict[str, Kind] = {
    "http": Kind(
        check_http,
        dict({
            "url": _f("str", required=True),
            "method": _f("str", default="GET", choices=("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")),
            "status_code": _f("list_int", default=[200]),
            "headers": _f("dict_str"),
            "body": _f("str"),
            "body_regex": _f("str"),
            "json_query": _f("str"),
            "json_equals": _f("any"),
            "follow_redirects": _f("bool", default=True),
            "use_proxy": _f("bool", default=False),
        }, **TLS_FIELDS),
        {"latency_ms": LATENCY},
        primary="latency_ms",
        validate=_validate_http,
    ),
    "websocket": Kind(
        check_websocket,
        dict({
            "url": _f("str", required=True),
            "headers": _f("dict_str"),
            "origin": _f("str"),
            "subprotocols": _f("list_str"),
        }, **TLS_FIELDS),
        {"latency_ms": LATENCY},
        primary="latency_ms",
        validate=_validate_ws,
    ),
    "tcp": Kind(
        check_tcp,
        {"host": _f("str", required=True), "port": _f("int", required=True)},
        {"latency_ms": LATENCY},
        primary="latency_ms",
        validate=_validate_port,
    ),
    "postgres": Kind(
        check_postgres,
        {
            "login_host": _f("str", default=""),
            "login_port": _f("int", default=5432),
            "login_unix_socket": _f("str", default=""),
            "login_user": _f("str", default="postgres"),
            "login_password": _f("str", default="", secret=True),
            "login_db": _f("str", default="postgres"),
            "ssl_mode": _f("str", default="prefer",
                           choices=("disable", "allow", "prefer", "require", "verify-ca", "verify-full")),
            "ca_cert": _f("str"),
            "ssl_cert": _f("str"),
            "ssl_key": _f("str"),
            "expect_role": _f("str", choices=("primary", "replica")),
        },
        {"connections_pct": Metric("%", True, 80, 95), "replication_lag_s": Metric("s", True),
         "latency_ms": LATENCY},
        primary="connections_pct",
    ),
    "redis": Kind(
        check_redis,
        {
            "login_host": _f("str", default="localhost"),
            "login_port": _f("int", default=6379),
            "login_unix_socket": _f("str"),
            "login_user": _f("str"),
            "login_password": _f("str", secret=True),
            "db": _f("int", default=0, minimum=0),
            "tls": _f("bool", default=False),
            "validate_certs": _f("bool", default=True),
            "ca_certs": _f("str"),
            "client_cert_file": _f("str"),
            "client_key_file": _f("str"),
        },
        {"memory_pct": Metric("%", True, 80, 95), "connected_clients": Metric("", True),
         "rejected_connections": Metric("", True), "latency_ms": LATENCY},
        primary="memory_pct",
    ),
    "celery": Kind(
        check_celery,
        {
            "broker_url": _f("str", required=True, secret=True),
            "queues": _f("list_str", default=["celery"]),
            "workers": _f("list_str"),
            "reply_timeout": _f("float", default=2.0, minimum=0.1),
            "stuck_after": _f("float", minimum=0),
        },
        {"workers": Metric("", False, None, 0), "queue_depth": Metric("", True), "stuck_tasks": Metric("", True, None, 1)},
        primary="queue_depth",
        validate=_validate_celery,
    ),
    "systemd": Kind(
        check_systemd,
        {
            "unit": _f("str", required=True),
            "settle_seconds": _f("float", default=0.0, minimum=0),
            "expect_state": _f("list_str", default=["active"]),
            "scope": _f("str", default="system", choices=("system", "user")),
        },
        {"restarts": Metric("", True)},
        primary="restarts",
    ),
    "container": Kind(
        check_container,
        {
            "container": _f("str"),
            "service": _f("str"),
            "project": _f("str"),
            "engine": _f("str", default="auto", choices=("auto", "podman", "docker")),
        },
        {"restarts": Metric("", True)},
        primary="restarts",
        validate=_validate_container,
    ),
    "disk": Kind(
        check_disk,
        {"path": _f("str", default="/")},
        {"usage_pct": Metric("%", True, 85, 95), "inodes_pct": Metric("%", True, 85, 95)},
        primary="usage_pct",
    ),
    "memory": Kind(check_memory, {}, {"used_pct": Metric("%", True, 90, 95)}, primary="used_pct"),
    "load": Kind(
        check_load,
        {"period": _f("int", default=5, choices=(1, 5, 15))},
        {"load_per_cpu": Metric("", True, 1.5, 3.0)},
        primary="load_per_cpu",
    ),
    "certificate": Kind(
        check_certificate,
        {"path": _f("str"), "host": _f("str"), "port": _f("int", default=443), "server_name": _f("str")},
        {"days_left": Metric("d", False, 30, 7)},
        primary="days_left",
        validate=_validate_certificate,
    ),
    "pm2": Kind(
        check_pm2,
        {"apps": _f("list_str"), "pm2_bin": _f("str"), "pm2_home": _f("str")},
        {"restarts": Metric("", True)},
        primary="restarts",
    ),
    "command": Kind(
        check_command,
        {
            "argv": _f("list_str", required=True),
            "expect_rc": _f("list_int", default=[0]),
            "stdout_regex": _f("str"),
            "environment": _f("dict_str"),
        },
        {"latency_ms": LATENCY},
        primary=None,
        validate=_validate_command,
    ),
}
