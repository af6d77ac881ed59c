# SPDX-License-Identifier: GPL-3.0-or-later
"""The restore drill and certificate metrics from real runs: quarterly.yml backs up and drills a database of
the test session's real PostgreSQL and writes the drill's success time and duration to its textfile;
daily.yml probes the real PostgreSQL and Redis and a real TLS endpoint (a certificate from a CA made here,
expiring in 20 days) and pushes the certificate's expiry to Debian's prometheus-pushgateway. The labels
are the ones the alert rules and the dashboard use (tests/unit/monitoring/test_drill_cert_metrics.py fires
the rules on such lines with promtool)."""
from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from harness.ansible import run_playbook
from harness.http import probe_target
from harness.tls import make_tls, server_context

REPO = Path(__file__).resolve().parents[3]
DB = "drill_metrics"
LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}


@pytest.fixture(scope="module")
def tls_endpoint():
    files = make_tls(days=20.0)
    server = None
    try:
        server = probe_target(server_context(files))
        yield server, files
    finally:
        if server:
            server.stop()
        shutil.rmtree(files.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def database(pg):
    pg.psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    pg.psql(f"DROP DATABASE IF EXISTS {DB}_drill WITH (FORCE)")
    pg.psql(f"CREATE DATABASE {DB}")
    pg.psql("CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 300);", database=DB)
    try:
        yield DB
    finally:
        pg.psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        pg.psql(f"DROP DATABASE IF EXISTS {DB}_drill WITH (FORCE)")


def _run(base: Path, playbook: str, host_vars: dict, extra: dict, groups=("postgres",)) -> dict:
    inv = base / f"{playbook}.yml"
    inv.write_text(yaml.safe_dump({"all": {"vars": extra, "children": {
        g: {"hosts": {"db1": dict(LOCAL, **host_vars)}} for g in groups}}}))
    result = run_playbook(REPO / "playbooks" / playbook, inventory=str(inv), env={"ANSIBLE_SHOW_CUSTOM_STATS": "1"})
    summary = result.data.get("global_custom_stats", {}).get("runbook_run_report")
    assert summary, result.stdout[-3000:]
    return {"rc": result.rc, "stderr": result.stderr, "summary": summary,
            "report": json.loads(Path(summary["json"]).read_text())}


def _common(base: Path, pg, redis_server, schedule: str) -> dict:
    return {"runbook_runtime": "systemd", "runbook_pg_login": pg.login(), "runbook_databases": [DB],
            "runbook_redis_login": redis_server.conn_args(), "runbook_report_dir": str(base / "reports"),
            "runbook_metrics_dir": str(base / "metrics"), "runbook_backup_dir": str(base / "backups"),
            "runbook_services": [], "health_disk_paths": [str(base)], "health_disk_warn": 99, "health_disk_crit": 100,
            "logs_logrotate_enabled": False, "logs_cleanup_dirs": [], "logs_summary_paths": [],
            "runbook_report_name": schedule}


def _samples(text: str, name: str) -> dict[str, float]:
    """``{labels: value}`` of a metric family in a text exposition."""
    return {m.group(1): float(m.group(2)) for m in re.finditer(rf"^{name}\{{([^}}]*)\}} (\S+)$", text, re.M)}


def test_a_real_drill_writes_its_success_time_and_duration(tmp_path, pg, redis_server, database):
    before = dt.datetime.now(dt.timezone.utc).timestamp()
    run = _run(tmp_path, "quarterly.yml", {}, _common(tmp_path, pg, redis_server, "quarterly"))
    after = dt.datetime.now(dt.timezone.utc).timestamp()
    assert run["rc"] == 0, run["stderr"][-3000:]
    drill = run["report"]["drills"]
    assert [(d["source_database"], d["differences"]) for d in drill] == [(DB, 0)], drill
    text = (tmp_path / "metrics" / "runbook_quarterly.prom").read_text()
    labels = f'schedule="quarterly",host="db1",kind="postgres",name="{DB}"'
    success = _samples(text, "runbook_restore_drill_last_success_timestamp_seconds")
    duration = _samples(text, "runbook_restore_drill_duration_seconds")
    assert list(success) == [labels] and list(duration) == [labels], text
    assert before < success[labels] < after
    assert success[labels] == pytest.approx(dt.datetime.fromisoformat(
        drill[0]["finished_at"].replace("Z", "+00:00")).timestamp(), abs=1e-6)
    assert 0 < duration[labels] == drill[0]["duration_seconds"] < after - before


def test_a_real_tls_probe_pushes_the_certificate_expiry(tmp_path, pg, redis_server, tls_endpoint, gateway):
    server, files = tls_endpoint
    from cryptography import x509

    not_after = x509.load_pem_x509_certificate(Path(files.cert_path).read_bytes()).not_valid_after_utc.timestamp()
    extra = dict(_common(tmp_path, pg, redis_server, "daily"), runbook_pushgateway_url=gateway.url,
                 health_certificates=[{"name": "shop tls", "host": "127.0.0.1", "port": server.port}])
    run = _run(tmp_path, "daily.yml", {}, extra, groups=("postgres", "redis"))
    assert "not pushed" not in run["stderr"], run["stderr"][-3000:]
    kinds = {p["kind"]: p for p in run["report"]["probes"]}
    assert {"postgres", "redis", "certificate"} <= set(kinds), kinds
    # 20 days left: a warning by the probe's default thresholds (warn 30, crit 7)
    assert kinds["certificate"]["status"] == "warning" and kinds["certificate"]["cert_not_after"] == int(not_after)
    labels = 'schedule="daily",host="db1",probe="shop tls",kind="certificate"'
    for text in ((tmp_path / "metrics" / "runbook_daily.prom").read_text(), gateway.metrics()):
        found = _samples(text, "runbook_probe_cert_expiry_timestamp_seconds")
        # the Pushgateway adds its grouping labels (job, schedule, ...): the rule's labels are all there
        match = [v for k, v in found.items() if all(x in k.split(",") for x in labels.split(","))]
        assert match == [int(not_after)], text
