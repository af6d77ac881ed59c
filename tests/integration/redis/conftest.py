# SPDX-License-Identifier: GPL-3.0-or-later
"""Extra real Redis servers for the Redis module tests: a 3-primary cluster,
a replica, servers with CONFIG or UNLINK renamed away. All on loopback, all
stopped at the end."""
from __future__ import annotations

import subprocess

import pytest
from harness.net import free_port, wait_until
from harness.redis import RedisServer, redis_factory


@pytest.fixture
def fresh_redis():
    """A private server per test (tests that restart, rewrite config or fill the keyspace)."""
    with redis_factory() as make:
        yield make


@pytest.fixture(scope="module")
def redis_plain():
    srv = RedisServer().start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def redis_replica(redis_plain):
    """A read-only replica of redis_plain, link up."""
    srv = RedisServer(extra_config=f"replicaof 127.0.0.1 {redis_plain.port}\nreplica-read-only yes").start()
    try:
        wait_until(lambda: srv.client().info("replication").get("master_link_status") == "up", 30, "replica link")
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def redis_cluster():
    """Three primaries (no replicas) with all 16384 slots assigned; yields the servers."""
    # the bus port is set explicitly: port+10000 may be above 65535 for a random free port
    nodes = [RedisServer(extra_config="cluster-enabled yes\ncluster-config-file nodes.conf\n"
                                      f"cluster-node-timeout 5000\ncluster-port {free_port()}").start()
             for _node in range(3)]
    try:
        subprocess.run(
            ["redis-cli", "--cluster", "create", *[f"127.0.0.1:{n.port}" for n in nodes], "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )

        def ok() -> bool:
            for n in nodes:
                info = n.client().execute_command("CLUSTER", "INFO").decode()
                if "cluster_state:ok" not in info or "cluster_known_nodes:3" not in info:
                    return False
            return True

        wait_until(ok, 60, "cluster_state:ok")
        yield nodes
    finally:
        for n in nodes:
            n.stop()


@pytest.fixture
def cluster_client(redis_cluster):
    """A redis-py cluster client to redis_cluster."""
    from redis.cluster import RedisCluster

    rc = RedisCluster(host="127.0.0.1", port=redis_cluster[0].port)
    try:
        yield rc
    finally:
        rc.close()
