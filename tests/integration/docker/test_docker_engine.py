# SPDX-License-Identifier: GPL-3.0-or-later
"""The docker engine path, for real: pg_backup / pg_restore with pg_dump inside a docker container
(``docker exec``) and redis_backup copying the RDB out of a docker container (``docker cp``).

Needs a running Docker engine (scripts/setup_docker.sh: Debian's docker.io, dockerd started in the
background); skipped only when there is none. No registry: the image is made here with ``docker import``
from a tiny rootfs whose /usr and /etc are the machine's own (bind-mounted read-only), so the container
runs this machine's pg_dump and redis-server. The container shares the host network (no bridge IPs):
pg_dump inside it reaches the harness PostgreSQL on 127.0.0.1, and redis-server inside it listens on a
free loopback port. Containers and the image are removed also when a test fails.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import uuid

import pytest
import redis

from harness.net import free_port, wait_until

# Skipped by conftest.py when no Docker engine answers.
REDIS_PW = "docker-redis-pw"


@pytest.fixture(scope="module")
def image(rootfs_tar, docker_cli):
    tag = f"localhost/runbook-docker-test:{uuid.uuid4().hex[:8]}"
    res = subprocess.run(["docker", "import", "-", tag], input=rootfs_tar(), capture_output=True, check=False)
    assert res.returncode == 0, res.stderr.decode()
    try:
        yield tag
    finally:
        docker_cli("rmi", "-f", tag, check=False)


@pytest.fixture(scope="module")
def redis_container(image, docker_cli):
    """redis-server as the container's own process, data dir /data inside the container (not a mount)."""
    name = f"runbook-docker-redis-{uuid.uuid4().hex[:8]}"
    port = free_port()
    docker_cli("run", "-d", "--name", name, "--network", "host",
               "-v", "/usr:/usr:ro", "-v", "/etc:/etc:ro", image,
               "/usr/bin/redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", "/data",
               "--save", "", "--appendonly", "no", "--requirepass", REDIS_PW)
    try:
        client = redis.Redis(host="127.0.0.1", port=port, password=REDIS_PW, socket_timeout=2)

        def ready() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_until(ready, 30, f"redis-server in docker container {name}")
        yield name, port, client
    finally:
        docker_cli("rm", "-f", name)  # docker 20.10: rm has no -t; a failed removal fails the test


def test_container_runs_under_the_docker_engine(redis_container, docker_cli):
    name, _port, _client = redis_container
    info = json.loads(docker_cli("inspect", name).stdout)[0]
    assert info["State"]["Running"] is True
    assert info["HostConfig"]["NetworkMode"] == "host"


def test_pg_backup_and_restore_with_pg_dump_inside_a_docker_container(pg, ansible_module, tmp_path, redis_container):
    name, _port, _client = redis_container
    db = f"dockerbk_{os.getpid()}"
    pg.psql(f'CREATE DATABASE "{db}"')
    pg.psql("CREATE TABLE items (id int PRIMARY KEY, label text);"
            "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 777) g", database=db)
    backup_dir = str(tmp_path / "pg")
    target = f"{db}_restored"
    try:
        r = ansible_module("pg_backup", dict(pg.conn_args(), backup_dir=backup_dir, databases=[db],
                                             container=name, engine="docker", verify="list"))
        assert not r.failed, r.result
        dumps = [c for c in r["commands"] if "pg_dump" in " ".join(c)]
        assert dumps and all(os.path.basename(c[0]) == "docker" and c[1] == "exec" and name in c for c in dumps), r["commands"]
        (b,) = [b for b in r["backups"] if b["name"] == db]
        assert b["verified"] == "passed"
        with open(b["manifest"], encoding="utf-8") as fh:
            manifest = json.load(fh)
        assert manifest["postgres"]["ran_in"].startswith("container")
        assert manifest["postgres"]["row_counts"]["public.items"] == 777
        assert pg.conn_args()["login_password"] not in json.dumps(r.result)

        res = ansible_module("pg_restore", dict(pg.conn_args(), backup="latest", backup_dir=backup_dir, database=db,
                                                target_database=target, create=True, container=name, engine="docker"))
        assert not res.failed, res.result
        assert res["row_count_differences"] == [] and res["tables_compared"] >= 1
        assert pg.psql("SELECT count(*) FROM items", database=target).strip() == "777"
    finally:
        pg.psql(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        pg.psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def test_redis_backup_copies_the_rdb_out_of_a_docker_container(ansible_module, tmp_path, redis_container, docker_cli):
    name, port, client = redis_container
    client.flushall()
    for i in range(250):
        client.set(f"dockerkey:{i}", i)
    backup_dir = str(tmp_path / "redis")
    r = ansible_module("redis_backup", dict(login_host="127.0.0.1", login_port=port, login_password=REDIS_PW,
                                            backup_dir=backup_dir, container=name, engine="docker"))
    assert not r.failed, r.result
    b = r["backup"]
    assert b["total_keys"] == 250
    assert b["verified"] in ("passed", "skipped"), b
    with open(b["path"], "rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == b["sha256"]
    # persistence is off in the container: the dump.rdb its BGSAVE wrote there was removed again (issue 15),
    # so the server cannot load it at its next start
    assert r["server_rdb"]["persistence"] == "off" and r["server_rdb"]["action"].startswith("removed"), r.result
    assert docker_cli("exec", name, "/usr/bin/test", "-e", "/data/dump.rdb", check=False).returncode != 0
    assert REDIS_PW not in json.dumps(r.result)
