# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Health probe kinds that look at the managed host: systemd, container, disk, memory, load, pm2, command.

Commands run through ``ctx.run`` (argv, never a shell), each bounded by what is
left of the attempt's deadline and killed with its process group when it passes.
"""

from __future__ import annotations

import json
import os
import re
import time
import typing as t

from ansible_collections.runbook.ops.plugins.module_utils._probe_core import (
    Context, _ms_since,
)
from ansible_collections.runbook.ops.plugins.module_utils._probe_schema import (
    CRITICAL, LATENCY, OK, WARNING, Kind, Metric, Outcome, ProbeFailure, _f, _regex_error, worst,
)

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


KINDS: dict[str, Kind] = {
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
