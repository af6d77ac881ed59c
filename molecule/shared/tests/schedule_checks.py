"""Checks of what the schedule playbooks did, shared by the molecule scenarios' testinfra tests.

A scenario's tests describe its hosts with a :class:`Stack` (where PostgreSQL,
Redis and the app's logs are, how to run psql / redis-cli there) and call these
functions. Everything is read from the real hosts (through podman exec) and from
the per-host JSON reports the playbooks wrote on the controller.
"""
from __future__ import annotations

import glob
import json
import os
import subprocess
from dataclasses import dataclass, field

SCHEDULES = ("daily", "weekly", "monthly", "backup", "quarterly", "restore")
# The report role writes on the controller (new report files on every run, by design).
CONTROLLER_ROLE = "runbook.ops.report : "
# daily.yml makes the nightly backup: a new backup on every run is its job, not drift
BY_DESIGN = ("runbook.ops.pg_backup : Back up, verify and apply retention",)


@dataclass
class Stack:
    """Where the parts of the sample stack are, for one scenario."""

    db: object  # testinfra host running PostgreSQL and Redis (or their containers)
    psql: str  # command prefix: psql as a superuser, reading -c / -tA options after it
    redis_cli: str  # command prefix: redis-cli with the password in REDISCLI_AUTH
    backup_dir: str  # pg_backup's directory on db (redis backups in <backup_dir>/redis)
    reports_by_host: dict = field(default_factory=dict)  # schedule -> hosts that must have a report


def report_dir() -> str:
    eph = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")
    assert eph, "run through molecule verify (MOLECULE_EPHEMERAL_DIRECTORY is not set)"
    return os.path.join(eph, "reports")


def reports(schedule: str, host: str) -> list[dict]:
    """Every JSON report of ``schedule`` for ``host``, oldest first."""
    paths = sorted(glob.glob(os.path.join(report_dir(), f"{schedule}-{host}-*.json")))
    out = []
    for p in paths:
        with open(p, encoding="utf-8") as fh:
            out.append(json.load(fh))
    return out


def latest_report(schedule: str, host: str) -> dict:
    found = reports(schedule, host)
    assert found, f"no {schedule} report for {host} in {report_dir()}"
    return found[-1]


def sql(stack: Stack, query: str, db: str = "myapp") -> str:
    return stack.db.check_output(f"{stack.psql} -d {db} -tAc \"{query}\"").strip()


def manifests(stack: Stack, directory: str) -> list[dict]:
    listing = stack.db.check_output(f"find {directory} -maxdepth 1 -name '*.manifest.json' | sort")
    return [json.loads(stack.db.file(p).content_string) for p in listing.split()]


def check_reports(stack: Stack) -> None:
    for schedule, hosts in stack.reports_by_host.items():
        for host in hosts:
            rep = latest_report(schedule, host)
            assert rep["schedule"] == schedule
            assert rep["host"] == host
            assert rep["check_mode"] is False


def check_daily_health(hosts: list[str], expected_probes: dict[str, list[str]]) -> None:
    for host in hosts:
        probes = latest_report("daily", host)["results"]["health"]["probes"]
        assert probes["summary"]["critical"] == 0, probes["summary"]
        names = {r["name"] for r in probes["results"]}
        missing = set(expected_probes.get(host, [])) - names
        assert not missing, f"{host}: probes {sorted(missing)} not run (ran {sorted(names)})"


def check_backups(stack: Stack, min_count: int, keep_last: int) -> None:
    """PostgreSQL backups: complete, verified, checksums match the files, retention kept at most keep_last."""
    pg = [m for m in manifests(stack, stack.backup_dir) if m["kind"] == "postgres" and m["name"] == "myapp"]
    assert min_count <= len(pg) <= keep_last, [m["id"] for m in pg]
    for m in pg:
        assert m["verified"] == "passed", m["verification"]
        assert m["postgres"]["row_counts"], m["postgres"]
        for f in m["files"]:
            path = os.path.join(stack.backup_dir, f["path"])
            digest = stack.db.check_output(f"sha256sum {path}").split()[0]
            assert digest == f["sha256"], f"{path}: sha256 {digest} != manifest {f['sha256']}"
            assert stack.db.file(path).size == f["size"]
            assert stack.db.file(path).mode == 0o600


