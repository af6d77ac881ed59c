# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_backup's row counts are read from the archive pg_dump writes: exact under concurrent writes,
exact for data that looks like COPY's own syntax, and a damaged archive is a failed backup."""
from __future__ import annotations

import json
import os
import sys
import threading

import psycopg
import pytest
from psycopg import sql

from pgbk_helpers import backup_args, make_db

# values that look like COPY syntax: newlines, tabs, backslashes, the terminator itself, empty lines
AWKWARD_SQL = r"""
CREATE TABLE public.awkward (id int, t text);
INSERT INTO public.awkward VALUES
  (1, E'two\nlines'), (2, E'tab\there'), (3, E'\\.'), (4, E'\\'), (5, E'\r\n'), (6, ''), (7, NULL),
  (8, E'\\.\n\n\n'), (9, E'ends with backslash-dot \\.');
CREATE TABLE public.blank_lines (t text);
INSERT INTO public.blank_lines SELECT '' FROM generate_series(1, 250);
INSERT INTO public.blank_lines VALUES (E'\\.'), (NULL);
CREATE TABLE public.measurements (at date, v int) PARTITION BY RANGE (at);
CREATE TABLE public.measurements_2025 PARTITION OF public.measurements FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE public.measurements_2026 PARTITION OF public.measurements FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO public.measurements SELECT DATE '2025-06-01' + (g % 400), g FROM generate_series(1, 4000) g;
CREATE UNLOGGED TABLE public.scratchpad AS SELECT g AS id FROM generate_series(1, 77) g;
CREATE MATERIALIZED VIEW public.item_labels AS SELECT label FROM public.items;
SELECT lo_from_bytea(0, convert_to(repeat(E'large\nobject\n', 1000), 'UTF8'));
"""


def load(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def awkward_db(pg):
    name = make_db(pg, prefix="bkcnt")
    pg.psql(AWKWARD_SQL, database=name)
    yield name
    pg.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def live_counts(pg, db) -> dict[tuple[str, str], int]:
    """Rows of every user table, counted by the server (no writes run meanwhile)."""
    out = {}
    with psycopg.connect(pg.dsn(database=db), autocommit=True) as conn:
        tables = conn.execute("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                              " WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
                              " AND n.nspname NOT LIKE 'pg_toast%'").fetchall()
        for schema, name in tables:
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name))
            out[(schema, name)] = conn.execute(query).fetchone()[0]
    return out


@pytest.mark.parametrize("fmt, extra, source", [
    ("custom", {}, "archive"),
    ("custom", {"compression_level": 1}, "archive"),
    ("directory", {"jobs": 2}, "archive"),
    ("directory", {"compression": "none"}, "archive"),
    ("plain", {"compression": "none"}, "snapshot"),
])
def test_counts_of_data_that_looks_like_copy_syntax(pg, ansible_module, awkward_db, tmp_path, fmt, extra, source):
    r = ansible_module("pg_backup", backup_args(pg, str(tmp_path / "b"), awkward_db, format=fmt, verify="restore",
                                                **extra))
    assert not r.failed, r.result
    [b] = r["backups"]
    assert b["verified"] == "passed", b["verification"]
    pgm = load(b["manifest"])["postgres"]
    assert pgm["row_counts_from"] == source
    # every table, the two partitions and the unlogged one included; not the materialized view
    assert b["tables"] == 8 and b["verification"]["tables_compared"] == 8
    assert b["verification"]["row_count_differences"] == []
    live = live_counts(pg, awkward_db)
    assert sorted(pgm["row_counts"].values()) == sorted(live.values()) == [0, 9, 77, 252, 321, 1000, 1860, 2140]
    if source == "archive":
        assert not any("--snapshot=" in " ".join(c) for c in r["commands"])


class Writer(threading.Thread):
    """Inserts and deletes rows of ``big`` in small transactions until stopped."""

    def __init__(self, dsn: str) -> None:
        super().__init__(daemon=True)
        self.dsn = dsn
        self.stop = threading.Event()
        self.commits = 0
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                n = 10_000_000
                while not self.stop.is_set():
                    with conn.transaction():
                        conn.execute("INSERT INTO big SELECT g, md5(g::text) FROM generate_series(%s, %s) g",
                                     (n, n + 49))
                        conn.execute("DELETE FROM big WHERE id IN (SELECT id FROM big ORDER BY id LIMIT 20)")
                    n += 50
                    self.commits += 1
        except Exception as exc:  # reported by the test
            self.error = exc


@pytest.mark.parametrize("fmt, extra", [("custom", {}), ("directory", {"jobs": 2})])
def test_counts_exact_under_concurrent_writes(pg, ansible_module, tmp_path, fmt, extra):
    db = make_db(pg, prefix="bkconc", rows=300_000)
    try:
        writer = Writer(pg.dsn(database=db))
        writer.start()
        try:
            before = int(pg.psql("SELECT count(*) FROM big", database=db))
            commits_before = writer.commits
            r = ansible_module("pg_backup", backup_args(pg, str(tmp_path / "b"), db, format=fmt, verify="restore",
                                                        **extra))
            commits_during = writer.commits - commits_before
        finally:
            writer.stop.set()
            writer.join(60)
        assert writer.error is None, writer.error
        after = int(pg.psql("SELECT count(*) FROM big", database=db))
        assert not r.failed, r.result
        [b] = r["backups"]
        pgm = load(b["manifest"])["postgres"]
        counted = pgm["row_counts"]["public.big"]
        # the writes really overlapped the backup, and the count is the dump's own snapshot:
        # the restored table has exactly the counted rows (verify=restore compares every table)
        assert commits_during > 0 and after > before
        assert before <= counted < after
        assert b["verified"] == "passed", b["verification"]
        assert b["verification"]["row_count_differences"] == []
        assert pgm["row_counts_from"] == "archive"
    finally:
        pg.psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def test_damaged_archive_is_a_failed_backup(pg, ansible_module, backup_db, tmp_path):
    # a pg_dump that succeeds but leaves its archive cut short: the counts cannot be read, so the backup
    # is kept for inspection, recorded as failed (never counted by retention) and the module fails
    real = os.path.join(pg.bindir, "pg_dump")
    fake = tmp_path / "bin" / "pg_dump"
    fake.parent.mkdir()
    fake.write_text(
        f"#!{sys.executable}\n"
        "import os, subprocess, sys\n"
        f"real = {real!r}\n"
        "args = sys.argv[1:]\n"
        "if '-f' not in args:\n"
        "    os.execv(real, [real] + args)\n"
        "out = args[args.index('-f') + 1]\n"
        "args[args.index('-f') + 1] = out + '.whole'\n"
        "rc = subprocess.call([real] + args)\n"
        "with open(out + '.whole', 'rb') as fh:\n"
        "    data = fh.read()\n"
        "os.unlink(out + '.whole')\n"
        "with open(out, 'wb') as fh:\n"
        "    fh.write(data[:-20])\n"
        "sys.exit(rc)\n"
    )
    fake.chmod(0o755)
    r = ansible_module("pg_backup", backup_args(pg, str(tmp_path / "b"), backup_db, pg_dump_path=str(fake)))
    assert r.failed
    assert "row counts: cannot read the archive pg_dump wrote" in r["msg"], r.result
    [b] = r["backups"]
    assert b["verified"] == "failed" and os.path.isfile(b["path"])
    assert load(b["manifest"])["postgres"]["row_counts"] is None
