# SPDX-License-Identifier: GPL-3.0-or-later
"""backup_copy / backup_fetch to and from a mounted-path destination: copies verified where they landed,
incremental runs, check mode, remote retention, corruption, interrupted and full destinations, and a
PostgreSQL restore from the copy with row counts compared."""
from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from offsite_helpers import copy_manifests, make_file_backups

from harness.ansible import run_module
from harness.fs import small_tmpfs as fs_small_tmpfs


def copy(backup_dir, dest, check=False, **extra):
    args = {"backup_dir": backup_dir, "destination": {"type": "path", "path": str(dest)}}
    args.update(extra)
    return run_module("backup_copy", args, check=check)


def test_copy_verify_incremental_check_mode(tmp_path):
    backup_dir = make_file_backups(tmp_path, 2)
    remote = tmp_path / "nfs" / "db1"
    check = copy(backup_dir, remote, check=True)
    assert not check.failed and check.changed, check.result
    assert [c["status"] for c in check["copies"]] == ["copied", "copied"]
    assert not remote.exists(), "check mode wrote to the destination"

    r = copy(backup_dir, remote)
    assert not r.failed and r.changed, r.result
    assert r["destination"] == f"file://{remote}"
    assert [c["status"] for c in r["copies"]] == ["copied", "copied"]
    for c in r["copies"]:
        assert c["verified"] is True and c["kind"] == "files" and c["name"] == "app"
        assert c["size"] == os.path.getsize(c["backup"]) and c["copied_at"].endswith("Z")
        assert (remote / c["id"]).read_bytes() == Path(c["backup"]).read_bytes()
        assert (remote / (c["id"] + ".manifest.json")).read_bytes() == Path(c["backup"] + ".manifest.json").read_bytes()
    docs = copy_manifests(remote)
    assert set(docs) == {c["id"] for c in r["copies"]}
    doc = next(iter(docs.values()))
    assert doc["verified"] == "passed" and doc["source_host"] and doc["source_path"].startswith(backup_dir)
    assert doc["verification"]["method"] == "sha256 at the destination" and doc["copied_at"]
    assert stat.S_IMODE(remote.stat().st_mode) == 0o700
    for p in remote.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    assert r["series"] == [{"kind": "files", "name": "app", "destination": f"file://{remote}", "copies": 2,
                            "last_verified_backup_finished_at": doc_max(docs, "backup_finished_at"),
                            "last_verified_copied_at": docs[max(docs, key=lambda k: docs[k]["backup_finished_at"])]["copied_at"]}]

    # incremental: nothing to do, not changed (also predicted so in check mode)
    assert not copy(backup_dir, remote, check=True).changed
    again = copy(backup_dir, remote)
    assert not again.changed and [c["status"] for c in again["copies"]] == ["present", "present"], again.result
    make_file_backups(tmp_path, 1, backup_dir=backup_dir)
    third = copy(backup_dir, remote)
    assert [c["status"] for c in third["copies"]] == ["present", "present", "copied"]


def doc_max(docs, key):
    return max(d[key] for d in docs.values())


