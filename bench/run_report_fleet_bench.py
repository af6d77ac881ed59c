# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: the run report at fleet size, from generated host reports (tests/harness/fleet_reports.py).

    .venv/bin/python bench/run_report_fleet_bench.py [--hosts 100 1000] [--rounds 3] [--profile]

For each fleet size it times, median of ``--rounds``:

- merge: ``merge()`` of the host reports the callback hands over (the goal: < 2 s at 1,000 hosts);
- build: what the callback does at the end of a run (merge, JSON, HTML, metrics, files written);
- module: the module's path without the callback (reads one per-host JSON file per host, then builds);
- the HTML's size (goal: < 5 MB), and headless Chromium opening it from a file:// URL, a fresh browser
  each round, over the DevTools protocol: the page's own navigation timing (load event end), its first
  contentful paint, and the first frame drawn after the load event (goal: < 2 s, the later of load and
  first frame); then the host filter: one word typed, time until the next frame.

Timings are wall-clock on a shared machine: the load average is printed with them. ``--profile`` prints
where ``build_run`` spends its time at the largest size.
"""
from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "collections"))

# pylint: disable=wrong-import-position
from harness.browser import CHROMIUM, DevTools  # noqa: E402
from harness.fleet_reports import STAMP, fleet  # noqa: E402

from ansible_collections.runbook.ops.plugins.module_utils import _run_report as R  # noqa: E402
from ansible_collections.runbook.ops.plugins.module_utils._run_report_merge import merge  # noqa: E402

GOAL_MERGE_S = 2.0
GOAL_HTML_BYTES = 5_000_000
GOAL_BROWSER_S = 2.0
GOAL_HOSTS = 1000

FRAME_JS = "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now()))))"
NAV_JS = ("(() => { const n = performance.getEntriesByType('navigation')[0];"
          " const p = performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint');"
          " return [n.loadEventEnd, p ? p.startTime : null]; })()")
FILTER_JS = ("(() => { const i = document.getElementById('host-filter'); const t = performance.now();"
             " i.value = 'unreachable'; i.dispatchEvent(new Event('input'));"
             " return new Promise(r => requestAnimationFrame(() => r(performance.now() - t))); })()")


def timed(func, rounds: int) -> float:
    samples = []
    while len(samples) < rounds:
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def browser_round(html: Path, work: Path) -> dict:
    with DevTools(work) as browser:
        browser.open(html)
        frame_ms = browser.js(FRAME_JS)  # first: a small page can paint after its load event
        load_ms, fcp_ms = browser.js(NAV_JS)
        filter_ms = browser.js(FILTER_JS)
    return {"load": load_ms / 1000, "fcp": (fcp_ms or 0) / 1000, "frame": frame_ms / 1000, "filter": filter_ms / 1000}


def bench(hosts: int, rounds: int, base: Path, profile: bool) -> dict:
    work = base / f"fleet-{hosts}"
    generated = fleet(hosts, work / "gen")
    reports, run = generated.host_reports, generated.run
    out: dict = {"hosts": hosts}
    out["merge"] = timed(lambda: merge(reports, "daily", STAMP, None, run), rounds)
    out["build"] = timed(lambda: R.build_run(str(work / "reports"), "daily", STAMP, reports, run,
                                             str(work / "metrics"), 1), rounds)
    # the module's path: one per-host JSON file per host, as roles/report writes them
    files = []
    for rep in reports:
        path = work / "host-reports" / f"daily-{rep['host']}-{STAMP}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({k: v for k, v in rep.items() if k != "source"}, indent=2))
        files.append(str(path))
    out["module"] = timed(lambda: R.build(str(work / "module-reports"), "daily", STAMP, files, None, 1), rounds)
    done = R.build_run(str(work / "reports"), "daily", STAMP, reports, run, None, 1)
    html = Path(done["html_path"])
    out["html_bytes"] = html.stat().st_size
    out["json_bytes"] = Path(done["json_path"]).stat().st_size
    if CHROMIUM:
        runs = [browser_round(html, work / f"chromium-{n}") for n in range(rounds)]
        for key in ("load", "fcp", "frame", "filter"):
            out[key] = statistics.median(r[key] for r in runs)
    if profile:
        prof = cProfile.Profile()
        prof.runcall(R.build_run, str(work / "reports"), "daily", STAMP, reports, run, str(work / "metrics"), 1)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="profile build_run at the largest size")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory(prefix="run-report-fleet-bench-") as tmp:
        results = [bench(n, args.rounds, Path(tmp), args.profile and n == max(args.hosts)) for n in args.hosts]
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print("| hosts | merge | build (merge, JSON, HTML, metrics) | module (reads the files) | HTML | JSON "
          "| Chromium load | first paint | first frame after load | filter to frame |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        browser = (f"{r['load']:.2f} s | {r['fcp']:.2f} s | {r['frame']:.2f} s | {r['filter'] * 1000:.0f} ms"
                   if "load" in r else "- | - | - | -")
        print(f"| {r['hosts']:,} | {r['merge']:.2f} s | {r['build']:.2f} s | {r['module']:.2f} s "
              f"| {r['html_bytes'] / 1e6:.2f} MB | {r['json_bytes'] / 1e6:.1f} MB | {browser} |")
    print()
    ok = True
    big = [r for r in results if r["hosts"] >= GOAL_HOSTS]
    if not big:
        print(f"no run at {GOAL_HOSTS:,} hosts or more: the goals were not checked")
        return 1
    for r in big:
        checks = [(f"merge of {r['hosts']:,} hosts < {GOAL_MERGE_S:g} s", r["merge"] < GOAL_MERGE_S, f"{r['merge']:.2f} s"),
                  (f"HTML < {GOAL_HTML_BYTES / 1e6:g} MB", r["html_bytes"] < GOAL_HTML_BYTES,
                   f"{r['html_bytes'] / 1e6:.2f} MB")]
        if "load" in r:
            shown = max(r["load"], r["frame"])
            checks.append((f"Chromium load and first frame < {GOAL_BROWSER_S:g} s", shown < GOAL_BROWSER_S, f"{shown:.2f} s"))
        else:
            checks.append(("Chromium", False, "not installed (scripts/setup_browser.sh)"))
        for what, passed, value in checks:
            ok = ok and passed
            print(f"{'PASS' if passed else 'FAIL'}  {what}: {value}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