def check_redis_backups(stack: Stack) -> None:
    rdir = os.path.join(stack.backup_dir, "redis")
    found = [m for m in manifests(stack, rdir) if m["kind"] == "redis"]
    assert found, f"no Redis backup manifest in {rdir}"
    for m in found:
        assert m["verified"] in ("passed", "skipped"), m["verification"]
        for f in m["files"]:
            path = os.path.join(rdir, f["path"])
            digest = stack.db.check_output(f"sha256sum {path}").split()[0]
            assert digest == f["sha256"], path


def check_drill_and_restore(stack: Stack, db_host: str) -> None:
    drill = latest_report("quarterly", db_host)["results"]["pg_backup"]["drill"]
    assert drill and all(d.get("failed") is not True for d in drill), drill
    assert all(d["row_count_differences"] == [] and d["tables_compared"] > 0 for d in drill), drill
    restore = latest_report("restore", db_host)["results"]["pg_backup"]["restore"]
    assert restore["target_database"] == "myapp_restored"
    assert restore["checksum"] == "ok"
    assert restore["row_count_differences"] == []
    # the drill's and the restore's databases really hold the data
    live = sql(stack, "SELECT count(*) FROM audit_log")
    for target in ("myapp_drill", "myapp_restored"):
        assert sql(stack, "SELECT count(*) FROM audit_log", db=target) == live


def check_retention(stack: Stack) -> None:
    assert sql(stack, "SELECT count(*) FROM audit_log WHERE created_at < now() - interval '90 days'") == "0"
    assert sql(stack, "SELECT count(*) FROM audit_log") == "1000"


def check_redis(stack: Stack) -> None:
    assert stack.db.check_output(f"{stack.redis_cli} --scan --pattern 'cache:*'").strip() == ""
    assert stack.db.check_output(f"{stack.redis_cli} EXISTS session:keep-me").strip() == "1"
    policy = stack.db.check_output(f"{stack.redis_cli} CONFIG GET maxmemory-policy").split()
    assert policy[-1] == "allkeys-lru"


def check_security_review(web_host: str) -> None:
    review = latest_report("weekly", web_host)["results"]["security_review"]
    text = json.dumps(review)
    assert "wp-login.php" in text or "suspicious" in text, text[:2000]


def run_playbook(playbook: str, *args: str) -> tuple[int, dict, str]:
    """Run ``playbooks/<playbook>`` against the scenario's inventory (molecule's own).

    Returns the exit code, the ansible.posix.json callback's output and stderr.
    """
    eph = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
    project = os.environ["MOLECULE_PROJECT_DIRECTORY"]
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    proc = subprocess.run(
        ["ansible-playbook", "-i", os.path.join(eph, "inventory"), os.path.join(project, "playbooks", playbook), *args],
        env=env, capture_output=True, text=True, check=False, cwd=project,
    )
    assert "{" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.returncode, json.loads(proc.stdout[proc.stdout.index("{"):]), proc.stderr


def task_results(out: dict):
    """(play name, task name, host, result) for every task result of a run."""
    for play in out["plays"]:
        for task in play["tasks"]:
            for host, res in task["hosts"].items():
                yield play["play"]["name"], task["task"]["name"], host, res


def failures(out: dict) -> list[tuple[str, str, str]]:
    """(host, task name, message) of every failed task result (not ignored)."""
    return [(host, task, str(res.get("msg", "")))
            for _play, task, host, res in task_results(out) if res.get("failed") and not res.get("ignore_errors")]


def rerun_changes(playbook: str) -> dict[str, list[str]]:
    """Run ``playbook`` again against the scenario's inventory; tasks that changed a managed host.

    Tasks of the report role (which writes new report files on the controller on
    every run, by design) and the nightly backup of daily.yml do not count.
    """
    rc, out, err = run_playbook(playbook)
    assert rc == 0, json.dumps(out.get("stats"), indent=1) + json.dumps(failures(out), indent=1) + err[-3000:]
    changed: dict[str, list[str]] = {}
    for _play, task, host, res in task_results(out):
        if res.get("changed") and not task.startswith(CONTROLLER_ROLE) and task not in BY_DESIGN:
            changed.setdefault(host, []).append(task)
    return changed
