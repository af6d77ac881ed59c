# SPDX-License-Identifier: GPL-3.0-or-later
"""The README's demo: an embedded local stack and a schedule playbook run against it.

Starts in a temporary directory, on loopback: a real PostgreSQL (a small shop
database full of dead tuples and old audit rows), a real Redis (cache and
session keys), the sample app's HTTP service with its /health endpoint, and app
and nginx-style logs. Writes an inventory for this machine (connection local),
runs a schedule playbook (monthly.yml unless told otherwise; system updates are
left out: they would touch this machine's packages) and prints where the
run report is (its last line: the HTML report's link). Everything is stopped and removed at the
end, the temporary directory too (its inventory holds the demo's passwords), unless --keep is given.

    .venv/bin/python scripts/demo.py                                # playbooks/monthly.yml
    .venv/bin/python scripts/demo.py --playbook playbooks/weekly.yml --check
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness.postgres import APP_PASSWORD, APP_USER, SUPERUSER, SUPERUSER_PASSWORD, PostgresServer  # noqa: E402
from harness.net import free_port, wait_until  # noqa: E402
from harness.redis import RedisServer  # noqa: E402

SAMPLE_SQL = f"""
CREATE TABLE customers (id bigserial PRIMARY KEY, email text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers(id),
                     total numeric(10,2) NOT NULL, status text NOT NULL DEFAULT 'new',
                     created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE audit_log (id bigserial PRIMARY KEY, event text NOT NULL, created_at timestamptz NOT NULL);
CREATE INDEX orders_status_idx ON orders (status);
INSERT INTO customers (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, 20000) g;
INSERT INTO orders (customer_id, total, status)
  SELECT 1 + (g % 20000), (g % 500) + 0.99, 'new' FROM generate_series(1, 60000) g;
INSERT INTO audit_log (event, created_at)
  SELECT 'login', now() - (g || ' hours')::interval FROM generate_series(1, 5000) g;
-- the churn a busy week leaves behind: a third of the orders updated, old audit rows deleted
UPDATE orders SET status = 'shipped' WHERE id % 3 = 0;
DELETE FROM audit_log WHERE created_at < now() - interval '90 days';
GRANT SELECT ON ALL TABLES IN SCHEMA public TO {APP_USER};
"""


def start_stack(workdir: Path) -> tuple[PostgresServer, RedisServer]:
    print("[demo] starting PostgreSQL and Redis on loopback ...", flush=True)
    pg = PostgresServer().start()
    pg.psql("CREATE DATABASE shop")
    pg.psql(SAMPLE_SQL, database="shop")
    pg.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", database="shop")
    redis = RedisServer().start()
    client = redis.client()
    pipe = client.pipeline(transaction=False)
    for i in range(5000):
        pipe.set(f"cache:page:{i}", "x" * 64, ex=3600 if i % 2 else None)
    for i in range(500):
        pipe.set(f"session:{i}", "s")
    pipe.execute()
    print(f"[demo] PostgreSQL 127.0.0.1:{pg.port} (database shop), Redis 127.0.0.1:{redis.port}", flush=True)
    return pg, redis


def start_app(workdir: Path, pg: PostgresServer, redis: RedisServer) -> tuple[subprocess.Popen, str]:
    """The sample app's HTTP service (GET /health checks PostgreSQL and Redis)."""
    port = free_port()
    env = dict(os.environ, MYAPP_LISTEN=f"127.0.0.1:{port}",
               MYAPP_RELEASE_DIR=str(REPO / "tests" / "sampleapp" / "releases" / "v1"),
               MYAPP_DATABASE_URL=pg.dsn("shop"), MYAPP_REDIS_URL=f"redis://127.0.0.1:{redis.port}/0")
    log = open(workdir / "app-stdout.log", "wb")  # noqa: SIM115 - kept open for the child
    proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "sampleapp" / "myapp.py"), "serve"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/health"

    def healthy() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the sample app exited with {proc.returncode}")
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback
            return resp.status == 200

    wait_until(healthy, 30, "the sample app")
    print(f"[demo] sample app {url}", flush=True)
    return proc, url


def write_logs(workdir: Path) -> Path:
    """A month of app and nginx logs, with errors to summarise and an old rotated file to clean up."""
    logs = workdir / "log"
    logs.mkdir()
    (logs / "app.log").write_text("".join(
        f"2026-11-{10 + i % 9:02d} 10:{i % 60:02d}:00 ERROR order {1000 + i} failed: payment timeout\n"
        if i % 3 == 0 else f"2026-11-{10 + i % 9:02d} 10:{i % 60:02d}:00 INFO order {1000 + i} paid\n"
        for i in range(300)))
    (logs / "access.log").write_text("".join([
        '198.51.100.7 - - [20/Nov/2026:10:00:00 +0000] "GET /health HTTP/1.1" 200 2 "-" "curl" 0.002\n' * 20,
        '203.0.113.9 - - [20/Nov/2026:10:00:01 +0000] "GET /?q=%27%20OR%201=1-- HTTP/1.1" 403 1 "-" "x" 0.5\n' * 5,
        '203.0.113.9 - - [20/Nov/2026:10:00:02 +0000] "POST /login HTTP/1.1" 401 1 "-" "x" 0.1\n' * 12,
    ]))
    old = logs / "app.log.9.gz"
    old.write_bytes(b"")
    os.utime(old, (time.time() - 90 * 86400,) * 2)
    (workdir / "logrotate.d").mkdir()
    return logs


