# SPDX-License-Identifier: GPL-3.0-or-later
"""Failure modes of the Redis modules against real servers: each names its cause."""
from __future__ import annotations

from harness.net import free_port


def test_wrong_password(redis_auth_server, ansible_module):
    args = dict(redis_auth_server.conn_args(), login_password="not-the-password", patterns=["x:*"])
    r = ansible_module("redis_purge", args)
    assert r.failed and "authentication failed" in r["msg"] and "login_password" in r["msg"]
    assert "not-the-password" not in r["msg"]


def test_password_missing(redis_auth_server, ansible_module):
    args = {"login_host": "127.0.0.1", "login_port": redis_auth_server.port}
    r = ansible_module("redis_maintenance", args)
    assert r.failed and "authentication required" in r["msg"] and "login_password" in r["msg"]


def test_server_down(ansible_module):
    port = free_port()
    r = ansible_module("redis_purge", {"login_host": "127.0.0.1", "login_port": port, "patterns": ["a:*"],
                                       "connect_timeout": 2})
    assert r.failed and "cannot connect to Redis" in r["msg"] and f"127.0.0.1:{port}" in r["msg"]
    assert "server down" in r["msg"]


def test_read_only_replica_purge(redis_replica, ansible_module):
    r = ansible_module("redis_purge", dict(redis_replica.conn_args(), patterns=["a:*"]))
    assert r.failed and "read-only replica" in r["msg"] and "primary" in r["msg"]


def test_read_only_replica_flushdb(redis_replica, ansible_module):
    r = ansible_module("redis_purge", dict(redis_replica.conn_args(), action="flushdb", confirm_flushdb=True))
    assert r.failed and "read-only replica" in r["msg"]


def test_replica_report_works(redis_replica, ansible_module):
    r = ansible_module("redis_maintenance", redis_replica.conn_args())
    assert not r.failed and r["replication"]["role"] == "slave"


def test_config_disabled(fresh_redis, ansible_module):
    srv = fresh_redis(extra_config='rename-command CONFIG ""')
    r = ansible_module("redis_maintenance", dict(srv.conn_args(), maxmemory="10mb"))
    assert r.failed and "CONFIG is disabled or renamed" in r["msg"], r["msg"]
    # the report needs no CONFIG
    ok = ansible_module("redis_maintenance", srv.conn_args())
    assert not ok.failed and "maxmemory" in ok["memory"]


def test_bad_option_values(redis_plain, ansible_module):
    r = ansible_module("redis_purge", dict(redis_plain.conn_args(), patterns=["a:*"], scan_count=0))
    assert r.failed and "scan_count" in r["msg"]
    r = ansible_module("redis_purge", dict(redis_plain.conn_args(), patterns=["a:*"], type="blob"))
    assert r.failed and "type" in r["msg"]
    r = ansible_module("redis_purge", dict(redis_plain.conn_args(), patterns=["a:*"], no_ttl=True, ttl_above=3))
    assert r.failed and "mutually exclusive" in r["msg"]
