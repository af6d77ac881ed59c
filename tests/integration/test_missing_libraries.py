# SPDX-License-Identifier: GPL-3.0-or-later
"""A managed host without the client libraries: the modules fail with Ansible's
"missing required library" message naming the package, not with a traceback."""
from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    """A Python with nothing but the standard library (no psycopg, no redis)."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    for lib in ("psycopg", "redis"):
        probe = subprocess.run([str(python), "-c", f"import {lib}"], capture_output=True, check=False)
        assert probe.returncode != 0, f"{lib} is importable from the bare venv"
    return str(python)


@pytest.mark.parametrize("module, args, package", [
    ("pg_vacuum", {"login_host": "127.0.0.1", "login_port": 1, "databases": ["x"]}, "psycopg"),
    ("pg_report", {"login_host": "127.0.0.1", "login_port": 1}, "psycopg"),
    ("pg_backup", {"login_host": "127.0.0.1", "login_port": 1, "databases": ["x"], "backup_dir": "/nonexistent",
                   "verify": "restore"}, "psycopg"),
    ("pg_backup", {"login_host": "127.0.0.1", "login_port": 1, "databases": ["x"], "backup_dir": "/nonexistent",
                   "format": "plain"}, "psycopg"),  # rows counted in an exported snapshot
    ("redis_purge", {"login_host": "127.0.0.1", "login_port": 1, "patterns": ["cache:*"]}, "redis"),
    ("redis_maintenance", {"login_host": "127.0.0.1", "login_port": 1}, "redis"),
])
def test_missing_client_library_is_named(ansible_module, bare_python, module, args, package):
    res = ansible_module(module, args, extra_vars={"ansible_python_interpreter": bare_python})
    assert res.failed, res.result
    msg = res["msg"]
    assert "Failed to import the required Python library" in msg and package in msg, msg
    assert not msg.startswith("Traceback"), msg
    # the original import error travels with it (shown with -vvv)
    assert "exception" in res.result


def test_pg_backup_needs_no_driver_for_a_verified_custom_backup(ansible_module, bare_python, pg, tmp_path):
    """pg_backup's default path (custom format, rows counted in the archive, verify=list) asks the server
    through psql and never imports psycopg: it works on a host without it."""
    pg.psql("CREATE DATABASE nodriver")
    pg.psql("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 321) g", database="nodriver")
    res = ansible_module("pg_backup", dict(pg.conn_args(), databases=["nodriver"], backup_dir=str(tmp_path / "b")),
                         extra_vars={"ansible_python_interpreter": bare_python})
    assert not res.failed, res.result
    (backup,) = res["backups"]
    assert backup["verified"] == "passed" and backup["total_rows"] == 321, backup
