# SPDX-License-Identifier: GPL-3.0-or-later
"""redis_backup and redis_restore through Ansible against real redis-server processes."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile

import pytest
from harness.net import wait_until
from harness.redis import restartable as harness_restartable


def fill(client, n: int, prefix: str, db: int = 0, ex: int | None = None) -> None:
    client.select(db) if hasattr(client, "select") else None
    pipe = client.pipeline(transaction=False)
    pipe.execute_command("SELECT", db)
    for i in range(n):
        pipe.set(f"{prefix}{i}", "v" * 20, ex=ex)
    pipe.execute()


@pytest.fixture
def srv(fresh_redis):
    return fresh_redis()


@pytest.fixture
def backup_dir():
    with tempfile.TemporaryDirectory(prefix="runbook-redis-bk-") as d:
        yield os.path.join(d, "backups")


def sha256(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def test_backup_with_manifest(srv, backup_dir, ansible_module):
    c = srv.client()
    fill(c, 300, "a:")
    fill(c, 50, "t:", ex=3600)
    fill(c, 20, "b:", db=4)
    r = ansible_module("redis_backup", dict(srv.conn_args(), backup_dir=backup_dir, name="main"))
    assert not r.failed, r.result
    assert r.changed
    b = r["backup"]
    assert os.path.isfile(b["path"]) and b["path"].endswith(".rdb")
    assert b["verified"] == "passed" and b["verification"]["method"] == "redis-check-rdb"
    assert b["sha256"] == sha256(b["path"])
    assert b["keyspace"]["0"]["keys"] == 350 and b["keyspace"]["0"]["expires"] == 50
    assert b["keyspace"]["4"]["keys"] == 20 and b["total_keys"] == 370
    with open(b["manifest"], encoding="utf-8") as fh:
        manifest = json.load(fh)
    assert manifest["kind"] == "redis" and manifest["name"] == "main"
    assert manifest["files"][0]["sha256"] == b["sha256"]
    assert manifest["redis"]["keyspace"]["0"]["keys"] == 350
    assert oct(os.stat(b["path"]).st_mode & 0o777) == "0o600"
    assert r["source"] == os.path.join(srv.basedir, "dump.rdb")
    # nothing partial left behind
    assert not [f for f in os.listdir(backup_dir) if f.startswith(".partial")]


def test_check_mode_creates_nothing(srv, backup_dir, ansible_module):
    r = ansible_module("redis_backup", dict(srv.conn_args(), backup_dir=backup_dir), check=True)
    assert r.changed and r["backup"] is None and r["would_create"].startswith(backup_dir)
    assert not os.path.exists(backup_dir)
    assert srv.client().info("persistence")["rdb_saves"] == 0


def test_waits_for_a_save_already_running(srv, backup_dir, ansible_module):
    c = srv.client()
    fill(c, 5000, "slow:")
    c.config_set("rdb-key-save-delay", 2000)  # microseconds per key: about 10 s per save
    c.bgsave()
    assert c.info("persistence")["rdb_bgsave_in_progress"] == 1
    r = ansible_module("redis_backup", dict(srv.conn_args(), backup_dir=backup_dir))
    assert not r.failed, r.result
    assert any("already running" in n for n in r["notes"])
    assert c.info("persistence")["rdb_saves"] == 2
    assert r["backup"]["total_keys"] == 5000 and r["backup"]["verified"] == "passed"
    # persistence is off: the file the user's own BGSAVE wrote is put back, not removed (issue 15)
    assert r["server_rdb"]["action"].startswith("put back") and os.path.exists(os.path.join(srv.basedir, "dump.rdb"))


def test_timeout(srv, backup_dir, ansible_module):
    c = srv.client()
    fill(c, 2000, "slow:")
    c.config_set("rdb-key-save-delay", 5000)  # about 10 s
    r = ansible_module("redis_backup", dict(srv.conn_args(), backup_dir=backup_dir, timeout=1))
    assert r.failed and "timeout (1s) waiting for BGSAVE" in r["msg"]
    assert not [f for f in os.listdir(backup_dir) if f.endswith(".rdb")]
    c.config_set("rdb-key-save-delay", 0)


def test_failed_bgsave_named(fresh_redis, backup_dir, ansible_module):
    srv = fresh_redis(extra_config="enable-protected-configs yes")
    c = srv.client()
    c.set("k", "v")
    gone = tempfile.mkdtemp(prefix="runbook-redis-gone-")
    c.config_set("dir", gone)
    os.rmdir(gone)
    r = ansible_module("redis_backup", dict(srv.conn_args(), backup_dir=backup_dir))
    assert r.failed and "rdb_last_bgsave_status=err" in r["msg"], r["msg"]


def test_config_disabled_needs_rdb_path(fresh_redis, backup_dir, ansible_module):
    srv = fresh_redis(extra_config='rename-command CONFIG ""')
    srv.client().set("k", "v")
    r = ansible_module("redis_backup", dict(srv.conn_args(), backup_dir=backup_dir))
    assert r.failed and "CONFIG is disabled or renamed" in r["msg"] and "rdb_path" in r["msg"]
    r = ansible_module("redis_backup", dict(srv.conn_args(), backup_dir=backup_dir,
                                            rdb_path=os.path.join(srv.basedir, "dump.rdb")))
    assert not r.failed, r["msg"]
    assert r["backup"]["total_keys"] == 1


def test_retention_keeps_newest_verified(srv, backup_dir, ansible_module):
    srv.client().set("k", "v")
    args = dict(srv.conn_args(), backup_dir=backup_dir, name="ret", keep_last=2)
    paths = [ansible_module("redis_backup", args)["backup"]["path"] for _run in range(3)]
    assert not os.path.exists(paths[0]) and os.path.exists(paths[1]) and os.path.exists(paths[2])
    chk = ansible_module("redis_backup", args, check=True)
    assert chk["deleted"] == [paths[1]] and os.path.exists(paths[1])
    # an unverified backup never counts and never pushes out a verified one
    r = ansible_module("redis_backup", dict(args, verify="none"))
    assert r["backup"]["verified"] == "skipped"
    assert os.path.exists(paths[1]) and os.path.exists(paths[2])


# -- restore ------------------------------------------------------------------

@pytest.fixture
def restartable(fresh_redis):
    """A server whose restore commands are real: redis-cli SHUTDOWN / redis-server --daemonize."""
    with harness_restartable(fresh_redis()) as pair:
        yield pair


def test_restore_round_trip(restartable, backup_dir, ansible_module):
    srv, commands = restartable
    c = srv.client()
    fill(c, 400, "keep:")
    fill(c, 30, "x:", db=2)
    bk = ansible_module("redis_backup", dict(srv.conn_args(), backup_dir=backup_dir, name="rt"))
    assert bk["backup"]["verified"] == "passed"
    c.flushall()
    c.set("after-backup", "1")
    c.save()
    dump = os.path.join(srv.basedir, "dump.rdb")
    os.chown(dump, 1, 1)  # daemon:daemon, kept by the restore
    args = dict(srv.conn_args(), backup_dir=backup_dir, name="rt", **commands)
    chk = ansible_module("redis_restore", args, check=True)
    assert chk.changed and chk["src"] == bk["backup"]["path"] and c.exists("after-backup")
    r = ansible_module("redis_restore", args)
    assert not r.failed, r.result
    assert r["keyspace"]["0"]["keys"] == 400 and r["keyspace"]["2"]["keys"] == 30
    c2 = srv.client()
    assert not c2.exists("after-backup") and c2.exists("keep:0")
    st = os.stat(dump)
    assert (st.st_uid, st.st_gid) == (1, 1)
    assert r["previous"] and os.path.exists(r["previous"])


def test_restore_refuses_tampered_backup(srv, backup_dir, ansible_module):
    srv.client().set("k", "v")
    bk = ansible_module("redis_backup", dict(srv.conn_args(), backup_dir=backup_dir))
    with open(bk["backup"]["path"], "r+b") as fh:
        fh.seek(10)
        fh.write(b"\x00garbage")
    r = ansible_module("redis_restore", dict(srv.conn_args(), src=bk["backup"]["path"],
                                             stop_command=["false"], start_command=["false"]))
    assert r.failed and "does not match its manifest" in r["msg"]
    assert srv.client().ping()


def test_restore_stop_command_that_hangs_is_killed_at_wait_timeout(srv, backup_dir, ansible_module):
    """A stop command that never returns is killed at wait_timeout; the server was never stopped."""
    srv.client().set("k", "v")
    bk = ansible_module("redis_backup", dict(srv.conn_args(), backup_dir=backup_dir))
    r = ansible_module("redis_restore", dict(srv.conn_args(), src=bk["backup"]["path"], wait_timeout=2,
                                             stop_command=["sleep", "297"], start_command=["false"]))
    assert r.failed and "stopping the server" in r["msg"] and "deadline" in r["msg"], r.result
    assert srv.client().get("k") == b"v"
    leftover = subprocess.run(["pgrep", "-f", "^sleep 297$"], capture_output=True, check=False)
    assert leftover.returncode == 1, leftover.stdout


def test_restore_key_count_mismatch(restartable, backup_dir, ansible_module):
    srv, commands = restartable
    fill(srv.client(), 10, "k:")
    bk = ansible_module("redis_backup", dict(srv.conn_args(), backup_dir=backup_dir))
    # a manifest claiming more keys than the RDB holds: the restore must notice
    mpath = bk["backup"]["manifest"]
    with open(mpath, encoding="utf-8") as fh:
        manifest = json.load(fh)
    manifest["redis"]["keyspace"]["0"]["keys"] = 11
    with open(mpath, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh)
    r = ansible_module("redis_restore", dict(srv.conn_args(), src=bk["backup"]["path"], **commands))
    assert r.failed and "db0: 10 keys after restore, manifest says 11" in r["msg"]


def test_restore_refuses_aof(fresh_redis, backup_dir, ansible_module):
    srv = fresh_redis(extra_config="appendonly yes")
    srv.client().set("k", "v")
    wait_until(lambda: srv.client().info("persistence")["aof_rewrite_in_progress"] == 0, 30, "AOF rewrite")
    bk = ansible_module("redis_backup", dict(srv.conn_args(), backup_dir=backup_dir))
    assert not bk.failed, bk.result
    r = ansible_module("redis_restore", dict(srv.conn_args(), src=bk["backup"]["path"],
                                             stop_command=["false"], start_command=["false"]))
    assert r.failed and "appendonly yes" in r["msg"]