def test_remote_retention_keeps_more_and_never_touches_foreign_files(tmp_path):
    backup_dir = make_file_backups(tmp_path, 4)
    remote = tmp_path / "remote"
    first = copy(backup_dir, remote, keep_last=3)
    # the copies a run makes are never deleted by that run, even beyond keep_last
    assert not first.failed and first["deleted"] == [] and len(copy_manifests(remote)) == 4, first.result
    assert [k["reason"].startswith("copied by this run") for k in first["retention"]["app"]["keep"]].count(True) == 1
    (remote / "notes.txt").write_text("mine")
    (remote / "app-20200101T000000_000000Z.tar.gz").write_bytes(b"a file without our copy manifest")
    ids = sorted(copy_manifests(remote))
    # local retention keeps 1; the remote keeps 3
    local = run_module("file_backup", {"name": "app", "paths": [str(tmp_path / "src-app")], "backup_dir": backup_dir,
                                       "keep_last": 1})
    assert len(local["deleted"]) == 4
    check = copy(backup_dir, remote, keep_last=3, check=True)
    assert check.changed and len(check["deleted"]) == 2
    assert sorted(copy_manifests(remote)) == ids
    r = copy(backup_dir, remote, keep_last=3)
    assert not r.failed, r.get("msg")
    # 4 copies + the one this run makes, 3 kept: the two oldest go, the others stay although gone locally
    assert [c["status"] for c in r["copies"]] == ["copied"]
    assert r["deleted"] == [f"file://{remote}/{i}" for i in reversed(ids[:2])]
    assert sorted(copy_manifests(remote)) == ids[2:] + [r["copies"][0]["id"]]
    for gone in ids[:2]:
        assert not (remote / gone).exists() and not (remote / (gone + ".manifest.json")).exists()
    assert (remote / "notes.txt").read_text() == "mine"
    assert (remote / "app-20200101T000000_000000Z.tar.gz").exists()
    plan = r["retention"]["app"]
    assert sorted(d["id"] for d in plan["delete"]) == ids[:2]
    assert [k["reason"] for k in plan["keep"]][0] == "newest verified backup (always kept)"
    assert not copy(backup_dir, remote, keep_last=3).changed
    # keep_last=1: the newest verified copy is never deleted
    r3 = copy(backup_dir, remote, keep_last=1, max_age_days=0)
    assert len(copy_manifests(remote)) == 1 and not r3.failed


def test_corrupted_copy_is_detected_and_recopied(tmp_path):
    backup_dir = make_file_backups(tmp_path, 1)
    remote = tmp_path / "remote"
    c = copy(backup_dir, remote)["copies"][0]
    target = remote / c["id"]
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other content
    target.write_bytes(bytes(data))
    size_only = copy(backup_dir, remote, verify_existing="size")
    assert size_only["copies"][0]["status"] == "present"  # size checks cannot see it
    r = copy(backup_dir, remote)
    assert not r.failed and r.changed, r.result
    assert r["copies"][0]["status"] == "copied" and "re-copied" in r["copies"][0]["msg"]
    assert "sha256" in r["copies"][0]["msg"]
    assert target.read_bytes() == Path(c["backup"]).read_bytes()
    # a truncated copy is seen by the size check alone
    with open(target, "r+b") as fh:
        fh.truncate(100)
    r = copy(backup_dir, remote, verify_existing="size")
    assert r["copies"][0]["status"] == "copied" and "100 bytes" in r["copies"][0]["msg"]


def test_interrupted_copy_leaves_no_final_name_and_is_resumed(tmp_path):
    backup_dir = make_file_backups(tmp_path, 1, size=500_000)
    remote = tmp_path / "remote"
    rec = json.loads(next(Path(backup_dir).glob("*.manifest.json")).read_text())
    # what a run killed mid-file leaves: the staging directory with a partial file, nothing under a final name
    staging = remote / f".partial-copy-{rec['id']}"
    staging.mkdir(parents=True)
    local = Path(backup_dir) / rec["id"]
    (staging / rec["id"]).write_bytes(local.read_bytes()[:123_456])
    fetched = run_module("backup_fetch", {"destination": {"type": "path", "path": str(remote)}, "kind": "files",
                                          "name": "app", "dest_dir": str(tmp_path / "restore")})
    assert fetched.failed and "no complete, verified copy" in fetched["msg"]
    r = copy(backup_dir, remote)
    assert not r.failed and r["copies"][0]["status"] == "copied", r.result
    assert not staging.exists()
    assert (remote / rec["id"]).read_bytes() == local.read_bytes()
    assert copy_manifests(remote)[rec["id"]]["verified"] == "passed"
    # a partial whose beginning does not match the backup (resume verifies the whole file): copied again
    make_file_backups(tmp_path, 1, size=300_000, backup_dir=backup_dir)
    rec2 = max((json.loads(p.read_text()) for p in Path(backup_dir).glob("*.manifest.json")), key=lambda m: m["finished_at"])
    staging2 = remote / f".partial-copy-{rec2['id']}"
    staging2.mkdir()
    (staging2 / rec2["id"]).write_bytes(b"x" * 1000)
    r = copy(backup_dir, remote)
    assert [c["status"] for c in r["copies"]] == ["present", "copied"], r.result
    assert (remote / rec2["id"]).read_bytes() == (Path(backup_dir) / rec2["id"]).read_bytes()


