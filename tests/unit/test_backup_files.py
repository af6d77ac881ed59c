# SPDX-License-Identifier: GPL-3.0-or-later
"""Atomic writes, checksums, manifests and leftovers of module_utils/_backup.py (real files)."""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B

T0 = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)


def make_backup(directory, name, when, data=b"hello", verified=True, kind="postgres"):
    final = os.path.join(directory, B.backup_basename(name, when, ".dump"))
    with B.atomic_writer(final) as fh:
        fh.write(data)
    manifest = B.new_manifest(kind, name, final, when, when, B.file_entries(final, directory), {"x": 1})
    B.set_verification(manifest, "list", verified)
    B.write_manifest(B.manifest_path_for(final), manifest)
    return final


def test_atomic_writer_commits_with_mode_and_checksum(tmp_path):
    final = tmp_path / "a.bin"
    with B.atomic_writer(str(final)) as fh:
        fh.write(b"abc" * 1000)
        digest = fh.hexdigest()
        assert not final.exists()
        assert any(p.name.startswith(".partial-") for p in tmp_path.iterdir())
    assert final.read_bytes() == b"abc" * 1000
    assert digest == hashlib.sha256(b"abc" * 1000).hexdigest() == B.sha256_file(str(final))
    assert (final.stat().st_mode & 0o777) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_atomic_writer_discards_on_error_and_refuses_overwrite(tmp_path):
    final = tmp_path / "a.bin"
    with pytest.raises(RuntimeError):
        with B.atomic_writer(str(final)) as fh:
            fh.write(b"x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    final.write_bytes(b"old")
    with pytest.raises(B.BackupError, match="already exists"):
        with B.atomic_writer(str(final)) as fh:
            fh.write(b"new")
    assert final.read_bytes() == b"old"


def test_partial_directory_commit(tmp_path):
    final = str(tmp_path / "d")
    partial = B.new_partial(final, directory=True)
    os.makedirs(os.path.join(partial, "sub"))
    for rel in ("toc.dat", "sub/1.dat"):
        with open(os.path.join(partial, rel), "wb") as fh:
            fh.write(rel.encode())
    B.commit_partial(partial, final)
    entries = B.file_entries(final, str(tmp_path))
    assert [e["path"] for e in entries] == ["d/sub/1.dat", "d/toc.dat"]
    assert (os.stat(final).st_mode & 0o777) == 0o700
    assert (os.stat(os.path.join(final, "toc.dat")).st_mode & 0o777) == 0o600


def test_manifest_roundtrip_filter_and_verify(tmp_path):
    d = str(tmp_path)
    a = make_backup(d, "app/db", T0)
    make_backup(d, "other", T0 + dt.timedelta(hours=1))
    make_backup(d, "app/db", T0 + dt.timedelta(hours=2), verified=False)
    (tmp_path / "foreign.manifest.json").write_text('{"hello": 1}')
    (tmp_path / "notes.txt").write_text("not ours")
    recs = B.read_manifests(d, "postgres", "app/db")
    assert [r.verified for r in recs] == [True, False]
    assert recs[0].path == a and recs[0].complete
    assert recs[0].manifest["postgres"] == {"x": 1}
    assert B.latest_verified(recs).path == a
    assert B.read_manifests(d, "redis", "app/db") == []
    assert B.verify_files(recs[0]) == []
    # flip one byte
    with open(a, "r+b") as fh:
        fh.seek(2)
        byte = fh.read(1)
        fh.seek(2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    problems = B.verify_files(recs[0])
    assert len(problems) == 1 and "does not match" in problems[0]
    # truncate -> incomplete, no longer latest
    with open(a, "r+b") as fh:
        fh.truncate(1)
    recs = B.read_manifests(d, "postgres", "app/db")
    assert not recs[0].complete and B.latest_verified(recs) is None


def test_delete_backup_and_leftovers(tmp_path):
    d = str(tmp_path)
    a = make_backup(d, "db", T0)
    rec = B.read_manifests(d, "postgres", "db")[0]
    B.delete_backup(rec)
    assert os.listdir(d) == []
    # orphan manifest + a dead process's partial + a live process's partial
    b = make_backup(d, "db", T0)
    os.unlink(b)
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead_pid = int(proc.stdout)
    dead = tmp_path / f".partial-{dead_pid}-db-x.dump"
    dead.write_bytes(b"half")
    live = tmp_path / f".partial-{os.getppid()}-db-y.dump"
    live.write_bytes(b"half")
    (tmp_path / "unrelated.dump").write_bytes(b"keep me")
    left = B.find_leftovers(d)
    assert sorted(os.path.basename(lo.path) for lo in left) == sorted([dead.name, os.path.basename(B.manifest_path_for(b))])
    assert B.find_leftovers(d, name_prefix="zzz-") == []
    for lo in left:
        B.remove_leftover(lo)
    assert sorted(os.listdir(d)) == sorted([live.name, "unrelated.dump"])
    assert a  # noqa


def test_space_check(tmp_path):
    free = B.check_free_space(str(tmp_path), 1)
    assert free > 0
    with pytest.raises(B.BackupError) as exc:
        B.check_free_space(str(tmp_path), free * 10 + 10**15, "database 'x'")
    assert str(tmp_path) in str(exc.value) and "needed" in str(exc.value) and "free" in str(exc.value)


def test_names_and_times():
    assert B.safe_name("appdb") == "appdb" and B.safe_name("app-db_2.x") == "app-db_2.x"
    assert B.safe_name("a/b c").startswith("a_b_c+") and B.safe_name("..").startswith("_+")
    assert B.parse_time(B.format_time(T0)) == T0
    assert B.backup_basename("db", T0, ".dump") == "db-20261123T120000_000000Z.dump"


def test_kind_details_key(tmp_path):
    final = str(tmp_path / "x.tar.gz")
    with B.atomic_writer(final) as fh:
        fh.write(b"x")
    m = B.new_manifest("files", "x", final, T0, T0, B.file_entries(final, str(tmp_path)), {"file_count": 1})
    assert isinstance(m["files"], list) and m["archive"] == {"file_count": 1}
    assert B.details_key("postgres") == "postgres" and B.details_key("redis") == "redis"


# -- issue 15: names that collide ------------------------------------------------
HOSTILE_NAMES = ["app/db", "app_db", "app db", "app.db", "app..db", "../etc", ".hidden", "trailing.", "a\\b",
                 "caf\u00e9", "cafe\u0301", "\u65e5\u672c", "x" * 300, "x" * 301, 'quo"te', "new\nline", "", "-", "+x",
                 "a_b+0123456789ab"]


def test_safe_names_are_distinct_and_safe():
    out = [B.safe_name(n) for n in HOSTILE_NAMES]
    assert len(set(out)) == len(out), dict(zip(HOSTILE_NAMES, out))
    for safe in out:
        assert safe and safe not in (".", "..") and "/" not in safe and "\0" not in safe
        assert safe.isascii() and not safe.startswith(".") and len(safe) <= 120
        assert all(c.isalnum() or c in "._-+" for c in safe)


def test_hostile_names_get_their_own_backups(tmp_path):
    d = str(tmp_path)
    names = ["app/db", "app_db", "app db", "caf\u00e9", "caf_"]
    for i, name in enumerate(names):
        make_backup(d, name, T0, data=name.encode())
    assert len([p for p in os.listdir(d) if p.endswith(".dump")]) == len(names)
    for name in names:
        recs = B.read_manifests(d, "postgres", name)
        assert len(recs) == 1 and open(recs[0].path, "rb").read() == name.encode()


def test_file_entries_take_known_sums_only_when_the_size_matches(tmp_path):
    d = tmp_path / "b.dir"
    d.mkdir()
    (d / "1.dat.gz").write_bytes(b"one")
    (d / "2.dat.gz").write_bytes(b"two, grown since it was hashed")
    (d / "toc.dat").write_bytes(b"toc")
    known = {"1.dat.gz": (3, "a" * 64), "2.dat.gz": (3, "b" * 64)}
    entries = {e["path"]: e for e in B.file_entries(str(d), str(tmp_path), known)}
    assert entries["b.dir/1.dat.gz"]["sha256"] == "a" * 64  # taken as computed while it was written
    assert entries["b.dir/2.dat.gz"]["sha256"] == hashlib.sha256(b"two, grown since it was hashed").hexdigest()
    assert entries["b.dir/toc.dat"]["sha256"] == hashlib.sha256(b"toc").hexdigest()
