# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 15, class 5: a module leaves a server as it found it (apart from what it exists to change).

Real servers: the state before and after each module run is compared.
"""
from __future__ import annotations

import os
from harness.net import wait_until


def _restart(srv, commands, ansible_module=None) -> None:
    """Stop the server without saving and start it again from its dir (what a reboot does)."""
    import subprocess

    subprocess.run(commands["stop_command"], check=True, capture_output=True)
    wait_until(lambda: not _pings(srv), 30, "redis to stop")
    subprocess.run(commands["start_command"], check=True, capture_output=True)
    wait_until(lambda: _pings(srv), 30, "redis to start")


def _pings(srv) -> bool:
    try:
        return bool(srv.client().ping())
    except Exception:  # refused while stopped
        return False


def test_redis_backup_leaves_no_rdb_when_persistence_is_off(restartable_redis, backup_dir, ansible_module):
    srv, commands = restartable_redis
    c = srv.client()
    assert c.config_get("save")["save"] == "" and c.config_get("appendonly")["appendonly"] == "no"
    dump = os.path.join(srv.basedir, "dump.rdb")
    c.mset({f"report:{i}": "x" for i in range(50)})
    assert not os.path.exists(dump)
    r = ansible_module("redis_backup", dict(srv.conn_args(), backup_dir=backup_dir, name="st"))
    assert not r.failed, r.result
    assert r["backup"]["total_keys"] == 50 and r["backup"]["verified"] == "passed"
    assert r["server_rdb"]["persistence"] == "off" and r["server_rdb"]["action"].startswith("removed")
    assert not os.path.exists(dump), "redis_backup left a dump.rdb the server would load at its next start"
    assert not [f for f in os.listdir(srv.basedir) if f.startswith(".runbook-keep-")]
    # purge the keys, restart the real server: they must not come back
    c.delete(*[f"report:{i}" for i in range(50)])
    _restart(srv, commands)
    assert srv.client().dbsize() == 0


def test_redis_backup_puts_back_an_existing_rdb(restartable_redis, backup_dir, ansible_module):
    srv, commands = restartable_redis
    c = srv.client()
    c.set("old", "1")
    c.save()  # an RDB from before persistence was turned off
    dump = os.path.join(srv.basedir, "dump.rdb")
    with open(dump, "rb") as fh:
        before = fh.read()
    mode_before = os.stat(dump).st_mode
    c.delete("old")
    c.mset({f"new:{i}": "y" for i in range(10)})
    r = ansible_module("redis_backup", dict(srv.conn_args(), backup_dir=backup_dir, name="st"))
    assert not r.failed, r.result
    assert r["backup"]["total_keys"] == 10
    assert r["server_rdb"]["action"].startswith("put back")
    with open(dump, "rb") as fh:
        assert fh.read() == before
    assert os.stat(dump).st_mode == mode_before
    _restart(srv, commands)
    c2 = srv.client()
    assert c2.exists("old") and not c2.exists("new:0")  # exactly what the server would have loaded before


def test_redis_backup_leaves_rdb_of_a_persistent_server(fresh_redis, backup_dir, ansible_module):
    srv = fresh_redis(extra_config="save 3600 1")
    srv.client().set("k", "v")
    r = ansible_module("redis_backup", dict(srv.conn_args(), backup_dir=backup_dir))
    assert not r.failed, r.result
    assert r["server_rdb"]["persistence"] == "on"
    assert os.path.exists(os.path.join(srv.basedir, "dump.rdb"))


def test_redis_backup_failure_still_cleans_up(fresh_redis, backup_dir, ansible_module):
    srv = fresh_redis()
    c = srv.client()
    c.mset({f"slow:{i}": "v" for i in range(2000)})
    c.config_set("rdb-key-save-delay", 5000)  # about 10 s per save: the module times out after 1 s
    r = ansible_module("redis_backup", dict(srv.conn_args(), backup_dir=backup_dir, timeout=1))
    assert r.failed and "timeout" in r["msg"]
    c.config_set("rdb-key-save-delay", 0)
    # the module cancelled its save (SIGUSR1 to the save child), so nothing can write dump.rdb later
    assert c.info("persistence")["rdb_bgsave_in_progress"] == 0
    assert not os.path.exists(os.path.join(srv.basedir, "dump.rdb"))
    assert not [f for f in os.listdir(srv.basedir) if f.startswith((".runbook-keep-", "temp-"))]


def test_redis_maintenance_restores_config_when_it_fails(fresh_redis, ansible_module):
    srv = fresh_redis()
    c = srv.client()
    names = ("hz", "maxmemory-samples", "maxmemory")
    before = {k: c.config_get(k)[k] for k in names}
    # hz is set first, then the server refuses maxmemory-samples=0 (range 1-64): the module fails mid-way
    r = ansible_module("redis_maintenance", dict(srv.conn_args(), maxmemory="64mb",
                                                 settings={"hz": 37, "maxmemory-samples": 0}))
    assert r.failed and "maxmemory-samples" in r["msg"] and "restored" in r["msg"], r.result
    assert {k: c.config_get(k)[k] for k in names} == before


def test_failed_redis_restore_rolls_back_to_the_previous_rdb(restartable_redis, backup_dir, ansible_module):
    import json

    srv, commands = restartable_redis
    c = srv.client()
    c.mset({f"bk:{i}": "1" for i in range(10)})
    bk = ansible_module("redis_backup", dict(srv.conn_args(), backup_dir=backup_dir, name="rb"))
    assert not bk.failed, bk.result
    # the server's current data, saved (its RDB is what a roll-back must bring back)
    c.flushall()
    c.mset({f"cur:{i}": "1" for i in range(3)})
    c.save()
    # a manifest claiming one key more than the RDB holds: the restore's check fails
    with open(bk["backup"]["manifest"], encoding="utf-8") as fh:
        manifest = json.load(fh)
    manifest["redis"]["keyspace"]["0"]["keys"] = 11
    with open(bk["backup"]["manifest"], "w", encoding="utf-8") as fh:
        json.dump(manifest, fh)
    r = ansible_module("redis_restore", dict(srv.conn_args(), src=bk["backup"]["path"], **commands))
    assert r.failed and "10 keys after restore, manifest says 11" in r["msg"] and "rolled back" in r["msg"], r.result
    c2 = srv.client()
    assert c2.dbsize() == 3 and c2.exists("cur:0") and not c2.exists("bk:0")
    assert not [f for f in os.listdir(srv.basedir) if ".before-restore-" in f or f.startswith(".runbook-restore-")]


def test_redis_maintenance_restores_config_when_persisting_fails(tmp_path, ansible_module):
    import subprocess

    import redis
    from harness.net import free_port

    # a server started without a configuration file: CONFIG REWRITE fails after CONFIG SET worked
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        c = redis.Redis(host="127.0.0.1", port=port)
        wait_until(c.ping, 30, "redis without a config file")
        before = c.config_get("maxmemory")["maxmemory"]
        r = ansible_module("redis_maintenance", dict(login_host="127.0.0.1", login_port=port, maxmemory="32mb",
                                                     persist=True))
        assert r.failed and "without a config file" in r["msg"] and "restored" in r["msg"], r.result
        assert c.config_get("maxmemory")["maxmemory"] == before
    finally:
        proc.terminate()
        proc.wait(timeout=30)
