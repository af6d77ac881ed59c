# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_backup faults with a real server and real files: SIGKILL mid-dump, full destination, retention safety."""
from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest
from harness.ansible import BIN, REPO, ansible_env
from harness.fs import mount_tmpfs, unmount
from harness.net import wait_until

from pgbk_helpers import backup_args, make_db


@pytest.fixture(scope="module")
def big_db(pg):
    name = make_db(pg, prefix="bkbig", rows=3_000_000)
    yield name
    pg.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pids_with(text: str) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if text in cmd:
            out.append(int(entry))
    return out


def _start_backup(args: dict) -> subprocess.Popen:
    argv = [str(BIN / "ansible"), "localhost", "-m", "runbook.ops.pg_backup", "-a", json.dumps(args)]
    return subprocess.Popen(argv, cwd=REPO, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def _wait_partial_and_dump(backup_dir: str):
    """(partial path, module pid, pg_dump pid) once pg_dump is writing the partial file."""
    found = {}

    def ready():
        if not os.path.isdir(backup_dir):
            return False
        parts = [e for e in os.listdir(backup_dir) if e.startswith(".partial-")]
        if not parts:
            return False
        partial = os.path.join(backup_dir, parts[0])
        dumps = [p for p in _pids_with(partial) if "pg_dump" in open(f"/proc/{p}/cmdline", "rb").read().decode(errors="replace")]
        if not dumps or os.path.getsize(partial) == 0:
            return False
        found.update(partial=partial, module_pid=int(parts[0].split("-")[1]), dump_pid=dumps[0])
        return True

    wait_until(ready, 120, "pg_dump writing its partial file")
    return found["partial"], found["module_pid"], found["dump_pid"]


def test_pg_dump_sigkill_leaves_no_final_file(pg, ansible_module, big_db, tmp_path):
    backup_dir = str(tmp_path / "b")
    proc = _start_backup(backup_args(pg, backup_dir, big_db))
    partial, _module_pid, dump_pid = _wait_partial_and_dump(backup_dir)
    os.kill(dump_pid, signal.SIGKILL)
    out, _err = proc.communicate(timeout=300)
    assert proc.returncode != 0
    assert "pg_dump of" in out and "failed" in out
    # the module removed its partial file; nothing under a final name
    assert os.listdir(backup_dir) == []


def test_killed_run_leftover_ignored_then_cleaned(pg, ansible_module, big_db, tmp_path):
    backup_dir = str(tmp_path / "b")
    first = ansible_module("pg_backup", backup_args(pg, backup_dir, big_db))
    assert not first.failed, first.result
    good = first["backups"][0]["path"]
    proc = _start_backup(backup_args(pg, backup_dir, big_db))
    partial, module_pid, dump_pid = _wait_partial_and_dump(backup_dir)
    # the whole run dies at once (OOM killer, reboot): module first, then its pg_dump, then ansible
    os.kill(module_pid, signal.SIGKILL)
    os.kill(dump_pid, signal.SIGKILL)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    wait_until(lambda: not _pids_with(partial), 30, "pg_dump gone")
    entries = sorted(os.listdir(backup_dir))
    assert os.path.basename(partial) in entries
    assert sorted(e for e in entries if not e.startswith(".partial-")) == sorted(
        [os.path.basename(good), os.path.basename(good) + ".manifest.json"])
    # latest ignores the leftover
    target = f"{big_db}_after_kill"
    try:
        res = ansible_module("pg_restore", dict(pg.conn_args(), backup="latest", backup_dir=backup_dir,
                                                database=big_db, target_database=target, create=True, jobs=2))
        assert not res.failed and res["backup"] == good, res.result
    finally:
        pg.psql(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
    # check mode reports it, the next run cleans it up and reports it
    check = ansible_module("pg_backup", backup_args(pg, backup_dir, big_db, keep_last=5), check=True)
    assert [lo["path"] for lo in check["leftovers_removed"]] == [partial]
    assert os.path.exists(partial)
    nxt = ansible_module("pg_backup", backup_args(pg, backup_dir, big_db, keep_last=5))
    assert not nxt.failed
    assert [lo["path"] for lo in nxt["leftovers_removed"]] == [partial]
    assert not os.path.exists(partial)


@pytest.fixture
def tiny_fs(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    try:
        mount_tmpfs(mnt, "size=2m")
    except OSError as exc:
        pytest.skip(f"cannot mount a tmpfs (needs root): {exc}")
    try:
        yield str(mnt)
    finally:
        unmount(mnt)


def test_destination_full(pg, ansible_module, backup_db, big_db, tiny_fs):
    backup_dir = os.path.join(tiny_fs, "pg")
    # an earlier backup that fits (no space check: a small database's pg_database_size exceeds 2 MiB)
    first = ansible_module("pg_backup", backup_args(pg, backup_dir, backup_db, space_factor=0))
    assert not first.failed, first.result
    earlier = first["backups"][0]
    # the space check refuses before dumping, naming the destination and the numbers
    r = ansible_module("pg_backup", backup_args(pg, backup_dir, big_db))
    assert r.failed and "not enough space in " + backup_dir in r["msg"] and "needed" in r["msg"] and "free" in r["msg"]
    # with the check off, pg_dump hits ENOSPC: clear error, partial removed
    r = ansible_module("pg_backup", backup_args(pg, backup_dir, big_db, space_factor=0))
    assert r.failed and "is full" in r["msg"] and backup_dir in r["msg"], r.result
    assert sorted(os.listdir(backup_dir)) == sorted([os.path.basename(earlier["path"]), os.path.basename(earlier["manifest"])])
    # the earlier backup is intact
    res = ansible_module("pg_restore", dict(pg.conn_args(), backup=earlier["path"], target_database=backup_db),
                         check=True)
    assert not res.failed and res["checksum"] == "ok"


def _backups(ansible_module, pg, backup_dir, db, n, **extra):
    out = []
    for _i in range(n):
        r = ansible_module("pg_backup", backup_args(pg, backup_dir, db, **extra))
        assert not r.failed, r.result
        out.append(r["backups"][0])
    return out


def test_retention_check_mode_predicts_and_foreign_files_untouched(pg, ansible_module, backup_db, tmp_path):
    backup_dir = str(tmp_path / "b")
    made = _backups(ansible_module, pg, backup_dir, backup_db, 3)
    unverified = _backups(ansible_module, pg, backup_dir, backup_db, 1, verify="none")[0]
    foreign = [os.path.join(backup_dir, "notes.txt"), os.path.join(backup_dir, f"{backup_db}-20200101T000000_000000Z.dump")]
    for f in foreign:
        with open(f, "w", encoding="utf-8") as fh:
            fh.write("not made by pg_backup")
        os.utime(f, (0, 0))
    args = backup_args(pg, backup_dir, backup_db, keep_last=2, max_age_days=0)
    before = sorted(os.listdir(backup_dir))
    check = ansible_module("pg_backup", args, check=True)
    assert not check.failed and check.changed
    assert sorted(os.listdir(backup_dir)) == before
    assert len(check["would_create"]) == 1 and check["backups"] == []
    assert sorted(check["deleted"]) == sorted(b["path"] for b in made)
    real = ansible_module("pg_backup", args)
    assert sorted(real["deleted"]) == sorted(check["deleted"])
    left = sorted(os.listdir(backup_dir))
    newest = real["backups"][0]
    for f in foreign:
        assert os.path.basename(f) in left
    assert os.path.basename(unverified["path"]) in left  # unverified: never counted, kept
    assert os.path.basename(newest["path"]) in left
    decisions = {d["path"]: d for d in real["retention"][backup_db]["keep"]}
    assert "always kept" in decisions[newest["path"]]["reason"]
    assert "not verified" in decisions[unverified["path"]]["reason"]


def test_newest_verified_kept_whatever_its_age(pg, ansible_module, backup_db, tmp_path):
    backup_dir = str(tmp_path / "b")
    made = _backups(ansible_module, pg, backup_dir, backup_db, 2)
    # the next run's verification fails (a bad pg_restore): the older verified backup must survive
    r = ansible_module("pg_backup", backup_args(pg, backup_dir, backup_db, keep_last=1, max_age_days=0, verify="none"))
    assert not r.failed
    assert r["deleted"] == [made[0]["path"]]
    assert os.path.exists(made[1]["path"])
    keep = {d["path"]: d["reason"] for d in r["retention"][backup_db]["keep"]}
    assert "always kept" in keep[made[1]["path"]]
