"""Faults on a real systemd host: a stopped service, a full backup disk (playbooks run for real)."""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time

import pytest
import testinfra

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "shared", "tests"))
import schedule_checks as sc  # noqa: E402

HOST = "f1"
BACKUP_DIR = "/var/backups/runbook"
FILLER = f"{BACKUP_DIR}/filler.bin"


@pytest.fixture(scope="module")
def host():
    return testinfra.get_host(f"podman://{HOST}")


def _backups(host) -> dict[str, str]:
    """Every file of every backup in BACKUP_DIR (PostgreSQL and Redis) -> its sha256 on disk, checked against the manifests."""
    out = {}
    for m in sc.manifests(sc.Stack(db=host, psql="", redis_cli="", backup_dir=BACKUP_DIR), BACKUP_DIR) + \
            sc.manifests(sc.Stack(db=host, psql="", redis_cli="", backup_dir=BACKUP_DIR), f"{BACKUP_DIR}/redis"):
        base = BACKUP_DIR if m["kind"] == "postgres" else f"{BACKUP_DIR}/redis"
        for f in m["files"]:
            path = f"{base}/{f['path']}"
            digest = host.check_output(f"sha256sum {path}").split()[0]
            assert digest == f["sha256"], path
            out[path] = digest
    return out


def test_the_older_backups_exist(host):
    files = _backups(host)
    assert any(p.endswith(".dump") or "myapp" in p for p in files), files
    assert any("/redis/" in p for p in files), files


def test_stopped_service_fails_daily_naming_it(host):
    host.check_output("systemctl stop redis-server")
    try:
        rc, out, err = sc.run_playbook("daily.yml")
        assert rc != 0, "daily.yml passed with redis-server stopped"
        failed = sc.failures(out)
        assert failed, err[-2000:]
        hosts = {h for h, _t, _m in failed}
        assert hosts == {HOST}, failed
        msgs = " ".join(m for _h, _t, m in failed)
        assert "service redis-server" in msgs, failed
        assert "postgresql@15-main" not in msgs, failed  # only the stopped service is named
        # the report of the failing host was still written, with the probe's own message
        probes = sc.latest_report("daily", HOST)["results"]["health"]["probes"]
        bad = {r["name"]: r for r in probes["results"] if r["status"] == "critical"}
        assert "service redis-server" in bad, json.dumps(probes["summary"])
    finally:
        host.check_output("systemctl start redis-server")
    # and with the service back, daily passes again
    rc, out, err = sc.run_playbook("daily.yml")
    assert rc == 0, json.dumps(sc.failures(out), indent=1)


def test_full_backup_disk_fails_backup_clearly_and_keeps_older_backups(host):
    before = _backups(host)
    assert before
    free_kib = int(host.check_output(f"df --output=avail -k {BACKUP_DIR} | tail -1"))
    host.check_output(f"fallocate -l {max(free_kib - 256, 1)}KiB {FILLER}")
    try:
        rc, out, err = sc.run_playbook("backup.yml")
        assert rc != 0, "backup.yml passed on a full disk"
        failed = sc.failures(out)
        msgs = " ".join(m for _h, _t, m in failed)
        assert f"not enough space in {BACKUP_DIR}" in msgs, failed
        # nothing half-written left behind, the older backups untouched and still valid; the
        # PostgreSQL failure does not stop the host's Redis backup (it may fit in what is left)
        assert host.check_output(f"find {BACKUP_DIR} -name '.partial*'").strip() == ""
        during = _backups(host)
        assert before.items() <= during.items()
        assert not [p for p in set(during) - set(before) if "/redis/" not in p], set(during) - set(before)
    finally:
        host.check_output(f"rm -f {FILLER}")
    rc, out, err = sc.run_playbook("backup.yml")
    assert rc == 0, json.dumps(sc.failures(out), indent=1)
    after = _backups(host)
    assert set(before) < set(after)


FLAKY_UNIT = """[Unit]
Description=runbook.ops faults scenario: a service that dies a second after it starts

[Service]
ExecStart=/bin/sh -c 'sleep 1; exit 3'
Restart=always
RestartSec=200ms
"""


