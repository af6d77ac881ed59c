# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure verdict logic of health_probe on real output formats: systemctl show,
podman inspect, pm2 jlist, /proc/meminfo; thresholds, retries, summary."""
from __future__ import annotations

import json

import pytest

from ansible_collections.runbook.ops.plugins.module_utils._probe import (
    CRITICAL,
    KINDS,
    OK,
    WARNING,
    Outcome,
    ProbeResult,
    container_verdict,
    disk_usage,
    evaluate,
    failure_message,
    parse_meminfo,
    parse_pm2_jlist,
    parse_systemctl_show,
    pm2_verdict,
    run_probes,
    should_fail,
    summarize,
    systemd_verdict,
    validate_probes,
)

# ---------------------------------------------------------------------------
# systemd: `systemctl show -p LoadState,ActiveState,SubState,NRestarts,MainPID,
# ExecMainStartTimestampMonotonic,Result -- UNIT` prints KEY=VALUE lines in
# systemd's own property order (not the order asked), as below (systemd 252).
# ---------------------------------------------------------------------------
RUNNING = """MainPID=4242
NRestarts=0
ExecMainStartTimestampMonotonic=81234567
Result=success
LoadState=loaded
ActiveState=active
SubState=running
"""
RESTARTED = """MainPID=4310
NRestarts=1
ExecMainStartTimestampMonotonic=82345678
Result=success
LoadState=loaded
ActiveState=active
SubState=running
"""
AUTO_RESTART = """MainPID=0
NRestarts=3
ExecMainStartTimestampMonotonic=0
Result=exit-code
LoadState=loaded
ActiveState=activating
SubState=auto-restart
"""
FAILED = """MainPID=0
NRestarts=5
ExecMainStartTimestampMonotonic=0
Result=exit-code
LoadState=loaded
ActiveState=failed
SubState=failed
"""
NOT_FOUND = """MainPID=0
NRestarts=0
ExecMainStartTimestampMonotonic=0
Result=success
LoadState=not-found
ActiveState=inactive
SubState=dead
"""
ONESHOT_DONE = """MainPID=0
NRestarts=0
ExecMainStartTimestampMonotonic=5123
Result=success
LoadState=loaded
ActiveState=inactive
SubState=dead
"""


def test_parse_systemctl_show():
    d = parse_systemctl_show(RUNNING)
    assert d == {"MainPID": "4242", "NRestarts": "0", "ExecMainStartTimestampMonotonic": "81234567",
                 "Result": "success", "LoadState": "loaded", "ActiveState": "active", "SubState": "running"}
    assert parse_systemctl_show("Description=a=b\n\n") == {"Description": "a=b"}


def test_systemd_stable_unit_is_ok():
    status, msg, metrics = systemd_verdict("app.service", parse_systemctl_show(RUNNING),
                                           parse_systemctl_show(RUNNING), 5)
    assert status == OK
    assert msg == "app.service active (running), stable for 5s"
    assert metrics == {"restarts": 0}


def test_systemd_without_settle_time_checks_the_state_once():
    assert systemd_verdict("app", parse_systemctl_show(RUNNING), None, 0)[0] == OK


def test_systemd_unit_that_died_and_was_restarted_during_settle_fails():
    """ansible/ansible#24450: active at both readings, but a new process: it crashed in between."""
    status, msg, metrics = systemd_verdict("app.service", parse_systemctl_show(RUNNING),
                                           parse_systemctl_show(RESTARTED), 3)
    assert status == CRITICAL
    assert "did not stay up for 3s" in msg
    assert "main PID 4242 -> 4310" in msg and "restarts 0 -> 1" in msg
    assert metrics == {"restarts": 1}


def test_systemd_unit_that_died_during_settle_fails():
    status, msg = systemd_verdict("app.service", parse_systemctl_show(RUNNING), parse_systemctl_show(FAILED), 2)[:2]
    assert status == CRITICAL
    assert msg == "app.service is failed (failed, result exit-code) after 2s, expected active"


def test_systemd_states():
    assert systemd_verdict("a", parse_systemctl_show(AUTO_RESTART), None, 0)[1] == \
        "a is activating (auto-restart, result exit-code), expected active"
    assert systemd_verdict("nope.service", parse_systemctl_show(NOT_FOUND), None, 0)[:2] == \
        (CRITICAL, "unit nope.service not found")
    assert systemd_verdict("job", parse_systemctl_show(ONESHOT_DONE), None, 0,
                           expect_states=("active", "inactive"))[0] == OK


