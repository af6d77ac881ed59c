# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the pg_activity tests: a database of their own, a monitoring role
that sees every session but may not signal a superuser's, and background
sessions closed at teardown."""
from __future__ import annotations

import uuid

import pytest


SUFFIX = uuid.uuid4().hex[:8]
MONITOR_ROLE = f"rb_activity_monitor_{SUFFIX}"
MONITOR_PASSWORD = "monitor-secret-pw"


@pytest.fixture(scope="module")
def activity_db(pg):
    db = f"rbactivity_{SUFFIX}"
    pg.psql(f"CREATE DATABASE {db}")
    pg.psql("CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 1), (2, 2);"
            "GRANT SELECT, UPDATE ON t TO PUBLIC", database=db)
    try:
        yield db
    finally:
        pg.psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


@pytest.fixture(scope="module")
def monitor_role(pg):
    """Login role in pg_read_all_stats: sees all sessions, may not signal superusers."""
    pg.psql(f"CREATE ROLE {MONITOR_ROLE} LOGIN PASSWORD '{MONITOR_PASSWORD}' IN ROLE pg_read_all_stats")
    try:
        yield MONITOR_ROLE, MONITOR_PASSWORD
    finally:
        pg.psql(f"DROP ROLE IF EXISTS {MONITOR_ROLE}")
