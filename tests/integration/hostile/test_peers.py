# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile conditions, class 1: a deadline that holds whatever the peer does.

Every probe kind that talks to a peer (http, websocket, tcp, certificate,
postgres, redis, celery) and every PostgreSQL and Redis module runs through
Ansible against real loopback servers that stay silent, drip one byte at a
time (well inside any per-read timeout), reset the connection, or stop in the
middle of the TLS handshake (tests/harness/hostile.py); and against peers that
connect well and then misbehave: a PostgreSQL server silent or dripping on the first
statement (statement_timeout), a Redis Cluster node silent or dripping on redis-py's
cluster discovery (connect_timeout). Each must return within
its documented bound (timeout + GRACE; asserted with a wide margin, never a
tight timing), be critical / failed with a message that says why, and leave no
process behind: every process the run started carries a marker in its
environment, and none with the marker may remain once ansible has returned.
"""
from __future__ import annotations

import os
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from harness.ansible import run_module, run_playbook
from harness.hostile import DRIP, MODES, HostilePeer, RedisClusterSeed

TIMEOUT = 2  # seconds: the probes' timeout, the modules' connect_timeout / socket_timeout
SLACK = 20  # seconds on top of a documented bound: ansible's own start-up on a busy machine; never flakes

# probe name -> (protocol the peer speaks when it drips, uses TLS)
TARGETS = {
    "http": ("http", False),
    "https": ("tls", True),
    "websocket": ("websocket", False),
    "wss": ("tls", True),
    "tcp": ("http", False),
    "certificate": ("tls", True),
    "postgres": ("postgres", False),
    "postgres_tls": ("postgres", True),
    "redis": ("redis", False),
    "redis_reply": ("redis_connected", False),  # dripping: connects fine, then the PING reply never ends
    "redis_tls": ("tls", True),
    "celery": ("redis", False),
}


def _peer(mode: str, protocol: str, tls: bool) -> HostilePeer:
    kw: dict = dict(DRIP[protocol]) if mode == "drip" else {}
    if mode == "tls_stall" and protocol == "postgres":
        kw["prefix"] = b"S"  # yes to SSLRequest, then a ServerHello that never completes
    return HostilePeer(mode, **kw).start()


def _probe(name: str, port: int) -> dict:
    base = {"name": name, "timeout": TIMEOUT}
    url_host = f"127.0.0.1:{port}"
    return base | {
        "http": {"kind": "http", "url": f"http://{url_host}/health"},
        "https": {"kind": "http", "url": f"https://{url_host}/health", "validate_certs": False},
        "websocket": {"kind": "websocket", "url": f"ws://{url_host}/ws"},
        "wss": {"kind": "websocket", "url": f"wss://{url_host}/ws", "validate_certs": False},
        "tcp": {"kind": "tcp", "host": "127.0.0.1", "port": port},
        "certificate": {"kind": "certificate", "host": "127.0.0.1", "port": port},
        "postgres": {"kind": "postgres", "login_host": "127.0.0.1", "login_port": port, "ssl_mode": "disable"},
        "postgres_tls": {"kind": "postgres", "login_host": "127.0.0.1", "login_port": port, "ssl_mode": "require"},
        "redis": {"kind": "redis", "login_host": "127.0.0.1", "login_port": port},
        "redis_reply": {"kind": "redis", "login_host": "127.0.0.1", "login_port": port},
        "redis_tls": {"kind": "redis", "login_host": "127.0.0.1", "login_port": port, "tls": True,
                      "validate_certs": False},
        "celery": {"kind": "celery", "broker_url": f"redis://{url_host}/0"},
    }[name]


def _marked() -> tuple[dict, str]:
    mark = uuid.uuid4().hex
    return {"RUNBOOK_HOSTILE_MARK": mark}, mark


def _leftovers(mark: str) -> list[str]:
    """Command lines of the processes still alive with ``mark`` in their environment."""
    needle = f"RUNBOOK_HOSTILE_MARK={mark}".encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if needle in Path(f"/proc/{pid}/environ").read_bytes():
                found.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return found


def _no_leftovers(mark: str, peers: list[HostilePeer]) -> None:
    deadline = time.monotonic() + 10  # reaping is immediate; this only absorbs scheduling noise
    while (left := _leftovers(mark)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == [], f"processes outlived the run: {left}"
    for peer in peers:
        assert peer.wait_all_closed(), f"a connection to the {peer.mode} peer on {peer.address} is still open"


def _expected_deadline(mode: str, name: str) -> bool | None:
    """Whether the probe must report a missed deadline (True), another failure (False), or either (None)."""
    tls = TARGETS[name][1]
    if mode == "reset":
        return False
    if mode == "drip" and name == "postgres_tls":
        return None  # the peer drips an answer a TLS-asking libpq may refuse at once, or wait on
    if mode == "tls_stall" and not tls:
        return None  # a plain client gets TLS bytes: refused at once (a protocol error) or waited on
    return True


# ---------------------------------------------------------------------------
# every probe kind that talks to a peer, in one health_probe run per peer behaviour
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_health_probe_holds_its_deadline(mode):
    peers = {name: _peer(mode, *spec) for name, spec in TARGETS.items()}
    env, mark = _marked()
    try:
        probes = [_probe(name, peer.port) for name, peer in peers.items()]
        t0 = time.monotonic()
        res = run_module("health_probe", {"probes": probes, "fail_on": "never", "max_workers": len(probes)},
                         env=env, timeout=300)
        elapsed = time.monotonic() - t0
        assert not res.failed, res.result
        # documented bound: timeout + 1 s per attempt; all probes run at once
        assert elapsed < TIMEOUT + 1 + SLACK, f"health_probe took {elapsed:.1f}s"
        by_name = {r["name"]: r for r in res["results"]}
        for name in TARGETS:
            r = by_name[name]
            assert r["duration_ms"] < (TIMEOUT + 1 + 5) * 1000, r
            if name == "tcp":  # a peer that accepts is reachable, whatever it does next
                assert r["status"] == "ok", r
                continue
            assert r["status"] == "critical", r
            expected = _expected_deadline(mode, name)
            if expected:
                assert f"no complete answer within {TIMEOUT} s (deadline)" in r["message"], r
            elif expected is False:
                assert "(deadline)" not in r["message"], r
        _no_leftovers(mark, list(peers.values()))
    finally:
        for peer in peers.values():
            peer.stop()


def test_health_probe_retries_each_attempt_under_its_own_deadline():
    with _peer("drip", "http", False) as peer:
        env, mark = _marked()
        probe = _probe("http", peer.port) | {"timeout": 1, "retries": 1, "delay": 0}
        res = run_module("health_probe", {"probes": [probe], "fail_on": "never"}, env=env, timeout=300)
        (r,) = res["results"]
        assert r["status"] == "critical" and r["attempts"] == 2, r
        assert "no complete answer within 1 s (deadline)" in r["message"]
        assert r["duration_ms"] < (2 * (1 + 1) + 5) * 1000, r
        assert peer.accepted == 2
        _no_leftovers(mark, [peer])


# ---------------------------------------------------------------------------
# every PostgreSQL and Redis module, one playbook per peer behaviour
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_backups(tmp_path_factory, pg, redis_server):
    """A real pg_backup and redis_backup, so that pg_restore / redis_restore get as far as connecting."""
    d = tmp_path_factory.mktemp("hostile-backups")
    pgb = run_module("pg_backup", pg.conn_args() | {"databases": ["postgres"], "backup_dir": str(d / "pg")})
    assert not pgb.failed, pgb.result
    rb = run_module("redis_backup", redis_server.conn_args() | {"backup_dir": str(d / "redis")})
    assert not rb.failed, rb.result
    pg_file = next(p for p in (d / "pg").rglob("*") if p.is_file() and not p.name.endswith(".json"))
    rdb = next(p for p in (d / "redis").rglob("*.rdb*") if p.is_file() and not p.name.endswith(".json"))
    return {"pg": str(pg_file), "rdb": str(rdb), "dir": d}


def _pg_modules(port: int, tls: bool, backups: dict, tmp: Path) -> dict:
    conn = {"login_host": "127.0.0.1", "login_port": port, "login_user": "postgres", "connect_timeout": TIMEOUT,
            "ssl_mode": "require" if tls else "disable"}
    return {
        "pg_vacuum": conn,
        "pg_report": conn,
        "pg_activity": conn | {"min_duration_seconds": 60},
        "pg_data_retention": conn | {
            "database": "app", "tables": [{"table": "audit", "column": "at", "older_than": "30d"}]},
        "pg_backup": conn | {"databases": ["app"], "backup_dir": str(tmp / "pg-out")},
        "pg_restore": conn | {"backup": backups["pg"], "target_database": "restored", "create": True},
    }


def _redis_modules(port: int, tls: bool, backups: dict, tmp: Path) -> dict:
    conn = {"login_host": "127.0.0.1", "login_port": port, "connect_timeout": TIMEOUT, "socket_timeout": TIMEOUT}
    if tls:
        conn |= {"tls": True, "validate_certs": False}
    return {
        "redis_maintenance": conn,
        "redis_purge": conn | {"patterns": ["tmp:*"]},
        "redis_backup": conn | {"backup_dir": str(tmp / "redis-out")},
        "redis_restore": conn | {"src": backups["rdb"], "stop_command": ["true"], "start_command": ["true"]},
    }


# documented bound of each family (README "Modules" and the doc fragments): PostgreSQL connect_timeout + 1 s;
# Redis connect_timeout + socket_timeout + 1 s
BOUND = {"pg": TIMEOUT + 1, "redis": 2 * TIMEOUT + 1}


def _seconds(task: dict) -> float:
    d = task["task"]["duration"]
    return (datetime.fromisoformat(d["end"].replace("Z", "+00:00"))
            - datetime.fromisoformat(d["start"].replace("Z", "+00:00"))).total_seconds()


@pytest.mark.parametrize("mode", MODES)
def test_postgres_and_redis_modules_hold_their_bound(mode, real_backups, tmp_path):
    peers: list[HostilePeer] = []
    tasks = []
    expect: dict[str, str] = {}
    families = [("pg", _pg_modules, "postgres", ""), ("redis", _redis_modules, "redis", "")]
    if mode == "drip":  # also a Redis that completes the handshake, then drips the first reply
        families.append(("redis", _redis_modules, "redis_connected", " (after connecting)"))
    for family, build, protocol, suffix in families:
        tls = mode == "tls_stall"
        for module, args in build(0, tls, real_backups, tmp_path).items():
            peer = _peer(mode, "tls" if tls and family == "redis" else protocol, tls)
            peers.append(peer)
            args = dict(args, login_port=peer.port)
            tasks.append({"name": module + suffix, f"runbook.ops.{module}": args, "ignore_errors": True})
            expect[module + suffix] = family
    playbook = tmp_path / "hostile.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    env, mark = _marked()
    try:
        t0 = time.monotonic()
        res = run_playbook(playbook, env=env, timeout=600)
        elapsed = time.monotonic() - t0
        results = {t["task"]["name"]: (t["hosts"]["localhost"], _seconds(t)) for t in res.data["plays"][0]["tasks"]}
        assert set(results) == set(expect), res.stdout[-3000:]
        problems = []
        for module, family in expect.items():
            result, seconds = results[module]
            msg = result.get("msg", "")
            if not result.get("failed"):
                problems.append(f"{module}: did not fail: {result}")
            if seconds >= BOUND[family] + SLACK:
                problems.append(f"{module}: took {seconds:.1f}s: {msg}")
            if mode == "reset" and "(deadline)" in msg:
                problems.append(f"{module}: a reset is no missed deadline: {msg}")
            if mode in ("silent", "drip", "tls_stall") and "(deadline)" not in msg:
                problems.append(f"{module}: no missed deadline reported: {msg}")
        assert problems == [], "\n".join(problems)
        assert elapsed < sum(BOUND[f] for f in expect.values()) + 2 * SLACK
        _no_leftovers(mark, peers)
    finally:
        for peer in peers:
            peer.stop()


# ---------------------------------------------------------------------------
# peers that connect well and then misbehave: a PostgreSQL statement, Redis Cluster discovery
# ---------------------------------------------------------------------------
def _run_tasks(tasks: list[dict], tmp_path: Path, env: dict) -> dict:
    """{task name: (result, seconds)} of one playbook of ``tasks`` on localhost."""
    playbook = tmp_path / "hostile-connected.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    res = run_playbook(playbook, env=env, timeout=600)
    results = {t["task"]["name"]: (t["hosts"]["localhost"], _seconds(t)) for t in res.data["plays"][0]["tasks"]}
    assert set(results) == {t["name"] for t in tasks}, res.stdout[-3000:]
    return results


@pytest.mark.parametrize("mode", ["silent", "drip"])
def test_postgres_statement_holds_statement_timeout(mode, real_backups, tmp_path):
    """A server that completes the startup (authenticated, ready for a query) and then never answers a
    statement, or answers one byte at a time: each module fails within statement_timeout + 1 s,
    naming the option. (pg_backup's first exchange is psql's, under its own documented bound.)"""
    handshake = DRIP["postgres_connected"]
    peers: list[HostilePeer] = []
    tasks = []
    for module, args in _pg_modules(0, False, real_backups, tmp_path).items():
        if module == "pg_backup":
            continue
        peer = HostilePeer(mode, **(handshake if mode == "drip" else {"prefix": handshake["prefix"]})).start()
        peers.append(peer)
        tasks.append({"name": module, f"runbook.ops.{module}": dict(args, login_port=peer.port, statement_timeout=TIMEOUT),
                      "ignore_errors": True})
    env, mark = _marked()
    try:
        results = _run_tasks(tasks, tmp_path, env)
        problems = []
        for module, (result, seconds) in results.items():
            msg = result.get("msg", "")
            if not result.get("failed"):
                problems.append(f"{module}: did not fail: {result}")
            if f"{module}: statement exceeded statement_timeout={TIMEOUT}s" not in msg or "(deadline)" not in msg:
                problems.append(f"{module}: no statement_timeout deadline in: {msg}")
            if seconds >= TIMEOUT + 1 + SLACK:
                problems.append(f"{module}: took {seconds:.1f}s: {msg}")
        assert problems == [], "\n".join(problems)
        assert all(peer.accepted >= 1 for peer in peers)
        _no_leftovers(mark, peers)
    finally:
        for peer in peers:
            peer.stop()


@pytest.mark.parametrize("mode", ["silent", "drip"])
def test_redis_cluster_discovery_holds_connect_timeout(mode, tmp_path):
    """A cluster node that answers the handshake, PING and INFO (cluster_enabled:1), and then never
    answers redis-py's discovery (CLUSTER SLOTS), or answers it one byte at a time: the whole discovery
    ends at connect_timeout, well before socket_timeout (per reply) would."""
    socket_timeout = 120
    modules = {
        "redis_purge": {"patterns": ["tmp:*"]},
        "redis_maintenance": {"settings": {"maxmemory-policy": "allkeys-lru"}},
    }
    peers: list[RedisClusterSeed] = []
    tasks = []
    for module, args in modules.items():
        peer = RedisClusterSeed(mode).start()
        peers.append(peer)
        conn = {"login_host": "127.0.0.1", "login_port": peer.port, "connect_timeout": TIMEOUT,
                "socket_timeout": socket_timeout}
        tasks.append({"name": module, f"runbook.ops.{module}": conn | args, "ignore_errors": True})
    env, mark = _marked()
    try:
        results = _run_tasks(tasks, tmp_path, env)
        problems = []
        for module, (result, seconds) in results.items():
            msg = result.get("msg", "")
            if not result.get("failed"):
                problems.append(f"{module}: did not fail: {result}")
            if "CLUSTER discovery" not in msg or f"within {TIMEOUT} s (deadline)" not in msg:
                problems.append(f"{module}: no discovery deadline in: {msg}")
            # the seed connection and its PING/INFO answer at once; discovery gets connect_timeout
            if seconds >= 2 * TIMEOUT + 1 + SLACK:
                problems.append(f"{module}: took {seconds:.1f}s: {msg}")
        assert problems == [], "\n".join(problems)
        assert all(peer.discovery for peer in peers), "a module never reached cluster discovery"
        _no_leftovers(mark, peers)
    finally:
        for peer in peers:
            peer.stop()
