# SPDX-License-Identifier: GPL-3.0-or-later
"""A host without boto3: S3 fails naming the library; path and SSH destinations need nothing beyond the
standard library."""
from __future__ import annotations

import subprocess
import sys

from offsite_helpers import copy_manifests, make_file_backups

from harness.ansible import run_module


def test_boto3_is_only_needed_for_s3(tmp_path):
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    assert subprocess.run([python, "-c", "import boto3"], capture_output=True, check=False).returncode != 0
    backup_dir = make_file_backups(tmp_path, 1)
    bare = {"ansible_python_interpreter": python}
    r = run_module("backup_copy", {"backup_dir": backup_dir, "destination": {"type": "s3", "bucket": "b"}},
                   extra_vars=bare)
    assert r.failed and "Failed to import the required Python library" in r["msg"] and "boto3" in r["msg"], r.result
    assert "destination.type=s3" in r["msg"] and "exception" in r.result
    ok = run_module("backup_copy", {"backup_dir": backup_dir, "destination": {"type": "path", "path": str(tmp_path / "d")}},
                    extra_vars=bare)
    assert not ok.failed and ok["copies"][0]["status"] == "copied", ok.get("msg")
    assert len(copy_manifests(tmp_path / "d")) == 1
