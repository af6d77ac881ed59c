# SPDX-License-Identifier: GPL-3.0-or-later
"""One truth with or without the callback: each schedule playbook run with one unreachable host and one
failing step, in the three configurations a user can have:

- ``enabled``: the callback runbook.ops.run_report enabled (the repository's ansible.cfg);
- ``auto``: an EMPTY ansible.cfg (a user's own): the playbooks load the callback themselves
  (playbooks/callback_plugins), so the report is the same full report;
- ``off``: an empty ansible.cfg and RUNBOOK_RUN_REPORT_AUTO=false: no callback at all; the report role
  writes a partial report, which says so and still names every host with its true outcome.

No report (JSON, HTML, metrics, set_stats) may say ok for the unreachable host or the host whose step
failed. Real PostgreSQL and Redis of the test session; the unreachable host is an SSH port where
nothing listens."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit"))
from test_run_report import parse_exposition, parse_html  # noqa: E402

from ansible_collections.runbook.ops.plugins.module_utils import _run_report_partial as P  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
DB = "rr_any_config"
LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
# playbook -> the step that fails on db3 (None: the playbook has no rescued steps, the host just fails)
PLAYBOOKS = {"daily": "pg_backup", "backup": "pg_backup", "weekly": "pg_maintenance",
             "monthly": "pg_maintenance", "quarterly": None}


@pytest.fixture(scope="module")
def setup(pg, redis_server, closed_port, tmp_path_factory):
    base = tmp_path_factory.mktemp("rr_any_config")
    pg.psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    pg.psql(f"CREATE DATABASE {DB}")
    pg.psql("CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t SELECT g, 0 FROM generate_series(1, 2000) g;",
            database=DB)
    login = pg.conn_args()
    login.pop("login_db")
    (base / "empty.cfg").write_text("")
    (base / "not-a-directory").write_text("x")
    yield base, login, closed_port
    pg.psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    pg.psql(f"DROP DATABASE IF EXISTS {DB}_drill WITH (FORCE)")


def _inventory(base: Path, name: str, login: dict, closed_port: int, redis_login: dict) -> str:
    """db1 healthy, db2 unreachable, db3 whose step fails: its backup dir is a file (backup steps), or its
    PostgreSQL port refuses (maintenance steps); cache1 healthy (Redis)."""
    down = {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": closed_port,
            "ansible_user": "nobody", "ansible_ssh_common_args": "-o ConnectTimeout=5 -o BatchMode=yes"}
    failing = dict(LOCAL, pg_backup_dir=str(base / "not-a-directory")) if PLAYBOOKS[name] != "pg_maintenance" \
        else dict(LOCAL, runbook_pg_login=dict(login, login_port=closed_port))
    common = {
        "runbook_runtime": "systemd", "runbook_pg_login": login, "runbook_databases": [DB],
        "runbook_redis_login": redis_login, "runbook_backup_dir": str(base / "backups"),
        "runbook_services": [], "health_disk_paths": [str(base)], "health_disk_warn": 99, "health_disk_crit": 100,
        "logs_logrotate_enabled": False, "logs_cleanup_dirs": [], "logs_summary_paths": [],
        "security_review_access_logs": [], "pg_maintenance_retention": [],
        # the serial system update stops the whole run at an unreachable host (its purpose): see
        # test_run_report_failures for that case; here every play runs
        "runbook_monthly_system_update": False,
    }
    path = base / f"{name}.yml"
    path.write_text(yaml.safe_dump({"all": {"vars": common, "children": {
        "postgres": {"hosts": {"db1": LOCAL, "db2": down, "db3": failing}},
        "redis": {"hosts": {"cache1": LOCAL}}}}}, sort_keys=False))
    return str(path)


def _run(setup, redis_server, name: str, mode: str):
    from harness.ansible import run_playbook

    base, login, closed_port = setup
    reports = base / mode / name
    env = {"ANSIBLE_SHOW_CUSTOM_STATS": "1"}
    if mode != "enabled":
        # a user's own, empty ansible.cfg: nothing enables the callback; the collection is installed somewhere
        env.update(ANSIBLE_CONFIG=str(base / "empty.cfg"), ANSIBLE_COLLECTIONS_PATH=str(REPO / "collections"),
                   ANSIBLE_HOST_KEY_CHECKING="False")
    if mode == "off":
        env["RUNBOOK_RUN_REPORT_AUTO"] = "false"
    inventory = _inventory(base, name, login, closed_port, redis_server.conn_args())
    result = run_playbook(REPO / "playbooks" / f"{name}.yml", inventory=inventory, env=env,
                          extra_vars={"runbook_report_dir": str(reports), "runbook_metrics_dir": str(reports / "metrics")})
    stats = result.data.get("global_custom_stats", {})
    summary = stats.get("runbook_run_report")
    assert summary, result.stdout[-3000:]
    return result, stats, summary, json.loads(Path(summary["json"]).read_text())


# every playbook without the callback; each once with the full report, through either way of getting it
# (the two run the same callback code)
CASES = [(name, "off") for name in PLAYBOOKS] + [("daily", "auto"), ("weekly", "auto"), ("quarterly", "auto"),
                                                 ("backup", "enabled"), ("monthly", "enabled")]


@pytest.mark.parametrize(("name", "mode"), CASES)
def test_no_report_says_ok_for_a_failed_or_unreachable_host(setup, redis_server, name, mode):
    result, stats, summary, report = _run(setup, redis_server, name, mode)
    step = PLAYBOOKS[name]
    assert result.rc != 0
    targeted = {"db1", "db2", "db3"} | ({"cache1"} if name in ("daily", "backup", "weekly", "monthly") else set())
    hosts = {h["host"]: h for h in report["hosts"]}
    assert set(hosts) == targeted, sorted(hosts)

    # the JSON: the two bad hosts fail the run, the healthy ones are ok
    bad = {"db2", "db3"}
    for h in bad:
        assert hosts[h]["status"] == "critical" and hosts[h]["outcome"] in ("failed", "unreachable"), hosts[h]
    for h in targeted - bad:
        assert hosts[h]["outcome"] in ("ok", "changed") and hosts[h]["status"] != "critical", hosts[h]
    assert report["status"] == "critical"
    if mode == "off":
        assert report["partial"] == P.PARTIAL
        # without the callback the unreachable host is listed from the inventory, without its message
        assert hosts["db2"]["outcome"] == "failed" and hosts["db2"]["reason"] == P.LOST
        if step:
            failure = hosts["db3"]["failures"][0]
            assert hosts["db3"]["outcome"] == "failed" and failure["message"].startswith(f"step {step} failed: ")
            assert failure["role"] == f"runbook.ops.{step}" and failure["play"] and failure["task"]
        else:  # quarterly: no rescued steps, db3 failed before the report play
            assert hosts["db3"]["reason"] == P.LOST
        assert "the run report callback is off (auto = false)" in result.stdout
    else:
        assert report["partial"] is None
        assert hosts["db2"]["outcome"] == "unreachable" and "Connection refused" in hosts["db2"]["reason"]
        assert hosts["db3"]["outcome"] == "failed" and hosts["db3"]["failures"][0]["message"]
        assert "the run report callback is off" not in result.stdout
    if step == "pg_backup":
        assert [(s["host"], s["name"]) for s in report["backup_series"] if s["last_failure"]] == [("db3", DB)]

    # the HTML: the bad hosts first, and partial said where it is
    page = Path(summary["html"]).read_text()
    rows = [a["class"].split()[1] for t, a in parse_html(page).tags if t == "details" and a.get("class", "").startswith("host ")]
    assert len(rows) == len(targeted) and set(rows[:2]) <= {"host-failed", "host-unreachable"}, rows
    assert ("Partial report" in page) is (mode == "off")
    assert "host-ok" not in rows[:2]

    # the metrics
    metrics = parse_exposition(Path(summary["metrics"]).read_text())

    def metric(metric_name, **labels):
        return metrics[(metric_name, tuple(sorted(dict(labels, schedule=name).items())))]

    assert metric("runbook_run_status") == 2 and metric("runbook_run_partial") == (1 if mode == "off" else 0)
    for h in bad:
        assert metric("runbook_host_status", host=h) == 2
        assert metric("runbook_host_outcome", host=h, outcome=hosts[h]["outcome"]) == 1
    assert metric("runbook_host_status", host="db1") < 2

    # the AWX artifacts (set_stats, per_host false)
    assert summary["status"] == "critical" and summary["partial"] == report["partial"]
    assert sorted(summary["failed_hosts"]) == ["db2", "db3"] and summary["hosts"]["db1"] != "critical"
    if mode == "off" and step:
        assert stats["runbook_reports"]["db3"]["failed_steps"] == [step]
