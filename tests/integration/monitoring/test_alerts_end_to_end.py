# SPDX-License-Identifier: GPL-3.0-or-later
"""A failed backup in a real run ends as an alert at a real Alertmanager receiver: daily.yml against the
test session's real PostgreSQL and Redis pushes its metrics to Debian's prometheus-pushgateway; Debian's
prometheus scrapes it and evaluates the rules the monitoring role renders (its template, every second);
Debian's prometheus-alertmanager, configured by the role's template, delivers to a local webhook receiver.
A healthy run of another schedule fires none of the runbook's alerts."""
from __future__ import annotations

import datetime as dt
import json
import re
import sys
import time
from pathlib import Path

import pytest
import yaml

from harness.ansible import run_module, run_playbook
from harness.monitoring import Alertmanager, Prometheus, Pushgateway, WebhookReceiver
from harness.net import wait_until

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles" / "monitoring"
DB = "alerts_e2e"
LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
RUNBOOK_URL = "https://docs.example.test/runbook/ops/README.md"
# the runbook's own alerts (the stack rules watch exporters this test does not run)
OWN = ("Runbook",)


def _render(template: str, dest: Path, variables: dict) -> Path:
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    res = run_module("ansible.builtin.template", {"src": str(ROLE / "templates" / template), "dest": str(dest)},
                     extra_vars=dict(defaults, **variables))
    assert not res.failed, res.result
    return dest


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    base = tmp_path_factory.mktemp("alerts_e2e")
    started = []
    try:
        receiver = WebhookReceiver()
        started.append(receiver)
        am_config = _render("alertmanager.yml.j2", base / "alertmanager.yml",
                            {"monitoring_alertmanager_webhook_url": receiver.url})
        alertmanager = Alertmanager(base, am_config)
        started.append(alertmanager)
        gateway = Pushgateway(base)
        started.append(gateway)
        rules = _render("runbook-ops.rules.yml.j2", base / "runbook-ops.rules.yml",
                        {"monitoring_runbook_url": RUNBOOK_URL, "monitoring_rules_interval": "1s"})
        (base / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager.port}"]}]}]},
            "scrape_configs": [{"job_name": "pushgateway", "honor_labels": True,
                                "static_configs": [{"targets": [f"127.0.0.1:{gateway.port}"]}]}]}))
        prometheus = Prometheus(base, base / "prometheus.yml")
        started.append(prometheus)
        yield base, gateway, prometheus, receiver
    finally:
        for server in reversed(started):
            server.stop()


@pytest.fixture(scope="module")
def runs(stack, pg, redis_server):
    base, gateway, _prometheus, _receiver = stack
    pg.psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    pg.psql(f"CREATE DATABASE {DB}")
    pg.psql("CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 500);", database=DB)
    not_a_dir = base / "not-a-directory"
    not_a_dir.write_text("x")

    def run(schedule: str, host: str, host_vars: dict) -> dict:
        common = {"runbook_runtime": "systemd", "runbook_pg_login": pg.login(), "runbook_databases": [DB],
                  "runbook_redis_login": redis_server.conn_args(), "runbook_report_dir": str(base / schedule / "reports"),
                  "runbook_metrics_dir": "", "runbook_backup_dir": str(base / schedule / "backups"),
                  "runbook_services": [], "health_disk_paths": [str(base)], "health_disk_warn": 99,
                  "health_disk_crit": 100, "logs_logrotate_enabled": False, "logs_cleanup_dirs": [],
                  "logs_summary_paths": [], "runbook_report_name": schedule, "runbook_pushgateway_url": gateway.url}
        inv = base / f"{schedule}.yml"
        inv.write_text(yaml.safe_dump({"all": {"vars": common, "children": {
            "postgres": {"hosts": {host: dict(LOCAL, **host_vars)}}}}}))
        result = run_playbook(REPO / "playbooks" / "daily.yml", inventory=str(inv), env={"ANSIBLE_SHOW_CUSTOM_STATS": "1"})
        summary = result.data.get("global_custom_stats", {}).get("runbook_run_report")
        assert summary, result.stdout[-3000:]
        assert "not pushed" not in result.stderr, result.stderr[-3000:]
        return {"rc": result.rc, "report": json.loads(Path(summary["json"]).read_text())}

    try:
        yield {"failed": run("daily", "dbfail", {"pg_backup_dir": str(not_a_dir)}),
               "healthy": run("daily_ok", "dbok", {})}
    finally:
        pg.psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


