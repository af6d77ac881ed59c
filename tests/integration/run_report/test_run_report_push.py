# SPDX-License-Identifier: GPL-3.0-or-later
"""The run_report callback pushes every run's metrics to Debian's real prometheus-pushgateway (loopback,
free port): failed and interrupted runs too, grouped by schedule and slice. A Pushgateway that refuses
or hangs costs the run at most the push's deadline and a warning, never its result."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from harness.ansible import ansible_env, run_playbook
from harness.hostile import HostilePeer
from harness.net import wait_until

REPO = Path(__file__).resolve().parents[3]
LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}


@pytest.fixture()
def setup(tmp_path):
    """A playbook where `broken` fails and `fine` is ok; the inventory with the report's directories."""
    playbook = tmp_path / "pushy.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Pushy", "hosts": "all", "gather_facts": False, "tasks": [
        {"name": "Work", "ansible.builtin.debug": {"msg": "working"}},
        {"name": "Break", "ansible.builtin.fail": {"msg": "backup refused"}, "when": "inventory_hostname == 'broken'"},
    ]}]))

    def inventory(schedule: str, **extra) -> str:
        path = tmp_path / f"{schedule}.yml"
        path.write_text(yaml.safe_dump({"all": {"vars": dict({
            "runbook_report_dir": str(tmp_path / "reports"), "runbook_metrics_dir": str(tmp_path / "metrics"),
            "runbook_report_name": schedule}, **extra), "hosts": {"broken": LOCAL, "fine": LOCAL}}}))
        return str(path)

    return playbook, inventory


def _run(playbook, inv, env=None):
    started = time.monotonic()
    result = run_playbook(playbook, inventory=inv, env=dict({"ANSIBLE_SHOW_CUSTOM_STATS": "1"}, **(env or {})))
    summary = result.data["global_custom_stats"]["runbook_run_report"]
    return result, json.loads(Path(summary["json"]).read_text()), time.monotonic() - started


def _series(gateway, metric, **labels):
    """{frozenset(labels): value} of a metric's pushed samples that carry ``labels``."""
    out = {}
    for group in gateway.groups():
        for m in group.get(metric, {}).get("metrics", []):
            if all(m["labels"].get(k) == v for k, v in labels.items()):
                out[frozenset((k, v) for k, v in m["labels"].items() if k not in ("job", "instance"))] = float(m["value"])
    return out


def test_a_failed_run_is_pushed_to_its_schedule_and_slice(gateway, setup):
    playbook, inventory = setup
    result, report, _took = _run(playbook, inventory("push_failed", runbook_pushgateway_url=gateway.url),
                                 env={"RUNBOOK_REPORT_SLICE": "2"})
    assert result.rc == 2 and report["status"] == "critical"
    assert "not pushed" not in result.stderr, result.stderr
    labels = {"schedule": "push_failed", "slice": "2"}
    assert _series(gateway, "runbook_run_status", **labels) == {frozenset(labels.items()): 2.0}
    outcomes = _series(gateway, "runbook_host_outcome", **labels)
    assert outcomes == {frozenset(dict(labels, host="broken", outcome="failed").items()): 1.0,
                        frozenset(dict(labels, host="fine", outcome="ok").items()): 1.0}
    # the Pushgateway's own record of the push: the group is the run's
    assert _series(gateway, "push_failure_time_seconds", **labels) == {frozenset(labels.items()): 0.0}


def test_pushgateway_down_or_hanging_leaves_the_run_unchanged(gateway, setup):
    playbook, inventory = setup
    base, base_report, base_took = _run(playbook, inventory("push_base"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # never listening: refused
        refused, refused_report, _took = _run(
            playbook, inventory("push_refused", runbook_pushgateway_url=f"http://127.0.0.1:{sock.getsockname()[1]}"))
    with HostilePeer("silent") as peer:
        hung, hung_report, hung_took = _run(playbook, inventory("push_hung"),
                                            env={"RUNBOOK_PUSHGATEWAY_URL": f"http://{peer.address}",
                                                 "RUNBOOK_PUSHGATEWAY_TIMEOUT": "3"})
        assert peer.accepted >= 1  # the push did reach it
    for result, report in ((refused, refused_report), (hung, hung_report)):
        assert result.rc == base.rc == 2
        assert report["status"] == base_report["status"]
        assert [(h["host"], h["outcome"]) for h in report["hosts"]] == \
            [(h["host"], h["outcome"]) for h in base_report["hosts"]]
        assert "the metrics were not pushed (the run's result is unchanged)" in result.stderr, result.stderr
    assert "refused" in refused.stderr.lower()
    assert "no complete answer within 3 s (deadline)" in hung.stderr
    # the hang costs the deadline, not more (generous: the machine is shared)
    assert hung_took < base_took + 3 + 20, (hung_took, base_took)


def test_an_interrupted_run_is_pushed(gateway, tmp_path):
    playbook = tmp_path / "slow_push.yml"
    marker = tmp_path / "started"
    playbook.write_text(yaml.safe_dump([{"name": "Slow", "hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Say it started", "ansible.builtin.file": {"path": str(marker), "state": "touch", "mode": "0600"}},
        {"name": "Wait", "ansible.builtin.command": "sleep 117.25", "changed_when": False}]}]))
    env = ansible_env({"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default", "RUNBOOK_PUSHGATEWAY_URL": gateway.url,
                       "RUNBOOK_REPORT_DIR": str(tmp_path / "reports")})
    proc = subprocess.Popen([str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                             "-e", json.dumps({"ansible_python_interpreter": sys.executable}), str(playbook)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(marker.exists, 120, "the playbook's first task")
        wait_until(lambda: subprocess.run(["pgrep", "-f", "^sleep 117.25$"], capture_output=True,
                                          check=False).returncode == 0, 120, "the slow task")
        proc.send_signal(signal.SIGINT)
        out, _err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert "not pushed" not in out, out[-3000:]
    labels = {"schedule": "slow_push"}
    assert _series(gateway, "runbook_run_interrupted", **labels) == {frozenset(labels.items()): 1.0}, out[-3000:]
