# SPDX-License-Identifier: GPL-3.0-or-later
"""AWX job slicing: three slices of one inventory run side by side through ansible-runner, as AWX's
execution nodes run a sliced job (each with its part of the inventory and the workflow's job id), one
of them interrupted; every slice puts its run report in the shared report store, and the merge gives
one report of the whole job: every host exactly once, the worst status, the interrupted slice named.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from harness.ansible import BIN, REPO, run_playbook
from harness.monitoring import Pushgateway
from harness.procs import descendants

HOSTS = [f"node{i:02d}" for i in range(1, 10)]
SLICES = 3
WORKFLOW_JOB = "4711"

PLAYBOOK = """
- name: One slice of the fleet
  hosts: all
  gather_facts: false
  tasks:
    - name: Probe the disk
      runbook.ops.health_probe:
        probes:
          - {name: root disk, kind: disk, path: /}
      register: probe
    - name: Keep the probe for the run report (the shape the health role gives it)
      ansible.builtin.set_fact:
        health_results: {probes: "{{ probe }}"}
    - name: Wait for the file that never comes (the slice that is interrupted)
      ansible.builtin.wait_for:
        path: "{{ hold_file }}"
        timeout: 600
      when: hold_file is defined
"""


def _slice_dir(tmp: Path, number: int, hosts: list[str], store: Path, hold: Path | None,
               pushgateway: str | None = None) -> Path:
    """A private data directory as AWX lays out one slice job: its hosts, the workflow's variables."""
    pdd = tmp / f"slice{number}"
    for sub in ("project", "inventory", "env"):
        (pdd / sub).mkdir(parents=True)
    (pdd / "project" / "slice.yml").write_text(PLAYBOOK)
    (pdd / "project" / "ansible.cfg").write_text(
        f"[defaults]\ncollections_path = {REPO / 'collections'}\ncallbacks_enabled = runbook.ops.run_report\n")
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    (pdd / "inventory" / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {h: local for h in hosts}}}))
    extra = {"awx_job_id": 100 + number, "awx_workflow_job_id": int(WORKFLOW_JOB),
             "runbook_report_store": str(store), "runbook_report_slice_count": SLICES,
             "runbook_report_dir": str(pdd / "reports"), "runbook_report_name": "fleet"}
    if hold:
        extra["hold_file"] = str(hold)
    if pushgateway:
        extra["runbook_pushgateway_url"] = pushgateway
    (pdd / "env" / "extravars").write_text(yaml.safe_dump(extra))
    return pdd


