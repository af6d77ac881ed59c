# SPDX-License-Identifier: GPL-3.0-or-later
"""Run reports of a fleet, generated: what the callback runbook.ops.run_report hands to ``build_run`` at the
end of a run over N hosts (shared by the fleet-size tests and bench/run_report_fleet_bench.py).

Each host has the step results the roles set (``health_results``, ``pg_backup_results``,
``redis_results``) and the off-host copies the callback collects from runbook.ops.backup_copy,
built with the collection's own writers (ProbeResult, the backup manifest functions, copy_entry);
its backup history is read by ``backup_history`` from real manifests on disk, written by the
same functions pg_backup and redis_backup use. A few hosts are unreachable, a few failed (a dump
that did not finish), some have warning or critical probes and failed off-host copies.
"""
from __future__ import annotations

import copy
import datetime as dt
import hashlib
import os
import random
from dataclasses import dataclass
from pathlib import Path

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
from ansible_collections.runbook.ops.plugins.module_utils._offsite_manifest import copy_entry
from ansible_collections.runbook.ops.plugins.module_utils._probe_core import summarize
from ansible_collections.runbook.ops.plugins.module_utils._probe_schema import ProbeResult
from ansible_collections.runbook.ops.plugins.module_utils._run_report_read import backup_history

STAMP = "20261203T020000Z"
NOW = dt.datetime(2026, 12, 3, 2, 0, tzinfo=dt.timezone.utc)
HISTORY = 5  # backups per series on each host (daily, this run's is the last)
DEST = "s3://backups-eu/runbook"


@dataclass
class Fleet:
    host_reports: list[dict]
    run: dict
    unreachable: list[str]
    failed: list[str]

    @property
    def hosts(self) -> list[str]:
        return [r["host"] for r in self.host_reports]


def host_name(i: int) -> str:
    return f"{('db', 'cache', 'app')[i % 3]}-{('fra1', 'ams2', 'par1')[i // 3 % 3]}-{i:04d}.example.net"