def write_inventory(workdir: Path, pg: PostgresServer, redis: RedisServer, app_url: str, logs: Path) -> Path:
    login = {"login_host": "127.0.0.1", "login_port": pg.port,
             "login_user": SUPERUSER, "login_password": SUPERUSER_PASSWORD}
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = {
        "all": {
            "vars": {
                "runbook_runtime": "systemd",
                "runbook_app_name": "shop",
                "runbook_services": [],  # nothing runs as a unit here: the stack is this script's children
                "runbook_pg_login": login,
                "runbook_pg_app_user": APP_USER,
                "runbook_pg_app_password": APP_PASSWORD,
                "runbook_redis_login": {"login_host": "127.0.0.1", "login_port": redis.port},
                "runbook_databases": ["shop"],
                "runbook_backup_dir": str(workdir / "backups"),
                "runbook_report_dir": str(REPO / "reports"),
                "runbook_monthly_system_update": False,
                "pg_maintenance_retention": [
                    {"database": "shop", "tables": [{"table": "audit_log", "column": "created_at", "older_than": "30d"}]}],
                "health_http_endpoints": [{"name": "shop /health", "url": app_url, "warn": 500, "crit": 2000}],
                "health_disk_paths": [str(workdir)],
                "logs_logrotate_dir": str(workdir / "logrotate.d"),
                "logs_logrotate_paths": [str(logs / "*.log")],
                "logs_cleanup_dirs": [str(logs)],
                "logs_summary_paths": [str(logs / "app.log")],
                "security_review_access_logs": [str(logs / "access.log")],
            },
            "children": {group: {"hosts": {"demo-host": host}} for group in ("postgres", "redis", "app", "web")},
        }
    }
    path = workdir / "inventory.json"
    path.write_text(json.dumps(inventory, indent=2))
    return path


def print_summary(schedule: str) -> None:
    """What the run did, from the run report it wrote; the last line is the HTML report's link."""
    pattern = re.compile(rf"^{re.escape(schedule)}-\d{{8}}T\d{{6}}Z\.json$")
    reports = sorted(p for p in (REPO / "reports").glob(f"{schedule}-*.json") if pattern.match(p.name))
    if not reports:
        print(f"[demo] no {schedule} run report was written")
        return
    data = json.loads(reports[-1].read_text())
    would = " (check mode: would be)" if data.get("check_mode") else ""
    hosts = ", ".join(f"{h['host']} {h['outcome']}" for h in data["hosts"])
    print(f"[demo] run status: {data['status']} ({hosts})")
    probes = data["probes"]
    if probes:
        counts = {s: sum(1 for p in probes if p["status"] == s) for s in ("ok", "warning", "critical")}
        print(f"[demo] health: {counts['ok']} ok, {counts['warning']} warning, {counts['critical']} critical")
    for db in data["vacuum"]["databases"]:
        # counted as the report's header and vacuum table count them
        changed = [t for t in data["vacuum"]["tables"] if t["changed"] and t["database"] == db["database"]]
        vacuumed = sum(1 for t in changed if "vacuum" in t["action"])
        print(f"[demo] pg_vacuum{would}: {vacuumed} vacuumed, {len(changed) - vacuumed} analyzed only of"
              f" {db['tables']} tables; dead tuples {db['dead_tuples_before']} -> {db['dead_tuples_after']}")
    rows: dict[str, int] = {}
    for row in data["retention"]["data"]:
        rows[row["database"]] = rows.get(row["database"], 0) + (row["rows"] or 0)
    for database, n in rows.items():
        print(f"[demo] data retention{would}: {n} old rows deleted in {database}")
    for h in data["hosts"]:
        deleted = ((h.get("results") or {}).get("logs") or {}).get("deleted")
        if deleted:
            print(f"[demo] old log files deleted{would}: {len(deleted)}")
    for problem in data["problems"]:
        print(f"[demo] {problem['severity']}: {problem['host']} {problem['where']}: {problem['message']}")
    print(f"[demo] report: {reports[-1].with_suffix('.html').as_uri()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--playbook", default="playbooks/monthly.yml")
    parser.add_argument("--check", action="store_true", help="run the playbook in check mode")
    parser.add_argument("--keep", action="store_true", help="leave the stack running (prints how to stop it)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="runbook-demo-"))
    pg = redis = app = None
    rc = 1
    try:
        pg, redis = start_stack(workdir)
        app, app_url = start_app(workdir, pg, redis)
        inventory = write_inventory(workdir, pg, redis, app_url, write_logs(workdir))
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
                   PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
        argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), args.playbook]
        if args.check:
            argv.append("--check")
        print(f"[demo] {' '.join(argv[1:])}", flush=True)
        rc = subprocess.run(argv, cwd=REPO, env=env, check=False).returncode
        print(f"[demo] ansible-playbook exited {rc}")
    finally:
        if args.keep:
            print(f"[demo] left running: PostgreSQL in {pg and pg.basedir}, Redis in {redis and redis.basedir};"
                  f" inventory {workdir}/inventory.json (it holds the demo's passwords: remove {workdir} when done)")
        else:
            if app is not None:
                app.terminate()
                app.wait(timeout=10)
            for server in (pg, redis):
                if server is not None:
                    server.stop()
            # the inventory in it holds the demo's passwords
            shutil.rmtree(workdir, ignore_errors=True)
            print("[demo] stack stopped and removed")
    print_summary(Path(args.playbook).stem)
    return rc


if __name__ == "__main__":
    sys.exit(main())