def test_destination_not_ours_is_never_overwritten(tmp_path):
    backup_dir = make_file_backups(tmp_path, 1)
    remote = tmp_path / "remote"
    remote.mkdir()
    rec = json.loads(next(Path(backup_dir).glob("*.manifest.json")).read_text())
    (remote / rec["id"]).write_bytes(b"somebody else's file")
    r = copy(backup_dir, remote)
    assert r.failed and r["copies"][0]["status"] == "failed"
    assert "not written by backup_copy" in r["copies"][0]["msg"]
    assert (remote / rec["id"]).read_bytes() == b"somebody else's file"
    assert not copy_manifests(remote)


@pytest.fixture
def small_tmpfs(tmp_path):
    with fs_small_tmpfs(tmp_path / "full", "400k") as mnt:
        yield mnt


def test_destination_full_counts_nothing_and_keeps_the_local_backup(tmp_path, small_tmpfs):
    backup_dir = make_file_backups(tmp_path, 1, size=600_000)
    before = {p.name: p.read_bytes() for p in Path(backup_dir).iterdir()}
    r = copy(backup_dir, small_tmpfs / "db1")
    assert r.failed and r["copies"][0]["status"] == "failed" and r["copies"][0]["verified"] is False, r.result
    assert "full" in r["copies"][0]["msg"] or "No space" in r["copies"][0]["msg"]
    assert not copy_manifests(small_tmpfs / "db1")
    finals = [p.name for p in (small_tmpfs / "db1").iterdir() if not p.name.startswith(".partial")]
    assert finals == [], finals
    assert {p.name: p.read_bytes() for p in Path(backup_dir).iterdir()} == before
    fetched = run_module("backup_fetch", {"destination": {"type": "path", "path": str(small_tmpfs / "db1")},
                                          "kind": "files", "name": "app", "dest_dir": str(tmp_path / "r")})
    assert fetched.failed