# ---------------------------------------------------------------------------
# container: `podman inspect` objects (podman 4.3; docker has the same fields)
# ---------------------------------------------------------------------------
def _inspect(status="running", running=True, health=None, exit_code=0, restarts=0, log_output=""):
    state = {"OciVersion": "1.0.2-dev", "Status": status, "Running": running, "Paused": False, "Restarting": False,
             "OOMKilled": False, "Dead": False, "Pid": 13148 if running else 0, "ExitCode": exit_code, "Error": "",
             "StartedAt": "2026-11-23T14:19:28.944196303Z", "FinishedAt": "0001-01-01T00:00:00Z"}
    if health:
        state["Health"] = {"Status": health, "FailingStreak": 1 if health == "unhealthy" else 0,
                           "Log": [{"Start": "2026-11-23T14:19:32.89Z", "End": "2026-11-23T14:19:33.14Z",
                                    "ExitCode": 1 if health == "unhealthy" else 0, "Output": log_output}]}
    return {"Id": "c8ee47bdd1f92fd9f65d63c5bb8e043b998dc5f74e2b564a5e4dae6b84e15c89", "Name": "web",
            "State": state, "RestartCount": restarts, "ImageName": "localhost/runbook-busybox:test"}


@pytest.mark.parametrize("info, status, words", [
    (_inspect(health="healthy"), OK, "container web running, healthy"),
    (_inspect(), OK, "container web running, no health check"),
    (_inspect(health="starting"), WARNING, "health check still starting"),
    (_inspect(health="unhealthy", log_output="db unreachable\n"), CRITICAL, "container web is unhealthy: db unreachable"),
    (_inspect(status="exited", running=False, exit_code=137, health="healthy"), CRITICAL,
     "container web is exited (exit code 137)"),
])
def test_container_verdict(info, status, words):
    got_status, msg, metrics = container_verdict(info)
    assert got_status == status and words in msg
    assert metrics == {"restarts": 0}


def test_container_docker_names_have_a_slash_and_old_podman_says_healthcheck():
    info = _inspect(restarts=4)
    info["Name"] = "/web"
    info["State"]["Healthcheck"] = {"Status": "healthy"}
    assert container_verdict(info) == (OK, "container web running, healthy", {"restarts": 4})


# ---------------------------------------------------------------------------
# pm2: `pm2 jlist` of pm2 7.0.4 (pm2_env trimmed to the fields read here)
# ---------------------------------------------------------------------------
JLIST = json.dumps([
    {"pid": 17790, "name": "api", "pm_id": 0, "monit": {"memory": 53923840, "cpu": 0.4},
     "pm2_env": {"status": "online", "restart_time": 0, "unstable_restarts": 0, "pm_uptime": 1795444025207,
                 "exec_mode": "fork_mode", "instances": 1, "autorestart": True, "exit_code": None,
                 "namespace": "default"}},
    {"pid": 0, "name": "worker", "pm_id": 1, "monit": {"memory": 0, "cpu": 0},
     "pm2_env": {"status": "stopped", "restart_time": 0, "unstable_restarts": 1, "pm_uptime": 1795444026664,
                 "exec_mode": "fork_mode", "instances": 1, "autorestart": False, "exit_code": 2,
                 "namespace": "default"}},
    {"pid": 17801, "name": "api", "pm_id": 2, "monit": {"memory": 50000000, "cpu": 0.1},
     "pm2_env": {"status": "online", "restart_time": 7, "unstable_restarts": 0, "exec_mode": "cluster_mode"}},
])


def test_parse_pm2_jlist_skips_daemon_chatter():
    text = "[PM2] Spawning PM2 daemon with pm2_home=/root/.pm2\n[PM2] PM2 Successfully daemonized\n" + JLIST
    assert [a["name"] for a in parse_pm2_jlist(text)] == ["api", "worker", "api"]
    assert parse_pm2_jlist("[]") == []
    with pytest.raises(ValueError):
        parse_pm2_jlist("[PM2] something went wrong")


def test_pm2_verdicts():
    apps = parse_pm2_jlist(JLIST)
    status, msg, metrics, details = pm2_verdict(apps, ["api"])
    assert (status, msg, metrics) == (OK, "2 pm2 app(s) online", {"restarts": 7})
    assert [r["pm_id"] for r in details["apps"]] == [0, 2]
    status, msg, _m, _d = pm2_verdict(apps, None)
    assert status == CRITICAL and msg == "worker[1] is stopped"
    status, msg, _m, _d = pm2_verdict(apps, ["api", "frontend"])
    assert status == CRITICAL and msg == "frontend not managed by pm2"
    assert pm2_verdict([], None)[:2] == (CRITICAL, "pm2 manages no apps")


# ---------------------------------------------------------------------------
# memory and disk
# ---------------------------------------------------------------------------
def test_parse_meminfo():
    text = "MemTotal:       24684084 kB\nMemFree:        22019252 kB\nMemAvailable:   23319952 kB\n" \
           "HugePages_Total:       0\nActive(file):     512000 kB\n"
    info = parse_meminfo(text)
    assert info["MemTotal"] == 24684084 * 1024 and info["MemAvailable"] == 23319952 * 1024
    assert info["HugePages_Total"] == 0 and info["Active(file)"] == 512000 * 1024


def test_disk_usage_of_a_real_path(tmp_path):
    u = disk_usage(str(tmp_path))
    assert 0 <= u["usage_pct"] <= 100 and u["total_bytes"] > 0


