# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: runbook.ops.pg_backup against bare pg_dump on a pgbench database.

    .venv/bin/python bench/pg_backup_bench.py [--scale 50]

Starts its own PostgreSQL 15 with the test harness and loads `pgbench -i -s
SCALE` (scale 50 is about 750 MB). Then, for the custom format:

  A  bare `pg_dump -Fc -f FILE` (gzip level 6, pg_dump's default), and
  B  pg_backup format=custom: snapshot export + exact row counts of every
     table in that snapshot (on a second connection while pg_dump runs),
     pg_dump --snapshot into a .partial file, fsync, sha256, rename, manifest,
     verify=list (sha256 re-read from disk + pg_restore --list).

and the same pair for format=directory with jobs=2 (`pg_dump -Fd -j 2`).
Last, the fixed cost whatever the size: both sides on an empty database.

Order per format: one untimed warm-up pg_dump (so both sides read a warm cache),
then --rounds rounds (default 3) of A, B and B with row_counts=false, each into an
empty directory; the medians are compared (one pair alone swings by about 0.05). B is timed twice:
the module process alone (the module file run directly with its JSON
arguments, as AnsiballZ runs it, without the ansible CLI), which is what the
ratio uses, and the whole `ansible localhost -m runbook.ops.pg_backup` call
(CLI start-up included) for reference.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness.ansible import ansible_env, run_module  # noqa: E402  pylint: disable=wrong-import-position
from harness.postgres import SUPERUSER_PASSWORD, PostgresServer  # noqa: E402  pylint: disable=wrong-import-position

DB = "backbench"


def env() -> dict:
    return dict(os.environ, PGPASSWORD=SUPERUSER_PASSWORD)


def du(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(r, f)) for r, _d, fs in os.walk(path) for f in fs)


def bare_dump(pg: PostgresServer, out: str, fmt: str, jobs: int = 1, db: str = DB) -> float:
    argv = [os.path.join(pg.bindir, "pg_dump"), "-F", fmt, "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres",
            "-d", db, "-f", out]
    if jobs > 1:
        argv += ["-j", str(jobs)]
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, env=env())
    return time.perf_counter() - t0