def test_unverified_local_backups_are_not_copied(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    backup_dir = str(tmp_path / "backups")
    assert not run_module("file_backup", {"name": "noverify", "paths": [str(src)], "backup_dir": backup_dir,
                                          "verify": "none"}).failed
    make_file_backups(tmp_path, 1, backup_dir=backup_dir)
    r = copy(backup_dir, tmp_path / "remote")
    assert [c["name"] for c in r["copies"]] == ["app"]
    # a local backup that no longer matches its manifest is refused, not copied
    data = next(p for p in Path(backup_dir).iterdir() if p.name.startswith("app-") and p.name.endswith(".tar.gz"))
    shutil.copy(data, tmp_path / "keep")
    make_file_backups(tmp_path, 1, backup_dir=backup_dir)
    newest = max((p for p in Path(backup_dir).iterdir() if p.name.startswith("app-") and p.name.endswith(".tar.gz")))
    with open(newest, "r+b") as fh:
        fh.seek(10)
        fh.write(b"\0\0\0\0")
    r = copy(backup_dir, tmp_path / "remote")
    assert r.failed and r["copies"][-1]["status"] == "failed" and "does not match its manifest" in r["copies"][-1]["msg"]
    assert r["copies"][0]["status"] == "present"


def test_pg_restore_from_the_copy_after_local_backups_are_gone(tmp_path, pg):
    db = f"offsite_{os.getpid()}"
    pg.psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    pg.psql(f'CREATE DATABASE "{db}"')
    pg.psql("CREATE TABLE items AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 2345) g;"
            'CREATE SCHEMA "Odd"; CREATE TABLE "Odd"."T x" AS SELECT g FROM generate_series(1, 77) g;', database=db)
    target = f"{db}_restored"
    try:
        backup_dir = str(tmp_path / "pg")
        b = run_module("pg_backup", dict(pg.conn_args(), backup_dir=backup_dir, databases=[db], format="directory"))
        assert not b.failed, b.result
        remote = tmp_path / "nfs"
        r = copy(backup_dir, remote, kind="postgres", names=[db])
        assert not r.failed and [c["status"] for c in r["copies"]] == ["copied"], r.result
        shutil.rmtree(backup_dir)
        dest = {"type": "path", "path": str(remote)}
        staging = str(tmp_path / "restore")
        check = run_module("backup_fetch", {"destination": dest, "kind": "postgres", "name": db, "dest_dir": staging},
                           check=True)
        assert check.changed and not os.path.exists(staging)
        f = run_module("backup_fetch", {"destination": dest, "kind": "postgres", "name": db, "dest_dir": staging})
        assert not f.failed and f["status"] == "fetched" and f["checksum"] == "ok", f.result
        assert os.path.isdir(f["backup"]) and stat.S_IMODE(os.stat(f["backup"]).st_mode) == 0o700
        again = run_module("backup_fetch", {"destination": dest, "kind": "postgres", "name": db, "dest_dir": staging})
        assert not again.changed and again["status"] == "present"
        res = run_module("pg_restore", dict(pg.conn_args(), backup=f["backup"], target_database=target, create=True))
        assert not res.failed, res.result
        assert res["row_count_differences"] == [] and res["tables_compared"] == 2
        assert pg.psql("SELECT count(*) FROM items", database=target).strip() == "2345"
        # a corrupted copy is refused before use and leaves nothing in the restore directory
        shutil.rmtree(staging)
        toc = next(p for p in remote.rglob("toc.dat"))
        with open(toc, "r+b") as fh:
            fh.seek(20)
            b20 = fh.read(1)
            fh.seek(20)
            fh.write(bytes([b20[0] ^ 1]))
        bad = run_module("backup_fetch", {"destination": dest, "kind": "postgres", "name": db, "dest_dir": staging})
        assert bad.failed and "does not match" in bad["msg"], bad.result
        assert os.listdir(staging) == []
    finally:
        pg.psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        pg.psql(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')


def test_corrupted_copy_of_a_backup_gone_locally_stops_counting(tmp_path):
    backup_dir = make_file_backups(tmp_path, 2)
    remote = tmp_path / "remote"
    first = copy(backup_dir, remote)
    older, newer = first["copies"]
    # the host's retention removes both backups; the newest copy then rots on the destination
    for c in (older, newer):
        os.unlink(c["backup"])
        os.unlink(c["backup"] + ".manifest.json")
    with open(remote / newer["id"], "r+b") as fh:
        fh.seek(100)
        fh.write(b"rot")
    check = copy(backup_dir, remote, keep_last=1, check=True)
    # check mode predicts it: the rotten copy would stop counting, so the older good one is not deleted
    assert check.changed and check["deleted"] == [] and any("no longer counts" in w for w in check.get("warnings", [])), check.result
    assert copy_manifests(remote)[newer["id"]]["verified"] == "passed"  # check mode changed nothing
    r = copy(backup_dir, remote, keep_last=1)
    assert not r.failed and r.changed and r["copies"] == [], r.result
    assert any(newer["id"] in w and "no longer counts" in w for w in r.get("warnings", [])), r.result
    docs = copy_manifests(remote)
    assert docs[newer["id"]]["verified"] == "failed" and "sha256" in docs[newer["id"]]["verification"]["error"]
    # the good older copy is now the newest verified one: kept, and it is what a restore gets
    assert docs[older["id"]]["verified"] == "passed" and r["deleted"] == []
    f = run_module("backup_fetch", {"destination": {"type": "path", "path": str(remote)}, "kind": "files",
                                    "name": "app", "dest_dir": str(tmp_path / "restore")})
    assert not f.failed and f["id"] == older["id"], f.get("msg")
