# SPDX-License-Identifier: GPL-3.0-or-later
"""One real demo history for the run report tests: the schedule playbooks run against the real
PostgreSQL and Redis of the test session (connection local), in this order:

backup x3 (the database grows between runs; keep_last 2 for backups and run reports) ->
daily --check -> weekly (vacuum, report, Redis purge) -> monthly (probes, vacuum, full report).

The database holds tables whose names are markup (``<script>...``, ``<img src=...>`` pointing at a
canary HTTP server started here), as an application could name them. The canary records every
request it receives, so a report that made the browser fetch anything would be caught."""
from __future__ import annotations

import json
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# the collection as ansible_collections.runbook.ops (as tests/unit/conftest.py does)
_COLLECTIONS = str(Path(__file__).resolve().parents[3] / "collections")
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)

from harness.http import Canary  # noqa: E402
from rr_helpers import DB, EVIL_SCRIPT, PREFIX  # noqa: E402

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def closed_port():
    """A loopback port bound by this test and never listening: connections to it (SSH, HTTP) are refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture(scope="session")
def canary():
    server = Canary()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class DemoRun:
    base: Path
    inventory: str
    report_dir: Path
    metrics_dir: Path
    backup_dir: Path
    evil_img: str
    runs: dict = field(default_factory=dict)

    def run_report(self, name: str, index: int = -1) -> dict:
        """The run report (JSON) of the given run of a playbook."""
        return json.loads(Path(self.link(name, index)["json"]).read_text())

    def task(self, name: str, task: str, index: int = -1) -> list[dict]:
        """Results on localhost of the tasks named ``task`` (with or without the role prefix) of a run."""
        out = []
        for play in self.runs[name][index].data.get("plays", []):
            for entry in play.get("tasks", []):
                if entry["task"]["name"].split(" : ")[-1] == task and "localhost" in entry["hosts"]:
                    out.append(entry["hosts"]["localhost"])
        return out

    def link(self, name: str, index: int = -1) -> dict:
        """Paths of the run report: the summary the callback published as the custom stat runbook_run_report."""
        summary = self.runs[name][index].data.get("global_custom_stats", {}).get("runbook_run_report")
        assert summary, f"{name}: no run report was published"
        return {"html": summary["html"], "json": summary["json"], "url": "file://" + summary["html"],
                "status": summary["status"], "metrics": summary["metrics"], "summary": summary,
                "deleted": summary["deleted"]}


def _dirty(pg, evil_img: str) -> None:
    pg.psql("UPDATE orders SET v = v + 1 WHERE id <= 8000;"
            f' DELETE FROM "{EVIL_SCRIPT}" WHERE id IN (SELECT id FROM "{EVIL_SCRIPT}" ORDER BY id LIMIT 1500);'
            f' UPDATE "{evil_img}" SET id = id + 1;', database=DB)


@pytest.fixture(scope="session")
def demo_run(pg, redis_server, canary, tmp_path_factory, ansible_playbook_session):
    base = tmp_path_factory.mktemp("run_report")
    evil_img = f"<img src={canary.url}/pwn>"
    assert len(evil_img) <= 63
    pg.psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    pg.psql(f"CREATE DATABASE {DB}")
    pg.psql(
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;"  # the harness preloads it: slow queries are reported
        " CREATE TABLE orders (id int PRIMARY KEY, v int, note text); CREATE INDEX orders_note_idx ON orders (note);"
        " INSERT INTO orders SELECT g, 0, 'n' || g FROM generate_series(1, 20000) g; ANALYZE orders;"
        f' CREATE TABLE "{EVIL_SCRIPT}" (id int); INSERT INTO "{EVIL_SCRIPT}" SELECT generate_series(1, 6000);'
        f' ANALYZE "{EVIL_SCRIPT}";'
        f' CREATE TABLE "{evil_img}" (id int); INSERT INTO "{evil_img}" SELECT generate_series(1, 3000);'
        f' ANALYZE "{evil_img}";',
        database=DB,
    )
    client = redis_server.client()
    client.mset({f"{PREFIX}cache:{i}": "x" * 200 for i in range(3000)})
    client.mset({f"{PREFIX}session:{i}": "s" for i in range(50)})
    login = pg.login()
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    demo = DemoRun(base=base, inventory=str(base / "hosts.yml"), report_dir=base / "reports",
                   metrics_dir=base / "textfile", backup_dir=base / "backups", evil_img=evil_img)
    inventory = {"all": {
        "vars": {
            "runbook_runtime": "systemd",
            "runbook_pg_login": login,
            "runbook_databases": [DB],
            "runbook_redis_login": redis_server.conn_args(),
            "runbook_report_dir": str(demo.report_dir),
            "runbook_metrics_dir": str(demo.metrics_dir),
            "runbook_report_keep_last": 2,
            "runbook_backup_dir": str(demo.backup_dir),
            "pg_backup_keep_last": 2,
            "redis_backup_keep_last": 2,
            "runbook_monthly_system_update": False,
            "runbook_services": [],
            "health_disk_paths": [str(base)],
            "health_disk_warn": 99,
            "health_disk_crit": 100,
            "health_extra_probes": [{"name": f"app {EVIL_SCRIPT}", "kind": "command", "argv": ["true"]}],
            "redis_purges": [{"patterns": [f"{PREFIX}cache:*"]}],
            "pg_maintenance_report_limit": 5,
        },
        "children": {"postgres": {"hosts": {"localhost": local}}, "redis": {"hosts": {"localhost": local}}},
    }}
    Path(demo.inventory).write_text(yaml.safe_dump(inventory))

    def run(name: str, check: bool = False):
        result = ansible_playbook_session(REPO / "playbooks" / f"{name}.yml", inventory=demo.inventory, check=check,
                                          env={"ANSIBLE_SHOW_CUSTOM_STATS": "1"})
        assert result.rc == 0, result.stdout[-4000:]
        demo.runs.setdefault(name + ("_check" if check else ""), []).append(result)
        return result

    try:
        for i in range(3):
            run("backup")
            pg.psql(f"INSERT INTO orders SELECT g, 0, repeat('grow', 20) FROM generate_series({20001 + i * 20000},"
                    f" {40000 + i * 20000}) g", database=DB)
        _dirty(pg, evil_img)
        run("daily", check=True)
        run("weekly")
        _dirty(pg, evil_img)
        run("monthly")
        yield demo
    finally:
        pg.psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        keys = list(client.scan_iter(f"{PREFIX}*", count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture(scope="session")
def ansible_playbook_session():
    from harness.ansible import run_playbook

    return run_playbook
