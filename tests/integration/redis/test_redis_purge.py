# SPDX-License-Identifier: GPL-3.0-or-later
"""redis_purge run through Ansible against real redis-server processes."""
from __future__ import annotations

import pytest


def fill(client, n: int, prefix: str, **kw) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        pipe.set(f"{prefix}{i}", "v", **kw)
    pipe.execute()


@pytest.fixture
def srv(fresh_redis):
    return fresh_redis()


def test_purge_pattern_keeps_others(srv, ansible_module):
    c = srv.client()
    fill(c, 5000, "cache:")
    fill(c, 300, "session:")
    r = ansible_module("redis_purge", dict(srv.conn_args(), patterns=["cache:*"], scan_count=100, batch_size=50))
    assert not r.failed, r.result
    assert r.changed
    assert r["deleted"] == 5000 and r["matched"] == 5000
    assert r["patterns"] == [{"pattern": "cache:*", "matched": 5000, "deleted": 5000}]
    assert r["batches"] >= 5000 // 50
    assert r["method"] == "UNLINK"
    assert c.dbsize() == 300
    assert c.exists("session:0")
    again = ansible_module("redis_purge", dict(srv.conn_args(), patterns=["cache:*"]))
    assert not again.changed and again["deleted"] == 0


def test_check_mode_counts_exactly_and_deletes_nothing(srv, ansible_module):
    c = srv.client()
    fill(c, 1200, "cache:")
    fill(c, 800, "cache:t:", ex=3600)
    fill(c, 50, "other:")
    args = dict(srv.conn_args(), patterns=["cache:*"], no_ttl=True, sample_size=5)
    chk = ansible_module("redis_purge", args, check=True)
    assert chk.changed and chk["matched"] == 1200 and chk["deleted"] == 0
    assert len(chk["sample"]) == 5 and all(s.startswith("cache:") and not s.startswith("cache:t:") for s in chk["sample"])
    assert c.dbsize() == 2050
    real = ansible_module("redis_purge", args)
    assert real.changed == chk.changed and real["deleted"] == chk["matched"]
    assert c.dbsize() == 850
    chk2 = ansible_module("redis_purge", args, check=True)
    assert not chk2.changed and chk2["matched"] == 0


def test_overlapping_patterns_counted_once_in_check_mode(srv, ansible_module):
    c = srv.client()
    fill(c, 100, "a:b:")
    args = dict(srv.conn_args(), patterns=["a:*", "a:b:*"])
    chk = ansible_module("redis_purge", args, check=True)
    assert chk["matched"] == 100
    real = ansible_module("redis_purge", args)
    assert real["deleted"] == 100
    assert [p["deleted"] for p in real["patterns"]] == [100, 0]


def test_ttl_filters(srv, ansible_module):
    c = srv.client()
    fill(c, 100, "k:short:", ex=100)
    fill(c, 100, "k:long:", ex=100000)
    fill(c, 100, "k:none:")
    above = ansible_module("redis_purge", dict(srv.conn_args(), patterns=["k:*"], ttl_above=1000), check=True)
    assert above["matched"] == 100 and all(s.startswith("k:long:") for s in above["sample"])
    below = ansible_module("redis_purge", dict(srv.conn_args(), patterns=["k:*"], ttl_below=1000))
    assert below["deleted"] == 100
    assert c.exists("k:long:1") and c.exists("k:none:1") and not c.exists("k:short:1")


def test_type_filter_and_max_keys(srv, ansible_module):
    c = srv.client()
    fill(c, 300, "m:s:")
    pipe = c.pipeline(transaction=False)
    for i in range(200):
        pipe.hset(f"m:h:{i}", "f", "v")
    pipe.execute()
    r = ansible_module("redis_purge", dict(srv.conn_args(), patterns=["m:*"], type="hash", max_keys=150, scan_count=20))
    assert r["deleted"] == 150 and r["max_keys_reached"]
    assert c.dbsize() == 350
    r = ansible_module("redis_purge", dict(srv.conn_args(), patterns=["m:*"], type="hash"))
    assert r["deleted"] == 50
    assert c.dbsize() == 300


def test_min_idle(srv, ansible_module):
    c = srv.client()
    fill(c, 100, "idle:")
    # nothing has been idle for an hour on a fresh server
    r = ansible_module("redis_purge", dict(srv.conn_args(), patterns=["idle:*"], min_idle=3600))
    assert not r.changed and r["deleted"] == 0
    r = ansible_module("redis_purge", dict(srv.conn_args(), patterns=["idle:*"], min_idle=0))
    assert r["deleted"] == 100


def test_rate_limit_respected(srv, ansible_module):
    c = srv.client()
    fill(c, 400, "rl:")
    r = ansible_module("redis_purge", dict(srv.conn_args(), patterns=["rl:*"], rate_limit=2000, scan_count=50))
    assert r["deleted"] == 400
    # pacing: 400 keys at 2000/s cannot finish in less than about 0.2 s minus one batch
    assert r["duration"] >= (400 - 50) / 2000