# ---------------------------------------------------------------------------
# thresholds, summary, fail_on
# ---------------------------------------------------------------------------
def _probe(**kw):
    return validate_probes([dict(kw)])[0]


@pytest.mark.parametrize("value, status", [(79.9, OK), (80, WARNING), (94.9, WARNING), (95, CRITICAL)])
def test_higher_is_worse_boundaries(value, status):
    p = _probe(name="d", kind="disk", warn=80, crit=95)
    assert evaluate(p, KINDS["disk"], Outcome(metrics={"usage_pct": value, "inodes_pct": 1}))[0] == status


@pytest.mark.parametrize("value, status", [(31, OK), (30, WARNING), (7.5, WARNING), (7, CRITICAL), (-1, CRITICAL)])
def test_lower_is_worse_boundaries(value, status):
    p = _probe(name="c", kind="certificate", path="/x")
    assert evaluate(p, KINDS["certificate"], Outcome(metrics={"days_left": value}))[0] == status


def test_evaluate_message_names_the_metric_and_threshold():
    p = _probe(name="d", kind="disk", warn=80, crit=90, thresholds={"inodes_pct": {"warn": 10, "crit": 20}})
    status, msg, report = evaluate(p, KINDS["disk"], Outcome(message="/: 85% used", metrics={"usage_pct": 85.0,
                                                                                             "inodes_pct": 25.0}))
    assert status == CRITICAL
    assert msg == "/: 85% used; usage_pct 85.0% >= warn 80%, inodes_pct 25.0% >= crit 20%"
    assert report["usage_pct"] == {"value": 85.0, "unit": "%", "warn": 80, "crit": 90, "status": WARNING}


def test_unmeasured_metric_is_not_judged():
    p = _probe(name="r", kind="redis")
    status, _msg, report = evaluate(p, KINDS["redis"], Outcome(metrics={"memory_pct": None}))
    assert status == OK and report["memory_pct"]["status"] == OK


def _result(name, status):
    return ProbeResult(name=name, kind="memory", status=status, message=f"{name} says {status}")


def test_summary_and_fail_on():
    results = [_result("a", OK), _result("b", WARNING), _result("c", CRITICAL), _result("d", OK)]
    s = summarize(results)
    assert s == {"ok": 2, "warning": 1, "critical": 1, "total": 4, "status": CRITICAL,
                 "critical_probes": ["c"], "warning_probes": ["b"]}
    assert should_fail(s, "critical") and should_fail(s, "warning") and not should_fail(s, "never")
    w = summarize(results[:2])
    assert not should_fail(w, "critical") and should_fail(w, "warning")
    assert failure_message(results, "warning") == \
        "2 of 4 probes at or above warning: b warning: b says warning; c critical: c says critical"
    assert summarize([])["status"] == OK


# ---------------------------------------------------------------------------
# run_probes: retries and concurrency with real subprocesses
# ---------------------------------------------------------------------------
def test_retries_stop_at_the_first_non_critical_attempt(tmp_path):
    counter = tmp_path / "n"
    # fails twice, then passes: a real flaky command
    script = f'n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; [ $n -ge 3 ]'
    probes = validate_probes([
        {"name": "flaky", "kind": "command", "argv": ["sh", "-c", script], "retries": 5, "delay": 0},
        {"name": "never", "kind": "command", "argv": ["false"], "retries": 2, "delay": 0},
    ])
    flaky, never = run_probes(probes)
    assert (flaky.status, flaky.attempts) == (OK, 3)
    assert (never.status, never.attempts) == (CRITICAL, 3)
    assert never.duration_ms >= never.latency_ms


def test_run_probes_runs_at_most_max_workers_attempts_at_once(tmp_path):
    """Each attempt is a real child process; a flock-guarded counter records the most running at once."""
    state = tmp_path / "running"
    state.write_text("0 0\n")
    lock = tmp_path / "lock"
    step = (f'flock {lock} sh -c \'read n m < {state}; n=$((n{{op}}1)); [ $n -gt $m ] && m=$n; '
            f'echo "$n $m" > {state}\'')
    script = step.format(op="+") + "; sleep 0.2; " + step.format(op="-")
    probes = validate_probes([{"name": f"p{i}", "kind": "command", "argv": ["sh", "-c", script]}
                              for i in range(9)])
    results = run_probes(probes, max_workers=3)
    assert [r.name for r in results] == [f"p{i}" for i in range(9)]
    assert all(r.status == OK for r in results), [r.message for r in results]
    now, most = map(int, state.read_text().split())
    assert now == 0 and 1 <= most <= 3


def test_an_unexpected_exception_becomes_critical_with_its_type():
    p = validate_probes([{"name": "x", "kind": "disk", "path": "/"}])[0]
    p["path"] = None  # not possible through validation: simulates a bug inside a check
    (r,) = run_probes([p])
    assert r.status == CRITICAL and r.message.startswith("TypeError")
    assert "Traceback" in r.details["exception"]
