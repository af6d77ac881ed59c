# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_vacuum with tables locked by another session: skip_locked and lock_timeout."""
from __future__ import annotations

import threading

import pytest

from harness.net import wait_until
from pg_vacuum_helpers import tables_by_name

pytestmark = pytest.mark.integration


@pytest.fixture
def locked(vacdb):
    """Two tables over the thresholds; `held` is ACCESS EXCLUSIVE-locked by another session."""
    vacdb.make_table("held", 4000, update=2000)
    vacdb.make_table("free", 4000, update=2000)
    conn = vacdb.connect(autocommit=False)
    conn.execute("LOCK TABLE public.held IN ACCESS EXCLUSIVE MODE")
    try:
        yield vacdb
    finally:
        conn.rollback()
        conn.close()


def test_skip_locked_reports_the_locked_table_and_does_not_wait(locked, ansible_module):
    args = locked.module_args(skip_locked=True)
    # a wait for the lock would never end while the test holds it: the timeout makes that a failure
    check = ansible_module("pg_vacuum", args, check=True, timeout=120)
    real = ansible_module("pg_vacuum", args, timeout=120)
    for r in (check, real):
        assert not r.failed, r.result
        assert r.changed  # `free` was vacuumed
        assert r["statements"] == ['VACUUM (ANALYZE, SKIP_LOCKED) "public"."free"',
                                   'VACUUM (ANALYZE, SKIP_LOCKED) "public"."held"']
        held = tables_by_name(r)["held"]
        assert held["skip_reason"] == "locked" and not held["changed"] and held["action"] == "skipped"
        assert held["planned_action"] == "vacuum_analyze"
        assert r["totals"]["vacuumed"] == 1 and r["totals"]["skipped"] == 1
    assert "lock not available" in tables_by_name(real)["held"]["reason"]
    assert tables_by_name(real)["free"]["dead_tuples_after"] == 0
    assert tables_by_name(real)["held"]["dead_tuples_after"] == 2000


def test_only_locked_tables_means_unchanged(locked, ansible_module):
    args = locked.module_args(skip_locked=True, tables=["held"])
    check = ansible_module("pg_vacuum", args, check=True, timeout=120)
    real = ansible_module("pg_vacuum", args, timeout=120)
    assert not check.changed and not real.changed
    assert real["statements"] == check["statements"] == ['VACUUM (ANALYZE, SKIP_LOCKED) "public"."held"']


def test_lock_timeout_skips_the_table_and_goes_on(locked, ansible_module):
    args = locked.module_args(lock_timeout="200ms")
    check = ansible_module("pg_vacuum", args, check=True, timeout=120)
    real = ansible_module("pg_vacuum", args, timeout=120)
    for r in (check, real):
        assert not r.failed, r.result
        assert r.changed
        assert r["lock_timeout"] == "200ms"
        assert r["statements"] == ['VACUUM (ANALYZE) "public"."free"', 'VACUUM (ANALYZE) "public"."held"']
        assert tables_by_name(r)["held"]["skip_reason"] == "lock_timeout"
        assert tables_by_name(r)["free"]["changed"]
    assert "lock timeout" in tables_by_name(real)["held"]["reason"]
    assert locked.stats("free")["n_dead_tup"] == 0
    assert locked.stats("held")["n_dead_tup"] == 2000


def test_vacuum_is_not_cut_at_statement_timeout(vacdb, ansible_module):
    """statement_timeout bounds the catalog queries only: a VACUUM that waits for its lock longer than
    it still runs to the end (its documented bound is lock_timeout, here unset)."""
    vacdb.make_table("held", 4000, update=2000)
    locker = vacdb.connect(autocommit=False)
    locker.execute("LOCK TABLE public.held IN SHARE UPDATE EXCLUSIVE MODE")
    waited: list[float] = []

    def release_after_vacuum_waited() -> None:
        # the module's VACUUM has waited 3 s for the lock (3 x statement_timeout): let it go
        def waiting_long() -> bool:
            with vacdb.connect() as conn:
                row = conn.execute(
                    "SELECT EXTRACT(EPOCH FROM now() - query_start)::float8 FROM pg_stat_activity"
                    " WHERE query LIKE 'VACUUM%held%' AND wait_event_type = 'Lock'").fetchone()
            if row and row[0] >= 3:
                waited.append(row[0])
                return True
            return False
        try:
            wait_until(waiting_long, 120, "the module's VACUUM waiting for its lock", interval=0.2)
        finally:
            locker.rollback()

    releaser = threading.Thread(target=release_after_vacuum_waited, daemon=True)
    releaser.start()
    try:
        r = ansible_module("pg_vacuum", vacdb.module_args(tables=["held"], statement_timeout=1), timeout=300)
    finally:
        releaser.join(150)
        locker.close()
    assert not r.failed, r.result
    assert waited, "the VACUUM never waited for its lock"
    held = tables_by_name(r)["held"]
    assert held["changed"] and held["action"] == "vacuum_analyze" and held["duration"] >= 3, held
    assert vacdb.stats("held")["n_dead_tup"] == 0