def test_binary_keys(srv, ansible_module):
    c = srv.client()
    c.set(b"bin:\xff\xfe\x00end", "x")
    c.set("bin:caf\u00e9", "x")
    c.set(b"bin:plain", "x")
    chk = ansible_module("redis_purge", dict(srv.conn_args(), patterns=["bin:*"]), check=True)
    assert chk["matched"] == 3 and chk["non_utf8_keys"] == 1
    assert "bin:\\xff\\xfe\x00end" in chk["sample"]
    assert "bin:caf\u00e9" in chk["sample"]
    r = ansible_module("redis_purge", dict(srv.conn_args(), patterns=["bin:*"]))
    assert r["deleted"] == 3 and c.dbsize() == 0


@pytest.mark.parametrize("pattern", ["*", "**", "?*", "*?*", "[^]*", ""])
def test_match_everything_refused(srv, ansible_module, pattern):
    c = srv.client()
    c.set("keep", "1")
    r = ansible_module("redis_purge", dict(srv.conn_args(), patterns=[pattern]))
    assert r.failed
    assert "patterns" in r["msg"]
    assert c.exists("keep")


def test_allow_all(srv, ansible_module):
    c = srv.client()
    fill(c, 10, "x")
    r = ansible_module("redis_purge", dict(srv.conn_args(), patterns=["*"], allow_all=True))
    assert r["deleted"] == 10 and c.dbsize() == 0


def test_flushdb_needs_confirmation(srv, ansible_module):
    c = srv.client()
    fill(c, 10, "f:")
    r = ansible_module("redis_purge", dict(srv.conn_args(), action="flushdb"))
    assert r.failed and "confirm_flushdb" in r["msg"]
    chk = ansible_module("redis_purge", dict(srv.conn_args(), action="flushdb", confirm_flushdb=True), check=True)
    assert chk.changed and chk["matched"] == 10 and c.dbsize() == 10
    r = ansible_module("redis_purge", dict(srv.conn_args(), action="flushdb", confirm_flushdb=True))
    assert r.changed and r["deleted"] == 10 and c.dbsize() == 0
    r = ansible_module("redis_purge", dict(srv.conn_args(), action="flushdb", confirm_flushdb=True))
    assert not r.changed


def test_other_db_and_unix_socket(srv, ansible_module):
    c3 = srv.client()
    c3.select(3)
    fill(c3, 20, "db3:")
    args = {"login_unix_socket": srv.socket_path, "db": 3, "patterns": ["db3:*"]}
    r = ansible_module("redis_purge", args)
    assert r["deleted"] == 20 and c3.dbsize() == 0


def test_memory_purge(srv, ansible_module):
    fill(srv.client(), 100, "mp:")
    r = ansible_module("redis_purge", dict(srv.conn_args(), patterns=["mp:*"], memory_purge=True))
    assert not r.failed and r["deleted"] == 100
    assert r["used_memory_before"] > 0 and r["used_memory_after"] > 0


def test_del_fallback_without_unlink(fresh_redis, ansible_module):
    srv = fresh_redis(extra_config='rename-command UNLINK ""')
    fill(srv.client(), 500, "old:")
    r = ansible_module("redis_purge", dict(srv.conn_args(), patterns=["old:*"], scan_count=100))
    assert not r.failed, r.result
    assert r["method"] == "DEL" and r["deleted"] == 500


def test_password(fresh_redis, ansible_module):
    srv = fresh_redis(password="s3cret-pw")
    fill(srv.client(), 10, "p:")
    r = ansible_module("redis_purge", dict(srv.conn_args(), patterns=["p:*"]))
    assert r["deleted"] == 10
    assert "s3cret-pw" not in r.stdout.replace('"login_password": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"', "")


def test_cluster_every_primary(redis_cluster, cluster_client, ansible_module):
    rc = cluster_client
    for i in range(3000):
        rc.set(f"cache:{i}", "v")
    for i in range(100):
        rc.set(f"keep:{i}", "v")
    per_node = [n.client().dbsize() for n in redis_cluster]
    assert all(k > 0 for k in per_node)
    args = {"login_host": "127.0.0.1", "login_port": redis_cluster[1].port, "patterns": ["cache:*"], "scan_count": 200}
    chk = ansible_module("redis_purge", args, check=True)
    assert chk["matched"] == 3000 and len(chk["nodes"]) == 3
    r = ansible_module("redis_purge", args)
    assert not r.failed, r.result
    assert r["deleted"] == 3000
    assert sum(n.client().dbsize() for n in redis_cluster) == 100
    fl = ansible_module("redis_purge", dict(args, patterns=[], action="flushdb", confirm_flushdb=True))
    assert fl["deleted"] == 100
    assert sum(n.client().dbsize() for n in redis_cluster) == 0