def _start(pdd: Path) -> subprocess.Popen:
    env = {"PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin", "HOME": str(pdd), "LANG": "C.UTF-8", "TMPDIR": str(pdd)}
    return subprocess.Popen([str(BIN / "ansible-runner"), "run", str(pdd), "-p", "slice.yml", "--ident", "job", "-q"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _waiting(pdd: Path) -> bool:
    """Whether the slice's hosts have reached the task that waits (its runner_on_start events)."""
    events = pdd / "artifacts" / "job" / "job_events"
    for path in events.glob("*.json") if events.is_dir() else []:
        try:
            doc = json.loads(path.read_text())
        except ValueError:
            continue  # being written
        data = doc.get("event_data", {})
        if doc.get("event") == "runner_on_start" and str(data.get("task_action", "")).endswith("wait_for"):
            return True
    return False


def _interrupt(proc: subprocess.Popen) -> None:
    """Ctrl-C to ansible-playbook, as an execution node going away sends it (the runner's child)."""
    def is_playbook(pid: int) -> bool:
        try:
            return "ansible-playbook" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return False

    def parent(pid: int) -> int:
        return int(Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[1])

    # the main process, not one of its fork workers (whose parent is ansible-playbook too)
    main = [pid for pid in descendants(proc.pid) if is_playbook(pid) and not is_playbook(parent(pid))]
    assert main, "no ansible-playbook process below ansible-runner"
    os.kill(main[0], signal.SIGINT)


@pytest.fixture
def slices(tmp_path):
    procs: list[subprocess.Popen] = []
    yield tmp_path, procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=30)


def test_three_slices_one_interrupted_merge_into_one_report(slices):
    tmp, procs = slices
    store = tmp / "store"
    hold = tmp / "never"
    parts = [HOSTS[i::SLICES] for i in range(SLICES)]  # AWX gives each slice every Nth host
    dirs = [_slice_dir(tmp, n + 1, parts[n], store, hold if n == 2 else None) for n in range(SLICES)]
    procs.extend(_start(d) for d in dirs)

    deadline = time.monotonic() + 300
    while not _waiting(dirs[2]):
        assert procs[2].poll() is None, procs[2].stdout.read()
        assert time.monotonic() < deadline, "slice 3 never reached its waiting task"
        time.sleep(0.2)
    _interrupt(procs[2])
    for p in procs:
        p.wait(timeout=300)
    assert [p.returncode for p in procs[:2]] == [0, 0], [p.stdout.read() for p in procs[:2]]
    assert procs[2].returncode != 0

    job_dir = store / "fleet" / WORKFLOW_JOB
    assert sorted(p.name for p in job_dir.glob("slice-*.json")) == ["slice-101.json", "slice-102.json", "slice-103.json"]

    # the workflow's merge step, with the whole inventory
    inventory = tmp / "all.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {h: {} for h in HOSTS}}}))
    run = run_playbook(REPO / "playbooks" / "merge_slices.yml", inventory=str(inventory), extra_vars={
        "runbook_report_store": str(store), "runbook_merge_name": "fleet", "runbook_report_job": WORKFLOW_JOB,
        "runbook_report_slice_count": SLICES, "runbook_report_dir": str(tmp / "merge-reports")})
    assert run.rc != 0, "a sliced job with an interrupted slice must fail its merge step"
    merged_files = sorted(job_dir.glob("fleet-*.json"))
    assert len(merged_files) == 1, merged_files
    report = json.loads(merged_files[0].read_text())

    names = [h["host"] for h in report["hosts"]]
    assert sorted(names) == HOSTS  # every host, exactly once
    assert report["status"] == "critical"
    sl = report["slices"]
    assert sl["count"] == 3 and sl["never_reported"] == 0 and sl["hosts_missing"] == []
    assert sl["failed"] == ["103"]
    assert {r["slice"]: r["interrupted"] for r in sl["reported"]} == {"101": False, "102": False, "103": True}
    assert any(p["where"] == "slices" and "slice 103 (job 4711) was interrupted" in p["message"]
               for p in report["problems"])
    by_host = {h["host"]: h for h in report["hosts"]}
    for host in parts[0] + parts[1]:
        assert by_host[host]["outcome"] == "ok", by_host[host]
    # the interrupted slice's hosts had probed the disk; the report keeps their probes
    probed = {p["host"] for p in report["probes"]}
    assert probed == set(HOSTS)
    assert "fleet" in run.stdout or "critical" in run.stdout


def test_a_slice_that_never_reported_names_its_hosts(tmp_path):
    """Two of three slices report (the third never started: no execution node): the merge names the hosts."""
    store = tmp_path / "store"
    parts = [HOSTS[i::SLICES] for i in range(SLICES)]
    for n in range(2):
        pdd = _slice_dir(tmp_path, n + 1, parts[n], store, None)
        proc = _start(pdd)
        out = proc.communicate(timeout=300)[0]
        assert proc.returncode == 0, out
    job_dir = store / "fleet" / WORKFLOW_JOB
    assert not list(job_dir.glob("fleet-*.json")), "2 of 3 slices: nothing is merged before the merge step"
    inventory = tmp_path / "all.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {h: {} for h in HOSTS}}}))
    # without the job's id: the merge step of a workflow takes the newest job of the schedule
    run = run_playbook(REPO / "playbooks" / "merge_slices.yml", inventory=str(inventory), extra_vars={
        "runbook_report_store": str(store), "runbook_merge_name": "fleet", "runbook_report_slice_count": SLICES})
    assert run.rc != 0
    report = json.loads(next(job_dir.glob("fleet-*.json")).read_text())
    assert sorted(h["host"] for h in report["hosts"]) == HOSTS
    missing = sorted(parts[2])
    assert report["slices"]["never_reported"] == 1
    assert report["slices"]["hosts_missing"] == missing
    for h in report["hosts"]:
        assert h["outcome"] == ("not_reached" if h["host"] in missing else "ok"), h
    assert report["status"] == "critical"
    assert any("1 of 3 slices never reported" in p["message"] for p in report["problems"])


def test_all_slices_healthy_the_last_one_merges_and_pushes_the_whole_job(tmp_path):
    """Every slice finishes: the last one to finish writes the merged report itself, and it is ok. The
    Pushgateway gets the whole job's metrics in the schedule's group, never one slice's part of it."""
    gateway = Pushgateway(tmp_path)
    try:
        store = tmp_path / "store"
        parts = [HOSTS[i::SLICES] for i in range(SLICES)]
        procs = [_start(_slice_dir(tmp_path, n + 1, parts[n], store, None, gateway.url)) for n in range(SLICES)]
        outs = [p.communicate(timeout=300)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], outs
        merged = list((store / "fleet" / WORKFLOW_JOB).glob("fleet-*.json"))
        assert len(merged) == 1
        report = json.loads(merged[0].read_text())
        assert sorted(h["host"] for h in report["hosts"]) == HOSTS
        assert report["status"] == "ok", report["problems"][:3]
        assert report["slices"]["failed"] == [] and report["slices"]["never_reported"] == 0
        groups = [g["labels"] for g in gateway.groups()]
        assert groups == [{"job": "runbook_ops", "schedule": "fleet"}], groups
        pushed = {line.split('host="', 1)[1].split('"', 1)[0] for line in gateway.metrics().splitlines()
                  if line.startswith("runbook_host_status{")}
        assert pushed == set(HOSTS)
    finally:
        gateway.stop()