def module_direct(args: dict) -> tuple[float, dict]:
    """Run plugins/modules/pg_backup.py as a process with its arguments (what AnsiballZ does, minus the zip)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, fh)
        argfile = fh.name
    e = ansible_env({"PYTHONPATH": str(REPO / "collections")})
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(REPO / "plugins/modules/pg_backup.py"), argfile], capture_output=True,
                          text=True, env=e, check=False)
    elapsed = time.perf_counter() - t0
    os.unlink(argfile)
    result = json.loads(proc.stdout)
    if result.get("failed"):
        raise RuntimeError(f"pg_backup failed: {result.get('msg')}")
    return elapsed, result


def pair(pg: PostgresServer, work: str, label: str, fmt_letter: str, module_args: dict, jobs: int = 1,
         rounds: int = 3) -> dict:
    """``rounds`` interleaved runs of bare pg_dump, pg_backup and pg_backup row_counts=false; medians compared."""
    warm = os.path.join(work, f"warm-{label}")
    bare_dump(pg, warm, fmt_letter, jobs)
    remove(warm)
    bare_times, mod_times, nocount_times = [], [], []
    for i in range(rounds):
        bare_out = os.path.join(work, f"bare-{label}-{i}")
        bare_times.append(bare_dump(pg, bare_out, fmt_letter, jobs))
        size_bare = du(bare_out)
        remove(bare_out)
        mod_dir = os.path.join(work, f"mod-{label}-{i}")
        t_mod, result = module_direct(dict(pg.conn_args(), backup_dir=mod_dir, databases=[DB], **module_args))
        mod_times.append(t_mod)
        b = result["backups"][0]
        with open(b["manifest"], encoding="utf-8") as fh:
            manifest = json.load(fh)
        remove(mod_dir)
        nc_dir = os.path.join(work, f"nocount-{label}-{i}")
        t_nc, _nc = module_direct(dict(pg.conn_args(), backup_dir=nc_dir, databases=[DB], row_counts=False,
                                       **module_args))
        nocount_times.append(t_nc)
        remove(nc_dir)
    # the same through the ansible CLI, once, for reference
    cli_dir = os.path.join(work, f"cli-{label}")
    t0 = time.perf_counter()
    r = run_module("pg_backup", dict(pg.conn_args(), backup_dir=cli_dir, databases=[DB], **module_args))
    t_cli = time.perf_counter() - t0
    if r.failed:
        raise RuntimeError(r["msg"])
    remove(cli_dir)
    t_bare, t_mod, t_nc = median(bare_times), median(mod_times), median(nocount_times)
    return {
        "label": label, "bare_s": t_bare, "module_s": t_mod, "nocount_s": t_nc, "cli_s": t_cli,
        "ratio": t_mod / t_bare, "ratio_nocount": t_nc / t_bare,
        "rounds": list(zip(bare_times, mod_times, nocount_times)),
        "bare_bytes": size_bare, "module_bytes": b["size"], "files": len(b["files"]),
        "dump_s": b["duration_seconds"], "verify_s": b["verification"].get("duration_seconds"),
        "verified": b["verified"], "tables": manifest["postgres"]["tables"],
        "rows": manifest["postgres"]["total_rows"],
    }


def fixed_cost(pg: PostgresServer, work: str, rounds: int = 5) -> tuple[float, float]:
    """Medians of bare pg_dump -Fc and pg_backup (custom, verify=list) of an empty database."""
    pg.psql("CREATE DATABASE backbench_empty")
    bare_times, mod_times = [], []
    for i in range(rounds):
        bare_out = os.path.join(work, f"empty-bare-{i}")
        bare_times.append(bare_dump(pg, bare_out, "c", db="backbench_empty"))
        mod_dir = os.path.join(work, f"empty-mod-{i}")
        t_mod, _r = module_direct(dict(pg.conn_args(), backup_dir=mod_dir, databases=["backbench_empty"],
                                       format="custom", verify="list"))
        mod_times.append(t_mod)
        remove(bare_out)
        remove(mod_dir)
    return median(bare_times), median(mod_times)


def remove(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
        os.unlink(path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per format (medians are compared)")
    ns = ap.parse_args()
    pg = PostgresServer().start()
    work = tempfile.mkdtemp(prefix="pg-backup-bench-")
    try:
        pg.psql(f"CREATE DATABASE {DB}")
        t0 = time.perf_counter()
        subprocess.run([os.path.join(pg.bindir, "pgbench"), "-i", "-q", "-s", str(ns.scale), "-h", "127.0.0.1",
                        "-p", str(pg.port), "-U", "postgres", DB], check=True, env=env(), capture_output=True)
        size = int(pg.psql(f"SELECT pg_database_size('{DB}')"))
        print(f"pgbench -i -s {ns.scale}: {size / 2**20:.0f} MiB database, loaded in {time.perf_counter() - t0:.1f} s")
        rows = [
            pair(pg, work, "custom", "c", {"format": "custom", "verify": "list"}, rounds=ns.rounds),
            pair(pg, work, "directory-j2", "d", {"format": "directory", "jobs": 2, "verify": "list"}, jobs=2,
                 rounds=ns.rounds),
        ]
        print()
        print(f"medians of {ns.rounds} interleaved rounds")
        print(f"{'format':<14}{'bare pg_dump':>14}{'pg_backup':>12}{'ratio':>8}{'no counts':>12}{'ratio':>8}"
              f"{'  (ansible CLI)':>16}{'bare size':>12}{'backup size':>13}{'verify':>9}  rows counted")
        for r in rows:
            print(f"{r['label']:<14}{r['bare_s']:>12.2f} s{r['module_s']:>10.2f} s{r['ratio']:>8.3f}"
                  f"{r['nocount_s']:>10.2f} s{r['ratio_nocount']:>8.3f}{r['cli_s']:>14.2f} s"
                  f"{r['bare_bytes'] / 2**20:>9.1f} MiB{r['module_bytes'] / 2**20:>10.1f} MiB"
                  f"{(r['verify_s'] or 0):>7.2f} s  {r['rows']} in {r['tables']} tables ({r['verified']})")
        empty_bare, empty_mod = fixed_cost(pg, work)
        print(f"{'empty db':<14}{empty_bare:>12.2f} s{empty_mod:>10.2f} s   fixed cost of pg_backup "
              f"{empty_mod - empty_bare:.2f} s (python, ansible and psycopg start-up, connect, version checks, exit)")
        print()
        for r in rows:
            print(f"{r['label']} rounds (bare / pg_backup / no counts): "
                  + ", ".join(f"{b:.2f}/{m:.2f}/{n:.2f}" for b, m, n in r["rounds"]))
        for r in rows:
            print(f"{r['label']}: inside pg_backup, pg_dump + snapshot counts + sha256 + rename took {r['dump_s']:.2f} s "
                  f"(manifest started_at..finished_at), verify=list {(r['verify_s'] or 0):.2f} s")
        print(f"load average at the end: {os.getloadavg()[0]:.2f} (2 cores; other load skews the times)")
        print("ratio = pg_backup module process time / bare pg_dump time (goal <= 1.15); pg_backup includes snapshot "
              "row counts, fsync, sha256, manifest and verify=list; 'no counts' is the same with row_counts=false.")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        pg.stop()


if __name__ == "__main__":
    main()
