# SPDX-License-Identifier: GPL-3.0-or-later
"""redis_maintenance run through Ansible against real redis-server processes."""
from __future__ import annotations

import pytest


@pytest.fixture
def srv(fresh_redis):
    return fresh_redis()


def test_report(srv, ansible_module):
    c = srv.client()
    c.set("big", "x" * 100000)
    pipe = c.pipeline(transaction=False)
    for i in range(500):
        pipe.set(f"small:{i}", "v", ex=1000 if i % 2 else None)
    pipe.execute()
    c.select(2)
    c.set("in-db2", "1")
    r = ansible_module("redis_maintenance", srv.conn_args())
    assert not r.failed and not r.changed
    assert r["memory"]["used_memory"] > 100000
    assert "mem_fragmentation_ratio" in r["memory"] and r["memory"]["maxmemory_policy"] == "noeviction"
    assert r["keyspace"]["0"]["keys"] == 501 and r["keyspace"]["0"]["expires"] == 250
    assert r["keyspace"]["2"]["keys"] == 1
    assert r["clients"]["connected_clients"] >= 1
    assert r["persistence"]["rdb_bgsave_in_progress"] == 0
    assert r["replication"]["role"] == "master"
    assert r["sampled_keys"] == 501
    assert r["biggest_keys"][0]["key"] == "big" and r["biggest_keys"][0]["type"] == "string"
    assert r["biggest_keys"][0]["bytes"] >= 100000
    assert len(r["biggest_keys"]) == 10


def test_sample_limit(srv, ansible_module):
    c = srv.client()
    pipe = c.pipeline(transaction=False)
    for i in range(3000):
        pipe.set(f"k{i}", "v")
    pipe.execute()
    r = ansible_module("redis_maintenance", dict(srv.conn_args(), sample_keys=700, biggest_keys=3))
    assert r["sampled_keys"] == 700 and len(r["biggest_keys"]) == 3


def test_set_maxmemory_idempotent_with_units(srv, ansible_module):
    c = srv.client()
    args = dict(srv.conn_args(), maxmemory="100mb", maxmemory_policy="allkeys-lru", report=False)
    chk = ansible_module("redis_maintenance", args, check=True, diff=True)
    assert chk.changed
    assert chk["changes"]["maxmemory"] == {"old": "0", "new": str(100 * 1024 * 1024)}
    assert "maxmemory: 0" in chk["diff"]["before"] and "maxmemory-policy: allkeys-lru" in chk["diff"]["after"]
    assert c.config_get("maxmemory")["maxmemory"] == "0"
    r = ansible_module("redis_maintenance", args, diff=True)
    assert r.changed and not r["persisted"]
    assert c.config_get("maxmemory")["maxmemory"] == str(100 * 1024 * 1024)
    assert c.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"
    # the same value in bytes and in another unit spelling: nothing to do
    same = dict(args, maxmemory=str(100 * 1024 * 1024))
    assert not ansible_module("redis_maintenance", same, check=True).changed
    assert not ansible_module("redis_maintenance", same).changed
    # 100m (10^6) differs from 100mb (2^20)
    assert ansible_module("redis_maintenance", dict(args, maxmemory="100m"), check=True).changed


def test_settings_allow_list_and_bools(srv, ansible_module):
    c = srv.client()
    args = dict(srv.conn_args(), report=False, settings={"lazyfree-lazy-eviction": True, "slowlog-max-len": 256,
                                                         "notify-keyspace-events": "Ex"})
    r = ansible_module("redis_maintenance", args)
    assert r.changed, r.result
    assert c.config_get("lazyfree-lazy-eviction")["lazyfree-lazy-eviction"] == "yes"
    assert c.config_get("slowlog-max-len")["slowlog-max-len"] == "256"
    assert not ansible_module("redis_maintenance", args).changed
    bad = ansible_module("redis_maintenance", dict(args, settings={"dir": "/tmp"}))
    assert bad.failed and "'dir' is not an allowed setting" in bad["msg"]


def test_persist_rewrites_config_file(srv, ansible_module):
    conf = f"{srv.basedir}/redis.conf"
    args = dict(srv.conn_args(), maxmemory="64mb", persist=True, report=False)
    r = ansible_module("redis_maintenance", args)
    assert r.changed and r["persisted"]
    with open(conf, encoding="utf-8") as fh:
        text = fh.read()
    assert "maxmemory 64mb" in text or f"maxmemory {64 * 1024 * 1024}" in text
    again = ansible_module("redis_maintenance", args)
    assert not again.changed and not again["persisted"]


@pytest.mark.parametrize("args,needle", [
    ({"maxmemory": "lots"}, "maxmemory: 'lots' is not a memory size"),
    ({"maxmemory_policy": "evict-everything"}, "maxmemory_policy"),
    ({"settings": {"hz": "fast"}}, "settings.hz"),
    ({"settings": {"appendfsync": "sometimes"}}, "settings.appendfsync"),
])
def test_unknown_values(srv, ansible_module, args, needle):
    r = ansible_module("redis_maintenance", dict(srv.conn_args(), **args))
    assert r.failed and needle in r["msg"], r["msg"]
