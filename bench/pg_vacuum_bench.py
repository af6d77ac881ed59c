# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: runbook.ops.pg_vacuum (threshold mode, through Ansible) against the
same VACUUM ANALYZE statements run directly with psql.

    .venv/bin/python bench/pg_vacuum_bench.py [--scale 20] [--churn-rows 2000000]

Starts its own PostgreSQL 15 with the test harness, loads `pgbench -i -s SCALE`
(pgbench vacuums its tables, so they stay below the thresholds) plus a table
`churn` of which a third of the rows is updated before each measured run.

Fairness: before anything is measured the churn table goes through one
untimed update + VACUUM ANALYZE cycle, so every measured run starts from the
same steady state (free space left by the previous cycle). Before each measured
run the same UPDATE of the same third of the rows makes the same number of dead
tuples, the script waits until the statistics show them, and runs CHECKPOINT so
no run pays for the other's dirty buffers. The runs alternate A B B A (A =
pg_vacuum, B = psql) so warm-cache and ordering effects fall on both sides.
The module's in-database time is the sum of the per-table durations it returns
(client-side time around each statement); psql's is the sum of its \\timing
lines (also client-side, per statement). Wall time is the whole process each
(ansible start-up, connection, statistics queries included for the module).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness.ansible import run_module  # noqa: E402  pylint: disable=wrong-import-position
from harness.net import wait_until  # noqa: E402  pylint: disable=wrong-import-position
from harness.postgres import SUPERUSER_PASSWORD, PostgresServer  # noqa: E402  pylint: disable=wrong-import-position

DB = "vacbench"
UPDATE = "UPDATE churn SET n = n + 1 WHERE id % 3 = 0"


def pg_env() -> dict:
    return dict(os.environ, PGPASSWORD=SUPERUSER_PASSWORD)


def psql(pg: PostgresServer, *commands: str, db: str = DB) -> str:
    argv = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(pg.port),
            "-U", "postgres", "-d", db]
    for c in commands:
        argv += ["-c", c]
    res = subprocess.run(argv, capture_output=True, text=True, env=pg_env(), check=False)
    if res.returncode != 0:
        raise RuntimeError(f"psql failed: {res.stderr}")
    return res.stdout


def n_tup_upd(pg: PostgresServer) -> int:
    out = psql(pg, "SELECT pg_stat_clear_snapshot()",
               "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'churn'")
    return int(out.split()[-1])


def make_dead_tuples(pg: PostgresServer, expected_rows: int) -> None:
    """The same UPDATE every time; wait until the statistics show it; CHECKPOINT."""
    before = n_tup_upd(pg)
    psql(pg, UPDATE)
    wait_until(lambda: n_tup_upd(pg) >= before + expected_rows, 60, "churn statistics")
    psql(pg, "CHECKPOINT")


def run_module_once(pg: PostgresServer) -> dict:
    args = pg.conn_args()
    args.update(databases=[DB], mode="vacuum_analyze")
    started = time.monotonic()
    res = run_module("pg_vacuum", args)
    wall = time.monotonic() - started
    if res.failed:
        raise RuntimeError(f"pg_vacuum failed: {res.result.get('msg')}")
    tables = res["databases"][0]["tables"]
    return {
        "wall": wall,
        "in_db": sum(t["duration"] for t in tables),
        "statements": res["statements"],
        "tables": tables,
    }


def run_psql_once(pg: PostgresServer, statements: list[str]) -> dict:
    argv = ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres",
            "-d", DB, "-c", "\\timing on"]
    for stmt in statements:
        argv += ["-c", stmt]
    started = time.monotonic()
    res = subprocess.run(argv, capture_output=True, text=True, env=pg_env(), check=False)
    wall = time.monotonic() - started
    if res.returncode != 0:
        raise RuntimeError(f"psql failed: {res.stderr}")
    times = [float(m) / 1000 for m in re.findall(r"^Time: ([0-9.]+) ms", res.stdout, re.M)]
    if len(times) != len(statements):
        raise RuntimeError(f"expected {len(statements)} timings from psql, got: {res.stdout}")
    return {"wall": wall, "in_db": sum(times)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--scale", type=int, default=20, help="pgbench -i scale factor (default 20)")
    ap.add_argument("--churn-rows", type=int, default=2_000_000, help="rows of the churn table (default 2M)")
    opts = ap.parse_args()
    third = opts.churn_rows // 3

    pg = PostgresServer().start()
    try:
        print(f"PostgreSQL {pg.version} on 127.0.0.1:{pg.port} (harness: fsync off, autovacuum off)")
        pg.psql(f"CREATE DATABASE {DB}")
        t0 = time.monotonic()
        subprocess.run([os.path.join(pg.bindir, "pgbench"), "-i", "-q", "-s", str(opts.scale), "-h", "127.0.0.1",
                        "-p", str(pg.port), "-U", "postgres", DB], check=True, capture_output=True, env=pg_env())
        psql(pg, "CREATE TABLE churn (id int PRIMARY KEY, n int NOT NULL, pad text NOT NULL)",
             f"INSERT INTO churn SELECT g, 0, repeat('x', 60) FROM generate_series(1, {opts.churn_rows}) g",
             "VACUUM ANALYZE")
        print(f"loaded pgbench -s {opts.scale} and churn ({opts.churn_rows} rows) in {time.monotonic() - t0:.1f} s")
        # untimed warm-up cycle: both measured sides start from the same steady state
        make_dead_tuples(pg, third)
        psql(pg, "VACUUM ANALYZE churn")

        runs: dict[str, list[dict]] = {"module": [], "psql": []}
        statements: list[str] = []
        for side in ("module", "psql", "psql", "module"):
            make_dead_tuples(pg, third)
            if side == "module":
                r = run_module_once(pg)
                if statements and r["statements"] != statements:
                    raise RuntimeError(f"selection changed between runs: {r['statements']} vs {statements}")
                statements = r["statements"]
                selected = [t for t in r["tables"] if t["changed"]]
                print(f"  pg_vacuum: {len(selected)} of {len(r['tables'])} tables over the thresholds;"
                      f" dead before {sum(t['dead_tuples_before'] for t in selected)},"
                      f" after {sum(t['dead_tuples_after'] for t in selected)};"
                      f" in-db {r['in_db']:.3f} s, wall {r['wall']:.3f} s")
            else:
                if not statements:
                    raise RuntimeError("the module run comes first and provides the statements")
                r = run_psql_once(pg, statements)
                print(f"  psql:      same {len(statements)} statement(s); in-db {r['in_db']:.3f} s,"
                      f" wall {r['wall']:.3f} s")
            runs[side].append(r)

        mod_db = sum(r["in_db"] for r in runs["module"])
        psql_db = sum(r["in_db"] for r in runs["psql"])
        mod_wall = sum(r["wall"] for r in runs["module"])
        psql_wall = sum(r["wall"] for r in runs["psql"])
        print("statements:", "; ".join(statements))
        print("fairness: same UPDATE of the same third of churn before every run (dead tuples "
              f"{third} each time), statistics waited for, CHECKPOINT before each run, one untimed warm-up "
              "cycle, order A B B A (A = pg_vacuum, B = psql)")
        print(f"in-database time, 2 runs each: pg_vacuum {mod_db:.3f} s, psql {psql_db:.3f} s,"
              f" ratio {mod_db / psql_db:.3f} (goal <= 1.3)")
        print(f"wall time, 2 runs each:        pg_vacuum {mod_wall:.3f} s, psql {psql_wall:.3f} s,"
              f" ratio {mod_wall / psql_wall:.3f} (ansible start-up included)")
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