def _probe_units(units: list[str], settle: int) -> dict:
    """health_probe's systemd kind on the host, through Ansible; the results by probe name."""
    eph = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
    args = {"fail_on": "never", "probes": [
        {"name": unit, "kind": "systemd", "unit": unit, "settle_seconds": settle} for unit in units]}
    proc = subprocess.run(
        ["ansible", HOST, "-i", os.path.join(eph, "inventory"), "-m", "runbook.ops.health_probe", "-a", json.dumps(args)],
        env=dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1"),
        capture_output=True, text=True, check=False, cwd=os.environ["MOLECULE_PROJECT_DIRECTORY"],
    )
    out = json.loads(proc.stdout[proc.stdout.index("{"):])
    res = out["plays"][0]["tasks"][0]["hosts"][HOST]
    assert not res.get("failed"), res
    return {r["name"]: r for r in res["results"]}


def test_a_unit_that_dies_right_after_starting_fails_the_settle_check(host):
    """ansible/ansible#24450: 'started' is not 'running'. The unit is active when first read and
    restarted by systemd a second later; the probe must see that within its settle time."""
    host.check_output(f"printf %s {shlex.quote(FLAKY_UNIT)} > /etc/systemd/system/runbook-flaky.service")
    host.check_output("systemctl daemon-reload && systemctl start runbook-flaky.service")
    try:
        results = _probe_units(["runbook-flaky.service", "postgresql@15-main.service"], settle=3)
        flaky = results["runbook-flaky.service"]
        assert flaky["status"] == "critical", flaky
        assert "runbook-flaky.service" in flaky["message"], flaky
        # a unit that really stays up passes the same check
        assert results["postgresql@15-main.service"]["status"] == "ok", results
    finally:
        host.run("systemctl stop runbook-flaky.service; rm -f /etc/systemd/system/runbook-flaky.service;"
                 " systemctl daemon-reload")


def test_a_host_stopped_in_the_middle_of_a_run_is_in_the_run_report(host):
    """The container is stopped while a task runs on it: the callback's run report still names it."""
    eph = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
    project = os.environ["MOLECULE_PROJECT_DIRECTORY"]
    env = dict(os.environ, ANSIBLE_CALLBACKS_ENABLED="runbook.ops.run_report")
    proc = subprocess.Popen(
        ["ansible-playbook", "-i", os.path.join(eph, "inventory"),
         os.path.join(project, "molecule", "faults", "stop_mid_run.yml")],
        env=env, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        # (the [r] keeps pgrep from matching the shell that runs it)
        while host.run("pgrep -f 'AnsiballZ_wait_fo[r]'").rc != 0:
            assert proc.poll() is None and time.monotonic() < deadline, "the run never reached its waiting task"
            time.sleep(0.5)
        subprocess.run(["podman", "stop", "-t", "2", HOST], check=True, capture_output=True)
        out = proc.communicate(timeout=300)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        subprocess.run(["podman", "start", HOST], check=False, capture_output=True)
    assert proc.returncode != 0
    link = re.search(r"Run report \(critical\): file://(\S+)\.html", out)
    assert link, out[-3000:]
    report = json.loads(open(link[1] + ".json", encoding="utf-8").read())
    entry = {h["host"]: h for h in report["hosts"]}[HOST]
    assert entry["outcome"] in ("unreachable", "failed") and entry["status"] == "critical", entry
    plays = [f["play"] for f in entry["failures"]]
    assert "Stop mid run - a step that waits while the host goes away" in plays, entry["failures"]
    assert "health" in entry["steps"]  # what it did before it went away is kept
    # the host comes back for whatever runs after this test
    deadline = time.monotonic() + 120
    while subprocess.run(["podman", "exec", HOST, "systemctl", "is-system-running"], capture_output=True,
                         text=True, check=False).stdout.strip() not in ("running", "degraded"):
        assert time.monotonic() < deadline, "the host did not boot again"
        time.sleep(1)
