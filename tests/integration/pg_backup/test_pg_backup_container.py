# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_backup / pg_restore with the tools inside a container (podman exec), against the harness server.

The container shares the host network, so pg_dump inside it reaches the test server on 127.0.0.1; the dump
is streamed (custom) or copied out (directory) to backup_dir on the host. Needs podman and an image with the
PostgreSQL 15 client (RUNBOOK_PG_IMAGE, default localhost/runbook-service:latest, built by the molecule
scenarios); skipped otherwise.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid

import pytest

from pgbk_helpers import backup_args

IMAGE = os.environ.get("RUNBOOK_PG_IMAGE", "localhost/runbook-service:latest")


@pytest.fixture(scope="module")
def pg_container():
    if not shutil.which("podman"):
        pytest.skip("podman not installed")
    if subprocess.run(["podman", "image", "exists", IMAGE], check=False).returncode != 0:
        pytest.skip(f"image {IMAGE} not built")
    name = f"runbook-pgtools-{uuid.uuid4().hex[:8]}"
    res = subprocess.run(["podman", "run", "-d", "--network", "host", "--name", name, IMAGE, "sleep", "3600"],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        pytest.skip(f"cannot start a container: {res.stderr.strip()}")
    try:
        yield name
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True, check=False)


@pytest.mark.parametrize("fmt", ["custom", "directory"])
def test_backup_and_restore_in_container(pg, ansible_module, backup_db, backup_dir, pg_container, fmt):
    extra = {"jobs": 2} if fmt == "directory" else {}
    r = ansible_module("pg_backup", backup_args(pg, backup_dir, backup_db, format=fmt, container=pg_container,
                                                engine="podman", globals=True, **extra))
    assert not r.failed, r.result
    db_backup = next(b for b in r["backups"] if b["name"] == backup_db)
    assert db_backup["verified"] == "passed"
    cmds = [" ".join(c) for c in r["commands"]]
    assert any(c.startswith(shutil.which("podman") + " exec -e PGPASSWORD " + pg_container + " pg_dump") for c in cmds)
    secret = pg.conn_args()["login_password"]
    assert secret not in json.dumps(r.result)
    with open(db_backup["manifest"], encoding="utf-8") as fh:
        m = json.load(fh)
    assert m["postgres"]["ran_in"].startswith("container")
    assert m["postgres"]["row_counts"]["public.items"] == 1000
    target = f"{backup_db}_ctr"
    try:
        res = ansible_module("pg_restore", dict(pg.conn_args(), backup="latest", backup_dir=backup_dir, database=backup_db,
                                                target_database=target, create=True, container=pg_container, **extra))
        assert not res.failed and res["row_count_differences"] == [], res.result
    finally:
        pg.psql(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
    # nothing left behind in the container's /tmp
    left = subprocess.run(["podman", "exec", pg_container, "sh", "-c", "ls -A /tmp"], capture_output=True, text=True,
                          check=False).stdout.split()
    assert left == []
