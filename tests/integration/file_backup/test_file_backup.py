# SPDX-License-Identifier: GPL-3.0-or-later
"""file_backup with real files: excludes, modes, manifests, verification, retention, faults."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import tarfile

import pytest


@pytest.fixture
def tree(tmp_path):
    app = tmp_path / "app"
    (app / "src").mkdir(parents=True)
    (app / "node_modules" / "x").mkdir(parents=True)
    (app / ".git").mkdir()
    (app / ".env").write_text("SECRET=1\n")
    (app / "src" / "main.py").write_text("print('hi')\n" * 100)
    (app / "src" / "cache.pyc").write_bytes(b"\0" * 50)
    (app / "node_modules" / "x" / "big.js").write_text("x" * 10000)
    (app / ".git" / "HEAD").write_text("ref\n")
    (app / "media.bin").write_bytes(os.urandom(200_000))
    return app


def args_for(tree, backup_dir, **extra):
    a = dict(name="app", paths=[str(tree)], exclude=["node_modules", ".git", "*.pyc"], backup_dir=backup_dir)
    a.update(extra)
    return a


def names_in(path):
    if path.endswith(".zst"):
        out = subprocess.run(["tar", "--zstd", "-tf", path], capture_output=True, text=True, check=True).stdout
        return sorted(x.rstrip("/") for x in out.split())
    with tarfile.open(path) as tar:
        return sorted(tar.getnames())


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_archive_excludes_modes_manifest(ansible_module, tree, tmp_path, compression):
    backup_dir = str(tmp_path / "files")
    r = ansible_module("file_backup", args_for(tree, backup_dir, compression=compression))
    assert not r.failed, r.result
    b = r["backup"]
    assert b["verified"] == "passed" and b["file_count"] == 3
    assert b["bytes"] == 9 + 1200 + 200_000
    assert stat.S_IMODE(os.stat(b["path"]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(backup_dir).st_mode) == 0o700
    rel = str(tree).lstrip("/")
    names = names_in(b["path"])
    assert f"{rel}/.env" in names and f"{rel}/src/main.py" in names
    assert not any("node_modules" in n or ".git" in n or n.endswith(".pyc") for n in names)
    with open(b["manifest"], encoding="utf-8") as fh:
        m = json.load(fh)
    assert m["kind"] == "files" and m["verified"] == "passed" and m["verification"]["files_read"] == 3
    assert m["files"] == [{"path": os.path.basename(b["path"]), "size": os.path.getsize(b["path"]), "sha256": b["sha256"]}]
    assert m["archive"]["file_count"] == 3 and m["archive"]["paths"] == [str(tree)]
    assert m["archive"]["exclude"] == ["node_modules", ".git", "*.pyc"]


def test_check_mode_and_retention(ansible_module, tree, tmp_path):
    backup_dir = str(tmp_path / "files")
    first = ansible_module("file_backup", args_for(tree, backup_dir))["backup"]
    second = ansible_module("file_backup", args_for(tree, backup_dir))["backup"]
    (tmp_path / "files" / "app-notes.txt").write_text("mine")
    check = ansible_module("file_backup", args_for(tree, backup_dir, keep_last=2), check=True)
    assert check.changed and check["would_create"]["file_count"] == 3
    assert check["deleted"] == [first["path"]]
    assert os.path.exists(first["path"])
    real = ansible_module("file_backup", args_for(tree, backup_dir, keep_last=2))
    assert real["deleted"] == [first["path"]]
    left = sorted(os.listdir(backup_dir))
    assert "app-notes.txt" in left and os.path.basename(second["path"]) in left
    assert not os.path.exists(first["path"]) and not os.path.exists(first["manifest"])


def test_corrupt_archive_fails_read_verification(ansible_module, tree, tmp_path):
    """An archive damaged after writing: its checksum no longer matches the manifest."""
    from ansible_collections.runbook.ops.plugins.module_utils import _backup as B  # noqa: E402

    backup_dir = str(tmp_path / "files")
    b = ansible_module("file_backup", args_for(tree, backup_dir))["backup"]
    with open(b["path"], "r+b") as fh:
        fh.seek(os.path.getsize(b["path"]) // 2)
        fh.write(b"\xff\xff")
    rec = B.read_manifests(backup_dir, "files", "app")[0]
    assert B.verify_files(rec) and "does not match" in B.verify_files(rec)[0]


def test_bad_input(ansible_module, tree, tmp_path):
    r = ansible_module("file_backup", args_for(tree, str(tmp_path / "f"), paths=[str(tmp_path / "missing")]))
    assert r.failed and "does not exist" in r["msg"]
    r = ansible_module("file_backup", args_for(tree, str(tree / "backups")))
    assert r.failed and "inside paths" in r["msg"]
    r = ansible_module("file_backup", args_for(tree, str(tmp_path / "f"), compression_level=30))
    assert r.failed and "compression_level" in r["msg"]