def _manifests(directory: Path, kind: str, name: str, sizes: list[int]) -> None:
    """HISTORY backups of one series with manifests, one a day, the way the backup modules write them."""
    directory.mkdir(parents=True, exist_ok=True)
    for n, size in enumerate(sizes):
        finished = NOW - dt.timedelta(days=len(sizes) - 1 - n, seconds=-40)
        final = directory / B.backup_basename(name, finished, ".dump" if kind == "postgres" else ".rdb")
        content = f"{kind} {name} {n}".encode()
        final.write_bytes(content)
        # the file on disk is small and matches its manifest entry (the backup is complete); the size the
        # report shows is a real backup's
        files = [{"path": final.name, "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}]
        details = ({"database": name, "database_size": size * 3, "tables": 12, "total_rows": size // 10,
                    "row_counts": {"public.orders": size // 20, "public.users": size // 200}}
                   if kind == "postgres" else {"total_keys": size // 50})
        manifest = B.new_manifest(kind, name, str(final), finished - dt.timedelta(seconds=40), finished, files, details)
        manifest["size"] = size
        B.set_verification(manifest, "pg_restore_list" if kind == "postgres" else "rdb_check", True, when=finished)
        B.write_manifest(B.manifest_path_for(str(final)), manifest)


def _history_template(workdir: Path) -> list[dict]:
    """The backup history of one host as runbook.ops.backup_history returns it (read from the manifests)."""
    base = workdir / "template-host"
    _manifests(base / "postgres", "postgres", "app", [40_000_000 + n * 250_000 for n in range(HISTORY)])
    _manifests(base / "redis", "redis", "redis", [8_000_000 + n * 40_000 for n in range(HISTORY)])
    return backup_history([str(base / "postgres"), str(base / "redis")], limit=30)


def _probes(rng: random.Random, host: str, i: int, warn: bool, crit: bool) -> dict:
    probes = [
        ProbeResult("postgres", "tcp", "ok", "127.0.0.1:5432 accepts connections", latency_ms=rng.uniform(0.3, 4)),
        ProbeResult("redis", "tcp", "ok", "127.0.0.1:6379 accepts connections", latency_ms=rng.uniform(0.2, 3)),
        ProbeResult("disk /", "disk", "warning" if warn else "ok",
                    f"/ is {91 if warn else rng.randint(20, 70)}% full", value=91 if warn else 50, unit="%",
                    latency_ms=rng.uniform(0.1, 1)),
        ProbeResult("disk /var/lib/postgresql", "disk", "ok", "/var/lib/postgresql is 41% full", value=41, unit="%",
                    latency_ms=rng.uniform(0.1, 1)),
        ProbeResult("app health", "http", "critical" if crit else "ok",
                    f"https://{host}/healthz answered {503 if crit else 200}", value=503 if crit else 200,
                    latency_ms=rng.uniform(5, 120)),
    ]
    for p in probes:
        p.attempts = 3 if p.status == "critical" else 1
        p.duration_ms = p.latency_ms
    results = [p.as_dict() for p in probes]
    return {"probes": {"results": results, "summary": summarize(probes)}, "restarted": [], "after": None}


def _host(rng: random.Random, template: list[dict], i: int, kind: str) -> tuple[dict, dict]:
    """(host report, what the callback saw of the host)."""
    host = host_name(i)
    scale = 0.5 + rng.random() * 3
    if kind == "unreachable":
        seen = {"outcome": "unreachable", "reason": "", "failures": [{
            "play": "Daily", "role": "", "task": "Gathering Facts", "action": "gather_facts",
            "message": f"Failed to connect to the host via ssh: ssh: connect to host {host} port 22: Connection refused"}]}
        return {"results": {}, "backup_history": []}, seen
    history = []
    for e in copy.deepcopy(template):
        e["size"] = int(e["size"] * scale)
        if e["database_size"] is not None:
            e["database_size"] = int(e["database_size"] * scale)
        history.append(e)
    pg_new = next(e for e in reversed(history) if e["kind"] == "postgres")
    rd_new = next(e for e in reversed(history) if e["kind"] == "redis")
    pg_path = f"/var/backups/runbook/postgres/{pg_new['id']}"
    rd_path = f"/var/backups/runbook/redis/{rd_new['id']}"
    failures = []
    if kind == "failed":
        message = "pg_dump: error: query failed: server closed the connection unexpectedly"
        pg_backup = {"failed": True, "msg": message, "changed": False, "backups": []}
        failures.append({"play": "Daily", "role": "runbook.ops.pg_backup", "task": "Back up the databases",
                         "action": "pg_backup", "message": message})
        history = [e for e in history if e is not pg_new]
    else:
        pg_backup = {"changed": True, "backup_dir": os.path.dirname(pg_path), "would_create": [], "deleted": [],
                     "backups": [{"name": "app", "database": "app", "path": pg_path, "manifest": B.manifest_path_for(pg_path),
                                  "size": pg_new["size"], "sha256": "ab" * 32, "started_at": pg_new["finished_at"],
                                  "finished_at": pg_new["finished_at"], "duration_seconds": pg_new["duration_seconds"],
                                  "verified": "passed", "verification": {"method": "pg_restore_list"},
                                  "tables": 12, "total_rows": pg_new["size"] // 10}],
                     "retention": {"app": {"keep": [], "delete": [{
                         "id": f"app-{i}-old.dump", "finished_at": "2026-11-20T02:00:40.000000Z", "verified": True,
                         "reason": "beyond keep_last=5"}]}}}
    redis_backup = {"changed": True, "name": "redis", "source": "/var/lib/redis/dump.rdb", "retention": {},
                    "deleted": [], "backup": {"path": rd_path, "manifest": B.manifest_path_for(rd_path),
                                              "sha256": "cd" * 32, "size": rd_new["size"], "verified": "passed",
                                              "verification": {"method": "rdb_check"}, "total_keys": rd_new["total_keys"]}}
    copy_failed = kind == "copy_failed"
    copies = [copy_entry("redis", "redis", rd_path, DEST + "/redis", rd_new["size"], not copy_failed,
                         None if copy_failed else rd_new["finished_at"], "failed" if copy_failed else "copied",
                         "upload of 8.1 MB timed out after 300 s" if copy_failed else "", rd_new["id"])]
    if kind != "failed":
        copies.insert(0, copy_entry("postgres", "app", pg_path, DEST + "/postgres", pg_new["size"], True,
                                    pg_new["finished_at"], "copied", "", pg_new["id"]))
    results = {
        "health": _probes(rng, host, i, kind == "warning", kind == "critical"),
        "pg_backup": {"backup": pg_backup, "restore": None, "drill": None, "copy": None, "schedule": None},
        "redis": {"maintenance": {"changed": False, "memory": {
            "used_memory": int(rd_new["size"] * 1.7), "used_memory_peak": int(rd_new["size"] * 2.1),
            "maxmemory": 268_435_456, "maxmemory_policy": "allkeys-lru"}},
            "purges": [], "backup": redis_backup, "copy": None},
        "backup_copy": [{"changed": True, "destination": c["destination"], "copies": [c]} for c in copies],
    }
    outcome = "failed" if kind == "failed" else "changed"
    return {"results": results, "backup_history": history}, {"outcome": outcome, "reason": "", "failures": failures}


def kinds(n: int, seed: int = 25) -> list[str]:
    """Which hosts are unreachable, failed, warn, have a critical probe or a failed copy: about 2 %, 3 %, 8 %, 3 % and
    2 %, at least one of each from 50 hosts on, shuffled with ``seed``."""
    share = (("unreachable", 0.02), ("failed", 0.03), ("warning", 0.08), ("critical", 0.03), ("copy_failed", 0.02))
    out = []
    for kind, part in share:
        out += [kind] * max(1 if n >= 50 else 0, round(n * part))
    out += ["ok"] * (n - len(out))
    random.Random(seed).shuffle(out)
    return out[:n]


def fleet(n: int, workdir: Path, seed: int = 25) -> Fleet:
    """The host reports and the run of a daily run over ``n`` hosts (manifests written under ``workdir``)."""
    rng = random.Random(seed)
    template = _history_template(Path(workdir))
    reports, seen, failures = [], {}, []
    for i, kind in enumerate(kinds(n, seed)):
        host = host_name(i)
        rep, saw = _host(rng, template, i, kind)
        reports.append({"host": host, "schedule": "daily", "stamp": STAMP, "check_mode": False,
                        "source": None, **rep})
        seen[host] = saw
        if kind == "failed":
            failures.append({"host": host, "kind": "postgres", "name": "app", "message": saw["failures"][0]["message"]})
    run = {"playbook": "playbooks/daily.yml", "started_at": B.format_time(NOW),
           "finished_at": B.format_time(NOW + dt.timedelta(minutes=31)), "duration_seconds": 1860.0,
           "interrupted": False, "stopped": None, "check_mode": False, "hosts": seen, "backup_failures": failures}
    return Fleet(reports, run, [h for h, s in seen.items() if s["outcome"] == "unreachable"],
                 [h for h, s in seen.items() if s["outcome"] == "failed"])