def _own(alerts):
    return [a for a in alerts if a["labels"]["alertname"].startswith(OWN)]


def test_a_failed_backup_fires_and_reaches_the_receiver(stack, runs):
    _base, _gateway, prometheus, receiver = stack
    assert runs["failed"]["rc"] != 0 and runs["failed"]["report"]["status"] == "critical"
    wanted = {"RunbookRunFailed", "RunbookHostFailed", "RunbookBackupFailed"}

    def firing():
        names = {a["labels"]["alertname"] for a in _own(prometheus.alerts()) if a["state"] == "firing"
                 and (a["labels"].get("schedule") == "daily" or a["labels"].get("host") == "dbfail")}
        return wanted <= names

    wait_until(firing, 90, "the failed run's alerts firing in Prometheus")
    alerts = {a["labels"]["alertname"]: a for a in _own(prometheus.alerts()) if a["state"] == "firing"}
    assert alerts["RunbookHostFailed"]["labels"]["host"] == "dbfail"
    assert alerts["RunbookBackupFailed"]["labels"]["name"] == DB
    for name in wanted:
        assert alerts[name]["labels"]["severity"] == "critical"
        assert alerts[name]["annotations"]["runbook_url"] == f"{RUNBOOK_URL}#alert-{name.lower()}"

    def delivered():
        got = {}
        for message in receiver.received:
            for a in message["json"].get("alerts", []):
                if a["status"] == "firing":
                    got[a["labels"]["alertname"]] = a
        return got

    # Alertmanager waits group_wait (30 s in the role's template) before the first notification of a group
    wait_until(lambda: wanted <= set(delivered()), 120, "Alertmanager's webhook notification")
    got = delivered()
    assert got["RunbookRunFailed"]["labels"]["schedule"] == "daily"
    assert got["RunbookHostFailed"]["labels"]["host"] == "dbfail"
    for name in wanted:
        assert got[name]["labels"]["severity"] == "critical"
        assert got[name]["annotations"]["runbook_url"] == f"{RUNBOOK_URL}#alert-{name.lower()}"


def test_a_healthy_run_fires_nothing(stack, runs):
    _base, _gateway, prometheus, _receiver = stack
    assert runs["healthy"]["rc"] == 0 and runs["healthy"]["report"]["status"] == "ok"
    # its metrics are in Prometheus, and every rule group has been evaluated on them since (3 s later)
    wait_until(lambda: prometheus.query('runbook_run_status{schedule="daily_ok"}'), 60, "the healthy run's metrics")
    seen = time.time()
    wait_until(lambda: all(_epoch(g["lastEvaluation"]) > seen + 3
                           for g in prometheus.get("/api/v1/rules")["data"]["groups"]), 60, "rule evaluations")
    mine = [a for a in _own(prometheus.alerts())
            if a["labels"].get("schedule") == "daily_ok" or a["labels"].get("host") == "dbok"]
    assert mine == []
    assert prometheus.query('runbook_run_status{schedule="daily_ok"}')[0]["value"][1] == "0"


def _epoch(stamp: str) -> float:
    """An RFC 3339 time of Prometheus's API (nanoseconds cut to microseconds) as Unix time."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", stamp)
    if not m:
        return 0.0
    frac = (m.group(2) or ".0")[:7]
    return dt.datetime.fromisoformat(m.group(1) + frac + ("+00:00" if m.group(3) == "Z" else m.group(3))).timestamp()
