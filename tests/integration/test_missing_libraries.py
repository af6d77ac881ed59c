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
    ("pg_backup", {"login_host": "127.0.0.1", "login_port": 1, "databases": ["x"], "backup_dir": "/nonexistent"},
     "psycopg"),
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
