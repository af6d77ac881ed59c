# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: runbook.ops.pg_backup against bare pg_dump on pgbench databases.

    .venv/bin/python bench/pg_backup_bench.py [--rounds 5] [--scales 50,150] [--formats custom,directory]

Runs a PostgreSQL 15 cluster of its own (Debian's binaries, the test harness's
settings) kept between runs under --cache-dir (default
/var/tmp/runbook-pg-backup-bench): `pgbench -i -s 50` (755 MiB) and `-s 150`
(2.2 GiB) are loaded once and reused while their size matches (--fresh
rebuilds them). Then, for each scale and format:

  A  bare `pg_dump -Fc -f FILE` (gzip level 6, pg_dump's default), or
     `pg_dump -Fd -j 2 -f DIR`;
  B  pg_backup format=custom (or directory, jobs=2), row_counts=true (the
     default), verify=list: pg_dump into a .partial file while a follower
     thread counts each table's rows in the archive pg_dump writes, fsync,
     sha256, rename, manifest, sha256 re-read + pg_restore --list;
  C  the same with row_counts=false.

One untimed warm-up pg_dump first (both sides read a warm cache), then
--rounds interleaved rounds of A, B, C, each into an empty directory; the
medians are compared. B and C are the module process alone: the module file
run directly with its JSON arguments (as AnsiballZ runs it, without the
ansible CLI; Python caches the bytecode of the collection's files as it does
by default). The whole `ansible localhost -m runbook.ops.pg_backup` call is
timed once for reference. Last, the fixed cost whatever the size: bare
`pg_dump -Fc` and pg_backup (custom, verify=list) of an empty database.

"client CPU" is the user+system CPU time of the processes each side started
(pg_dump, the module and its tools; the server's own CPU is not in it): it
moves much less than wall time when other work shares the machine.

Goals (issue 16): with row counts, ratio <= 1.10 at scale 50 and <= 1.05 at
scale 150 for both formats, fixed cost < 0.15 s.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
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
from harness.net import free_port, wait_until  # noqa: E402  pylint: disable=wrong-import-position
from harness.postgres import SUPERUSER_PASSWORD, PostgresServer  # noqa: E402  pylint: disable=wrong-import-position

GOALS = {50: 1.10, 150: 1.05}
FIXED_COST_GOAL = 0.15
EMPTY_DB = "backbench_empty"
FORMATS = {"custom": ("c", {"format": "custom", "verify": "list"}, 1),
           "directory": ("d", {"format": "directory", "jobs": 2, "verify": "list"}, 2)}


class CachedServer(PostgresServer):
    """The harness's server, with its cluster kept in ``cache_dir`` between runs."""

    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        self.cache_dir = cache_dir

    def start(self) -> "CachedServer":
        if not os.path.isfile(os.path.join(self.cache_dir, "data", "PG_VERSION")):
            super().start()  # initdb in a temporary directory, then move the stopped cluster to the cache
            self._pg_ctl("stop", "-m", "fast")
            shutil.rmtree(self.cache_dir, ignore_errors=True)
            os.makedirs(os.path.dirname(self.cache_dir) or ".", exist_ok=True)
            shutil.move(self.basedir, self.cache_dir)
        self.basedir = self.cache_dir
        if os.geteuid() == 0:
            self.run_as = "postgres"
        self.port = free_port()
        with open(os.path.join(self.datadir, "postgresql.conf"), "a", encoding="utf-8") as fh:
            fh.write(f"\nport = {self.port}\nunix_socket_directories = '{self.socket_dir}'\n")
        self._pg_ctl("start", "-l", os.path.join(self.basedir, "server.log"), "-t", "120")
        wait_until(self._ready, 60, "PostgreSQL")
        return self

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(self._cmd([os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir, "-w", *args]),
                       check=True, capture_output=True)

    def stop(self) -> None:  # keep the cluster
        if self.basedir and os.path.isdir(self.datadir):
            subprocess.run(self._cmd([os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir, "-m", "fast", "-w",
                                      "stop"]), capture_output=True, check=False)


class TempServer(PostgresServer):
    """--fresh: a throw-away cluster."""


def env() -> dict:
    return dict(os.environ, PGPASSWORD=SUPERUSER_PASSWORD)


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def du(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(r, f)) for r, _d, fs in os.walk(path) for f in fs)


def remove(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
        os.unlink(path)


def ensure_pgbench(pg: PostgresServer, scale: int) -> str:
    """Database ``bench_s<scale>`` holding `pgbench -i -s scale` (reused when it is there)."""
    db = f"bench_s{scale}"
    have = pg.psql(f"SELECT 1 FROM pg_database WHERE datname = '{db}'") == "1"
    if have:
        try:
            if int(pg.psql("SELECT count(*) FROM pgbench_branches", database=db)) == scale:
                return db
        except (RuntimeError, ValueError):
            pass
        pg.psql(f"DROP DATABASE {db} WITH (FORCE)")
    pg.psql(f"CREATE DATABASE {db}")
    t0 = time.perf_counter()
    subprocess.run([os.path.join(pg.bindir, "pgbench"), "-i", "-q", "-s", str(scale), "-h", "127.0.0.1",
                    "-p", str(pg.port), "-U", "postgres", db], check=True, env=env(), capture_output=True)
    print(f"loaded pgbench -i -s {scale} in {time.perf_counter() - t0:.0f} s", flush=True)
    return db


def bare_dump(pg: PostgresServer, db: str, out: str, fmt: str, jobs: int = 1) -> tuple[float, float]:
    argv = [os.path.join(pg.bindir, "pg_dump"), "-F", fmt, "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres",
            "-d", db, "-f", out]
    if jobs > 1:
        argv += ["-j", str(jobs)]
    c0, t0 = children_cpu(), time.perf_counter()
    subprocess.run(argv, check=True, env=env())
    return time.perf_counter() - t0, children_cpu() - c0


def module_direct(args: dict) -> tuple[float, float, dict]:
    """Run plugins/modules/pg_backup.py as a process with its arguments (what AnsiballZ does, minus the zip)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, fh)
        argfile = fh.name
    e = ansible_env({"PYTHONPATH": str(REPO / "collections")})
    e.pop("PYTHONDONTWRITEBYTECODE", None)
    c0, t0 = children_cpu(), time.perf_counter()
    proc = subprocess.run([sys.executable, str(REPO / "plugins/modules/pg_backup.py"), argfile], capture_output=True,
                          text=True, env=e, check=False)
    elapsed, cpu = time.perf_counter() - t0, children_cpu() - c0
    os.unlink(argfile)
    result = json.loads(proc.stdout)
    if result.get("failed"):
        raise RuntimeError(f"pg_backup failed: {result.get('msg')}")
    return elapsed, cpu, result


def pair(pg: PostgresServer, work: str, db: str, scale: int, fmt: str, rounds: int) -> dict:
    """``rounds`` interleaved runs of bare pg_dump, pg_backup and pg_backup row_counts=false; medians compared."""
    letter, module_args, jobs = FORMATS[fmt]
    label = f"s{scale}-{fmt}"
    warm = os.path.join(work, f"warm-{label}")
    bare_dump(pg, db, warm, letter, jobs)
    remove(warm)
    bare, mod, nocount = [], [], []
    size_bare, b, manifest = 0, {}, {}
    for i in range(rounds):
        out = os.path.join(work, f"bare-{label}-{i}")
        bare.append(bare_dump(pg, db, out, letter, jobs))
        size_bare = du(out)
        remove(out)
        mod_dir = os.path.join(work, f"mod-{label}-{i}")
        t, cpu, result = module_direct(dict(pg.conn_args(), backup_dir=mod_dir, databases=[db], **module_args))
        mod.append((t, cpu))
        b = result["backups"][0]
        with open(b["manifest"], encoding="utf-8") as fh:
            manifest = json.load(fh)
        remove(mod_dir)
        nc_dir = os.path.join(work, f"nocount-{label}-{i}")
        t, cpu, _r = module_direct(dict(pg.conn_args(), backup_dir=nc_dir, databases=[db], row_counts=False,
                                        **module_args))
        nocount.append((t, cpu))
        remove(nc_dir)
        print(f"  {label} round {i + 1}: bare {bare[-1][0]:.2f} s, pg_backup {mod[-1][0]:.2f} s, "
              f"no counts {nocount[-1][0]:.2f} s (load {os.getloadavg()[0]:.2f})", flush=True)
    cli_dir = os.path.join(work, f"cli-{label}")
    t0 = time.perf_counter()
    r = run_module("pg_backup", dict(pg.conn_args(), backup_dir=cli_dir, databases=[db], **module_args))
    t_cli = time.perf_counter() - t0
    if r.failed:
        raise RuntimeError(r["msg"])
    remove(cli_dir)
    t_bare, t_mod, t_nc = (median(x[0] for x in v) for v in (bare, mod, nocount))
    pgm = manifest["postgres"]
    return {
        "label": label, "scale": scale, "format": fmt, "bare_s": t_bare, "module_s": t_mod, "nocount_s": t_nc,
        "cli_s": t_cli, "ratio": t_mod / t_bare, "ratio_nocount": t_nc / t_bare,
        "cpu_bare": median(x[1] for x in bare), "cpu_module": median(x[1] for x in mod),
        "cpu_nocount": median(x[1] for x in nocount),
        "rounds": [(x[0], y[0], z[0]) for x, y, z in zip(bare, mod, nocount)],
        "bare_bytes": size_bare, "module_bytes": b["size"], "files": len(b["files"]),
        "dump_s": b["duration_seconds"], "verify_s": b["verification"].get("duration_seconds"),
        "verified": b["verified"], "tables": pgm["tables"], "rows": pgm["total_rows"],
        "counted_from": pgm.get("row_counts_from"), "goal": GOALS.get(scale),
    }


def fixed_cost(pg: PostgresServer, work: str, rounds: int) -> dict:
    """Medians of bare pg_dump -Fc and pg_backup (custom, verify=list) of an empty database."""
    if pg.psql(f"SELECT 1 FROM pg_database WHERE datname = '{EMPTY_DB}'") != "1":
        pg.psql(f"CREATE DATABASE {EMPTY_DB}")
    module_direct(dict(pg.conn_args(), backup_dir=os.path.join(work, "empty-warm"), databases=[EMPTY_DB]))
    bare, mod = [], []
    for i in range(rounds):
        out = os.path.join(work, f"empty-bare-{i}")
        bare.append(bare_dump(pg, EMPTY_DB, out, "c"))
        mod_dir = os.path.join(work, f"empty-mod-{i}")
        t, cpu, _r = module_direct(dict(pg.conn_args(), backup_dir=mod_dir, databases=[EMPTY_DB], format="custom",
                                        verify="list"))
        mod.append((t, cpu))
        remove(out)
        remove(mod_dir)
    t_bare, t_mod = median(x[0] for x in bare), median(x[0] for x in mod)
    return {"bare_s": t_bare, "module_s": t_mod, "fixed_s": t_mod - t_bare,
            "cpu_bare": median(x[1] for x in bare), "cpu_module": median(x[1] for x in mod)}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(rows: list[dict], fixed: dict, rounds: int, load_start: tuple, started: float) -> bool:
    print()
    print(f"pg_backup vs bare pg_dump, medians of {rounds} interleaved rounds "
          f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs)")
    head = (f"{'database':<16}{'format':<14}{'bare pg_dump':>13}{'pg_backup':>11}{'ratio':>7}{'goal':>7}{'':>6}"
            f"{'no counts':>11}{'ratio':>7}{'client CPU s bare/backup':>26}{'backup size':>13}  rows counted")
    print(head)
    print("-" * len(head))
    ok = True
    for r in rows:
        passed = r["goal"] is None or r["ratio"] <= r["goal"]
        ok &= passed
        fmt = "custom" if r["format"] == "custom" else "directory -j2"
        print(f"{'pgbench s' + str(r['scale']):<16}{fmt:<14}{r['bare_s']:>11.2f} s{r['module_s']:>9.2f} s"
              f"{r['ratio']:>7.3f}{'<=' + format(r['goal'], '.2f') if r['goal'] else '':>7}{verdict(passed):>6}"
              f"{r['nocount_s']:>9.2f} s{r['ratio_nocount']:>7.3f}"
              f"{r['cpu_bare']:>15.2f} / {r['cpu_module']:<8.2f}{r['module_bytes'] / 2**20:>10.1f} MiB"
              f"  {r['rows']} in {r['tables']} tables ({r['counted_from']}, {r['verified']})")
    fixed_ok = fixed["fixed_s"] < FIXED_COST_GOAL
    ok &= fixed_ok
    print(f"{'empty database':<16}{'custom':<14}{fixed['bare_s']:>11.2f} s{fixed['module_s']:>9.2f} s"
          f"{'':>7}{'':>7}{'':>6}   fixed cost {fixed['fixed_s']:.3f} s (goal < {FIXED_COST_GOAL:.2f}): "
          f"{verdict(fixed_ok)}; client CPU {fixed['cpu_bare']:.3f} / {fixed['cpu_module']:.3f} s")
    print()
    for r in rows:
        print(f"{r['label']} rounds (bare / pg_backup / no counts): "
              + ", ".join(f"{b:.2f}/{m:.2f}/{n:.2f}" for b, m, n in r["rounds"])
              + f"; ansible CLI once {r['cli_s']:.2f} s; inside pg_backup: dump+counts+sha256+rename "
              f"{r['dump_s']:.2f} s, verify=list {(r['verify_s'] or 0):.2f} s; bare size {r['bare_bytes'] / 2**20:.1f} MiB")
    load_end = os.getloadavg()
    print(f"load average (1/5/15 min) at the start {load_start[0]:.2f}/{load_start[1]:.2f}/{load_start[2]:.2f}, "
          f"at the end {load_end[0]:.2f}/{load_end[1]:.2f}/{load_end[2]:.2f}; other load skews the wall times "
          f"(the client CPU columns much less); {time.perf_counter() - started:.0f} s in all")
    print(f"overall: {verdict(ok)}")
    return ok


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds per case (medians are compared)")
    ap.add_argument("--scales", default="50,150", help="pgbench scales, comma-separated")
    ap.add_argument("--formats", default="custom,directory", help="custom and/or directory")
    ap.add_argument("--cache-dir", default="/var/tmp/runbook-pg-backup-bench",
                    help="where the benchmark cluster is kept between runs")
    ap.add_argument("--fresh", action="store_true", help="a temporary cluster, loaded from scratch and removed")
    ns = ap.parse_args()
    scales = [int(s) for s in ns.scales.split(",") if s]
    formats = [f for f in ns.formats.split(",") if f]
    for f in formats:
        if f not in FORMATS:
            ap.error(f"--formats: {f} is not one of {', '.join(FORMATS)}")
    started, load_start = time.perf_counter(), os.getloadavg()
    pg = (TempServer() if ns.fresh else CachedServer(ns.cache_dir)).start()
    work = tempfile.mkdtemp(prefix="pg-backup-bench-")
    try:
        dbs = {scale: ensure_pgbench(pg, scale) for scale in scales}
        for scale, db in dbs.items():
            size = int(pg.psql(f"SELECT pg_database_size('{db}')"))
            print(f"{db}: {size / 2**20:.0f} MiB", flush=True)
        rows = [pair(pg, work, dbs[scale], scale, fmt, ns.rounds) for scale in scales for fmt in formats]
        fixed = fixed_cost(pg, work, max(5, ns.rounds))
        report(rows, fixed, ns.rounds, load_start, started)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        pg.stop()


if __name__ == "__main__":
    main()
