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

Order per pair: one untimed warm-up pg_dump (so both sides read a warm cache),
then A, then B, each into an empty directory, one run each. B is timed twice:
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


def bare_dump(pg: PostgresServer, out: str, fmt: str, jobs: int = 1) -> float:
    argv = [os.path.join(pg.bindir, "pg_dump"), "-F", fmt, "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres",
            "-d", DB, "-f", out]
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


def pair(pg: PostgresServer, work: str, label: str, fmt_letter: str, module_args: dict, jobs: int = 1) -> dict:
    warm = os.path.join(work, f"warm-{label}")
    bare_dump(pg, warm, fmt_letter, jobs)
    shutil.rmtree(warm, ignore_errors=True) if os.path.isdir(warm) else os.unlink(warm)
    bare_out = os.path.join(work, f"bare-{label}")
    t_bare = bare_dump(pg, bare_out, fmt_letter, jobs)
    size_bare = du(bare_out)
    mod_dir = os.path.join(work, f"mod-{label}")
    args = dict(pg.conn_args(), backup_dir=mod_dir, databases=[DB], **module_args)
    t_mod, result = module_direct(args)
    b = result["backups"][0]
    size_mod = b["size"]
    # the same through the ansible CLI, for reference (another fresh directory)
    cli_dir = os.path.join(work, f"cli-{label}")
    t0 = time.perf_counter()
    r = run_module("pg_backup", dict(args, backup_dir=cli_dir))
    t_cli = time.perf_counter() - t0
    if r.failed:
        raise RuntimeError(r["msg"])
    with open(b["manifest"], encoding="utf-8") as fh:
        manifest = json.load(fh)
    out = {
        "label": label, "bare_s": t_bare, "module_s": t_mod, "cli_s": t_cli, "ratio": t_mod / t_bare,
        "bare_bytes": size_bare, "module_bytes": size_mod, "files": len(b["files"]),
        "dump_s": b["duration_seconds"], "verify_s": b["verification"].get("duration_seconds"),
        "verified": b["verified"], "tables": manifest["postgres"]["tables"],
        "rows": manifest["postgres"]["total_rows"],
    }
    for p in (bare_out, mod_dir, cli_dir):
        shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else os.unlink(p)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=50)
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
            pair(pg, work, "custom", "c", {"format": "custom", "verify": "list"}),
            pair(pg, work, "directory-j2", "d", {"format": "directory", "jobs": 2, "verify": "list"}, jobs=2),
        ]
        print()
        print(f"{'format':<14}{'bare pg_dump':>14}{'pg_backup':>12}{'ratio':>8}{'  (ansible CLI)':>16}"
              f"{'bare size':>12}{'backup size':>13}{'verify':>9}  rows counted")
        for r in rows:
            print(f"{r['label']:<14}{r['bare_s']:>12.2f} s{r['module_s']:>10.2f} s{r['ratio']:>8.3f}{r['cli_s']:>14.2f} s"
                  f"{r['bare_bytes'] / 2**20:>9.1f} MiB{r['module_bytes'] / 2**20:>10.1f} MiB"
                  f"{(r['verify_s'] or 0):>7.2f} s  {r['rows']} in {r['tables']} tables ({r['verified']})")
        print()
        for r in rows:
            print(f"{r['label']}: inside pg_backup, pg_dump + snapshot counts + sha256 + rename took {r['dump_s']:.2f} s "
                  f"(manifest started_at..finished_at), verify=list {(r['verify_s'] or 0):.2f} s")
        print(f"load average at the end: {os.getloadavg()[0]:.2f} (2 cores; other load skews the times)")
        print("ratio = pg_backup module process time / bare pg_dump time (goal <= 1.15); pg_backup includes snapshot "
              "row counts, fsync, sha256, manifest and verify=list.")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        pg.stop()


if __name__ == "__main__":
    main()
