# SPDX-License-Identifier: GPL-3.0-or-later
"""redis_purge against the runbook pipeline and the SCAN floor.

Own redis-server on loopback; 1,000,000 keys, 500,000 of them `cache:*`
(loaded with `redis-cli --pipe`). Timed, reloading the data before each:
  1. runbook pipeline: redis-cli --scan --pattern 'cache:*' | xargs redis-cli DEL
  2. SCAN floor: one SCAN pass with MATCH cache:* and the module's COUNT (redis-py + hiredis)
  3. redis_purge through `ansible localhost -m runbook.ops.redis_purge` (wall time and the
     module's own `duration`)
2 and 3 alternate --repeat times (default 3) and their medians are compared: on a 2-core
machine one pair alone swings the ratio by about 0.05.
A second process sends PING in a loop during 1 and 3 and reports p50/p99/max latency.
Run: .venv/bin/python bench/redis_purge_bench.py [--keys 1000000] [--scan-count 1000]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness.ansible import ansible_env  # noqa: E402
from harness.redis import RedisServer  # noqa: E402

import redis  # noqa: E402


def resp(*parts: bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for p in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(p), p))
    return b"".join(out)


def make_load(total: int, matching: int) -> bytes:
    chunks = []
    for i in range(total):
        name = b"cache:%d" % i if i < matching else b"data:%d" % i
        chunks.append(resp(b"SET", name, b"v"))
    return b"".join(chunks)


def load(port: int, payload: bytes) -> None:
    r = redis.Redis(port=port)
    r.flushall()
    subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=payload, check=True, capture_output=True)
    r.close()


def pinger(port: int, stop, out) -> None:
    c = redis.Redis(port=port)
    lat = []
    while not stop.is_set():
        t0 = time.perf_counter()
        c.ping()
        lat.append(time.perf_counter() - t0)
        time.sleep(0.001)
    out.put(lat)


class PingMonitor:
    def __init__(self, port: int) -> None:
        self.stop = mp.Event()
        self.out: mp.Queue = mp.Queue()
        self.proc = mp.Process(target=pinger, args=(port, self.stop, self.out))

    def __enter__(self):
        self.proc.start()
        time.sleep(0.2)  # let the pinger connect before timing starts
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.lat = sorted(self.out.get())
        self.proc.join()

    def summary(self) -> dict:
        lat = self.lat

        def q(frac: float) -> float:
            return lat[min(len(lat) - 1, int(frac * len(lat)))] * 1000

        return {"pings": len(lat), "p50_ms": round(q(0.50), 3), "p99_ms": round(q(0.99), 3), "max_ms": round(lat[-1] * 1000, 3)}


def timed(fn):
    t0 = time.perf_counter()
    res = fn()
    return time.perf_counter() - t0, res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--scan-count", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3, help="rounds of floor + module (medians are compared)")
    args = ap.parse_args()
    matching = args.keys // 2
    srv = RedisServer().start()
    port = srv.port
    try:
        payload = make_load(args.keys, matching)
        t_load, _unused = timed(lambda: load(port, payload))
        c = redis.Redis(port=port)
        print(f"redis-server {c.info('server')['redis_version']} on port {port}; {args.keys} keys, "
              f"{matching} match cache:* (load {t_load:.2f}s); hiredis: {redis.utils.HIREDIS_AVAILABLE}")

        # 1. runbook pipeline
        with PingMonitor(port) as pm_pipe:
            t_pipe, _unused = timed(lambda: subprocess.run(
                f"redis-cli -p {port} --scan --pattern 'cache:*' | xargs redis-cli -p {port} DEL > /dev/null",
                shell=True, check=True))
        left = c.dbsize()
        assert left == args.keys - matching, left

        # 2 and 3, interleaved --repeat times: the SCAN floor, then redis_purge through ansible;
        # the ratio uses the median of each (a single pair swings by +-0.05 on a 2-core machine)
        def scan_only() -> int:
            n, cursor = 0, 0
            while True:
                cursor, keys = c.scan(cursor, match="cache:*", count=args.scan_count)
                n += len(keys)
                if cursor == 0:
                    return n

        module_args = {"login_host": "127.0.0.1", "login_port": port, "patterns": ["cache:*"],
                       "scan_count": args.scan_count}
        argv = [str(REPO / ".venv/bin/ansible"), "localhost", "-m", "runbook.ops.redis_purge", "-a", json.dumps(module_args)]
        scans, modules, walls, pings = [], [], [], []
        for _round in range(args.repeat):
            load(port, payload)
            t_scan, seen = timed(scan_only)
            assert seen >= matching
            scans.append(t_scan)
            load(port, payload)
            with PingMonitor(port) as pm_mod:
                t_ansible, proc = timed(lambda: subprocess.run(argv, cwd=REPO, env=ansible_env(), capture_output=True,
                                                               text=True, check=False))
            out = json.loads(proc.stdout[proc.stdout.find("{"):])
            res = out["plays"][0]["tasks"][0]["hosts"]["localhost"]
            assert res.get("deleted") == matching, res
            assert c.dbsize() == args.keys - matching
            modules.append(res["duration"])
            walls.append(t_ansible)
            pings.append(pm_mod.summary())
        t_scan, t_module, t_ansible = median(scans), median(modules), median(walls)
        ping = sorted(pings, key=lambda p: p["p99_ms"])[len(pings) // 2]
        worst_p99 = max(p["p99_ms"] for p in pings)

        # ansible's own start-up cost: a no-op module run
        t_noop, _unused = timed(lambda: subprocess.run(
            [str(REPO / ".venv/bin/ansible"), "localhost", "-m", "ansible.builtin.ping"],
            cwd=REPO, env=ansible_env(), capture_output=True, check=True))

        print()
        print(f"{'runbook pipeline (redis-cli --scan | xargs DEL)':52s} {t_pipe:7.3f} s   PING {pm_pipe.summary()}")
        print(f"{'SCAN-only floor (redis-py, COUNT %d), median' % args.scan_count:52s} {t_scan:7.3f} s   "
              f"runs: {' '.join(f'{x:.3f}' for x in scans)}")
        print(f"{'redis_purge, module duration, median':52s} {t_module:7.3f} s   "
              f"runs: {' '.join(f'{x:.3f}' for x in modules)}")
        print(f"{'':52s}           PING (median run) {ping}")
        print(f"{'redis_purge, ansible wall time, median':52s} {t_ansible:7.3f} s   (ansible ping module: {t_noop:.3f} s)")
        print(f"  batches {res['batches']}, method {res['method']}, used_memory {res['used_memory_before']} -> {res['used_memory_after']}")
        print()
        print(f"speed-up vs pipeline (module duration)   {t_pipe / t_module:6.2f}x   goal >= 4x")
        print(f"speed-up vs pipeline (ansible wall time) {t_pipe / t_ansible:6.2f}x")
        print(f"module duration / SCAN floor             {t_module / t_scan:6.2f}x   goal <= 1.3x  "
              f"(per round: {' '.join(f'{m / f:.2f}' for m, f in zip(modules, scans))})")
        print(f"PING p99 during redis_purge              {ping['p99_ms']:6.2f} ms  goal < 5 ms  (worst round {worst_p99:.2f} ms)")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
