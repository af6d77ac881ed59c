# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the pg_report tests: a database with known contents, a second one
without pg_stat_statements, and background sessions closed at teardown."""
from __future__ import annotations

import uuid

import pytest

from harness.net import wait_until

SUFFIX = uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def report_dbs(pg):
    """(main, nopgss): main has pg_stat_statements, tables of known sizes, an unused
    index, a table read by many sequential scans and 5000 dead tuples."""
    main, nopgss = f"rbreport_main_{SUFFIX}", f"rbreport_nopgss_{SUFFIX}"
    for db in (main, nopgss):
        pg.psql(f"CREATE DATABASE {db}")
    pg.psql(
        "CREATE EXTENSION pg_stat_statements;"
        "CREATE TABLE big (id int PRIMARY KEY, payload text NOT NULL);"
        "INSERT INTO big SELECT g, repeat(md5(g::text), 6) FROM generate_series(1, 20000) g;"
        "CREATE INDEX big_payload_idx ON big (payload);"
        "CREATE TABLE small (id int PRIMARY KEY, v int NOT NULL);"
        "INSERT INTO small SELECT g, g FROM generate_series(1, 100) g;"
        "CREATE TABLE scanned (id int, v int);"
        "INSERT INTO scanned SELECT g, g FROM generate_series(1, 5000) g;",
        database=main,
    )
    # Each session's counts reach the statistics when its backend exits, which the next psql does not wait
    # for. A DELETE counted before the INSERT it follows leaves live tuples at max(0, -5000) = 0, then 20000:
    # wait for the inserts to be counted first (a busy machine showed it on PostgreSQL 17).
    wait_until(lambda: pg.psql("SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'big'",
                               database=main) == "20000", 30, "the inserts into big in the statistics")
    pg.psql("SET enable_indexscan = off; SET enable_bitmapscan = off; DELETE FROM big WHERE id <= 5000", database=main)
    pg.psql(";".join(["SELECT count(*) FROM scanned WHERE v > 10"] * 40), database=main)
    pg.psql("SELECT pg_sleep(0.2); SELECT pg_sleep(0.2)", database=main)
    pg.psql("CREATE TABLE lonely (id int); INSERT INTO lonely VALUES (1)", database=nopgss)

    def stats_visible() -> bool:
        out = pg.psql(
            "SELECT (SELECT n_dead_tup = 5000 AND n_live_tup = 15000 FROM pg_stat_user_tables WHERE relname = 'big')"
            " AND (SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'scanned') >= 40",
            database=main,
        )
        return out == "t"

    wait_until(stats_visible, 30, "table statistics of the pg_report database")
    try:
        yield main, nopgss
    finally:
        for db in (main, nopgss):
            pg.psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
