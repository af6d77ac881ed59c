# SPDX-License-Identifier: GPL-3.0-or-later
"""The README's demo: an embedded local stack and one playbook run against it.

Starts a real PostgreSQL (with a small shop database full of dead tuples) and a
real Redis (with cache and session keys) in a temporary directory on loopback,
writes an inventory for them (connection local), runs a schedule playbook from
playbooks/ and prints where its report is. Everything is stopped and removed at
the end unless --keep is given.

    .venv/bin/python scripts/demo.py                      # playbooks/demo.yml
    .venv/bin/python scripts/demo.py --playbook playbooks/demo.yml --check
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness.postgres import APP_PASSWORD, APP_USER, SUPERUSER, SUPERUSER_PASSWORD, PostgresServer  # noqa: E402
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


def write_inventory(workdir: Path, pg: PostgresServer, redis: RedisServer) -> Path:
    inventory = {
        "all": {
            "hosts": {
                "demo-host": {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": sys.executable,
                    "runbook_runtime": "systemd",
                    "runbook_pg_login": {
                        "login_host": "127.0.0.1",
                        "login_port": pg.port,
                        "login_user": SUPERUSER,
                        "login_password": SUPERUSER_PASSWORD,
                    },
                    "runbook_pg_app_user": APP_USER,
                    "runbook_pg_app_password": APP_PASSWORD,
                    "runbook_redis_login": {"login_host": "127.0.0.1", "login_port": redis.port},
                    "runbook_databases": ["shop"],
                    "runbook_backup_dir": str(workdir / "backups"),
                    "runbook_report_dir": str(REPO / "reports"),
                }
            }
        }
    }
    path = workdir / "inventory.json"
    path.write_text(json.dumps(inventory, indent=2))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--playbook", default="playbooks/demo.yml")
    parser.add_argument("--check", action="store_true", help="run the playbook in check mode")
    parser.add_argument("--keep", action="store_true", help="leave the stack running (prints how to stop it)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="runbook-demo-"))
    pg, redis = start_stack(workdir)
    try:
        inventory = write_inventory(workdir, pg, redis)
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
                   PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
        argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), args.playbook]
        if args.check:
            argv.append("--check")
        print(f"[demo] {' '.join(argv[1:])}", flush=True)
        rc = subprocess.run(argv, cwd=REPO, env=env, check=False).returncode
        print(f"[demo] ansible-playbook exited {rc}")
        return rc
    finally:
        if args.keep:
            print(f"[demo] left running: PostgreSQL in {pg.basedir}, Redis in {redis.basedir}; inventory {workdir}/inventory.json")
        else:
            pg.stop()
            redis.stop()
            print("[demo] stack stopped and removed")


if __name__ == "__main__":
    sys.exit(main())
