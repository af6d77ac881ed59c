# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_report against a real PostgreSQL, run through Ansible."""
from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from harness.ansible import ansible_core_version, no_traceback
from harness.net import free_port

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
ALL_SECTIONS = {
    "databases", "tables", "bloat", "unused_indexes", "seq_scans", "slow_queries",
    "sessions", "locks", "connections", "cache_hit", "wraparound", "vacuum",
}


def run(ansible_module, pg, check=False, user="postgres", **args):
    return ansible_module("pg_report", dict(pg.conn_args(user=user), **args), check=check)


def by_table(rows):
    return {(r["database"], r["schema"], r["table"]): r for r in rows}


def test_tables_report_real_sizes_largest_first(ansible_module, pg, report_dbs):
    main = report_dbs[0]
    r = run(ansible_module, pg, sections=["tables"], databases=[main])
    assert not r.failed, r.result
    tables = r["report"]["tables"]
    assert [t["table"] for t in tables][:1] == ["big"]
    assert {t["table"] for t in tables} == {"big", "small", "scanned"}
    for t in tables:
        expected = pg.psql(
            f"SELECT pg_total_relation_size('{t['table']}'), pg_size_pretty(pg_total_relation_size('{t['table']}')),"
            f" pg_relation_size('{t['table']}'), pg_indexes_size('{t['table']}')",
            database=main,
        ).split("|")
        assert t["database"] == main and t["schema"] == "public"
        assert t["total_bytes"] == int(expected[0])
        assert t["total_pretty"] == expected[1]
        assert t["table_bytes"] == int(expected[2])
        assert t["index_bytes"] == int(expected[3])
        assert t["locked"] is False
    assert by_table(tables)[(main, "public", "big")]["live_tuples"] == 15000
    assert r["section_status"] == {"tables": {"status": "ok", "message": "", "rows": 3}}


def test_bloat_lists_dead_tuples_over_threshold(ansible_module, pg, report_dbs):
    main = report_dbs[0]
    r = run(ansible_module, pg, sections=["bloat"], databases=[main], dead_tuples_min=1000)
    assert not r.failed, r.result
    rows = r["report"]["bloat"]
    assert [x["table"] for x in rows] == ["big"]
    big = rows[0]
    assert big["dead_tuples"] == 5000 and big["live_tuples"] == 15000
    assert big["dead_percent"] == 25.0
    assert big["bloat_estimate_bytes"] == big["table_bytes"] // 4
    r = run(ansible_module, pg, sections=["bloat"], databases=[main], dead_tuples_min=5001)
    assert r["report"]["bloat"] == []


def test_unused_indexes_leave_out_unique_unless_asked(ansible_module, pg, report_dbs):
    main = report_dbs[0]
    r = run(ansible_module, pg, sections=["unused_indexes"], databases=[main])
    assert not r.failed, r.result
    rows = r["report"]["unused_indexes"]
    assert [x["index"] for x in rows] == ["big_payload_idx"]
    idx = rows[0]
    assert idx["unique"] is False and idx["primary"] is False and idx["scans"] == 0
    assert idx["size_bytes"] == int(pg.psql("SELECT pg_relation_size('big_payload_idx')", database=main))
    assert idx["table"] == "big" and "payload" in idx["definition"]

    r = run(ansible_module, pg, sections=["unused_indexes"], databases=[main], unused_indexes_include_unique=True)
    names = {x["index"]: x for x in r["report"]["unused_indexes"]}
    # small's and scanned's keys were never used; big_pkey was (the DELETE by id ran with index scans off,
    # so it may or may not be used: only assert on the ones that are certain)
    assert "big_payload_idx" in names and "small_pkey" in names
    assert names["small_pkey"]["primary"] is True and names["small_pkey"]["unique"] is True
    assert names["small_pkey"]["backs_constraint"] is True


def test_seq_scans_lists_heavily_scanned_table(ansible_module, pg, report_dbs):
    main = report_dbs[0]
    r = run(ansible_module, pg, sections=["seq_scans"], databases=[main], seq_scan_min=40)
    assert not r.failed, r.result
    rows = r["report"]["seq_scans"]
    assert [x["table"] for x in rows] == ["scanned"]
    assert rows[0]["seq_scans"] >= 40 and rows[0]["seq_rows_read"] >= 40 * 5000
    assert rows[0]["index_scans"] == 0


def test_slow_queries_installed_and_not_installed(ansible_module, pg, report_dbs):
    main, nopgss = report_dbs
    r = run(ansible_module, pg, sections=["slow_queries"], databases=[main, nopgss], slow_query_min_mean_ms=150)
    assert not r.failed, r.result
    st = r["section_status"]["slow_queries"]
    assert st["status"] == "partial"
    assert st["databases"][main]["status"] == "ok"
    assert st["databases"][nopgss]["status"] == "not_installed"
    assert nopgss in st["message"] and "CREATE EXTENSION pg_stat_statements" in st["message"]
    rows = r["report"]["slow_queries"]
    sleeps = [x for x in rows if "pg_sleep" in x["query"]]
    assert sleeps, rows
    assert all(x["database"] == main for x in rows)
    assert sleeps[0]["calls"] >= 2 and sleeps[0]["mean_ms"] >= 150 and sleeps[0]["user"] == "postgres"
    assert all(x["mean_ms"] >= 150 for x in rows)

    r = run(ansible_module, pg, sections=["slow_queries"], databases=[nopgss])
    assert not r.failed, r.result
    assert r["section_status"]["slow_queries"]["status"] == "not_installed"
    assert r["report"]["slow_queries"] == []


def test_sessions_long_running_and_idle_in_transaction(ansible_module, pg, report_dbs, sessions):
    main = report_dbs[0]
    long = sessions.open(main, application_name="rb-report-long").run_blocking("SELECT pg_sleep(60)")
    idle = sessions.open(main, application_name="rb-report-idle").idle_in_transaction("SELECT 42")
    r = run(ansible_module, pg, sections=["sessions"], databases=[main], long_running_seconds=0,
            idle_in_transaction_seconds=0)
    assert not r.failed, r.result
    found = {s["pid"]: s for s in r["report"]["sessions"]}
    assert set(found) == {long.pid, idle.pid}
    assert found[long.pid]["kind"] == "long_running" and found[long.pid]["state"] == "active"
    assert found[long.pid]["query"] == "SELECT pg_sleep(60)"
    assert found[long.pid]["application_name"] == "rb-report-long"
    assert found[idle.pid]["kind"] == "idle_in_transaction" and found[idle.pid]["database"] == main
    assert all(s["duration_seconds"] >= 0 for s in found.values())

    r = run(ansible_module, pg, sections=["sessions"], databases=[main], long_running_seconds=3600,
            idle_in_transaction_seconds=3600)
    assert r["report"]["sessions"] == []


def test_locks_show_blocker_and_blocked(ansible_module, pg, report_dbs, sessions):
    main = report_dbs[0]
    blocker = sessions.open(main, application_name="rb-blocker").idle_in_transaction("UPDATE small SET v = v WHERE id = 1")
    blocked = sessions.open(main, application_name="rb-blocked").run_blocking(
        "UPDATE small SET v = v + 1 WHERE id = 1", wait_event_type="Lock")
    r = run(ansible_module, pg, sections=["locks"], databases=[main])
    assert not r.failed, r.result
    pairs = [(x["blocked_pid"], x["blocking_pid"]) for x in r["report"]["locks"]]
    assert pairs == [(blocked.pid, blocker.pid)]
    lock = r["report"]["locks"][0]
    assert lock["database"] == main and lock["blocking_state"] == "idle in transaction"
    assert lock["blocked_application_name"] == "rb-blocked" and lock["wait_event_type"] == "Lock"
    assert "UPDATE small" in lock["blocked_query"] and "UPDATE small" in lock["blocking_query"]


def test_table_under_access_exclusive_lock_is_flagged_not_waited_for(ansible_module, pg, report_dbs, sessions):
    main = report_dbs[0]
    sessions.open(main).idle_in_transaction("LOCK TABLE small IN ACCESS EXCLUSIVE MODE")
    r = run(ansible_module, pg, sections=["tables", "unused_indexes"], databases=[main],
            unused_indexes_include_unique=True, lock_timeout_seconds=60)
    assert not r.failed, r.result
    small = by_table(r["report"]["tables"])[(main, "public", "small")]
    assert small["locked"] is True and small["total_bytes"] is None
    assert by_table(r["report"]["tables"])[(main, "public", "big")]["total_bytes"] > 0


def test_connections_and_wraparound_selected_only(ansible_module, pg, report_dbs):
    main, nopgss = report_dbs
    r = run(ansible_module, pg, sections=["connections", "wraparound"], databases=[main, nopgss])
    assert not r.failed, r.result
    assert set(r["report"]) == {"connections", "wraparound"}
    assert set(r["section_status"]) == {"connections", "wraparound"}
    c = r["report"]["connections"]
    assert c["max_connections"] == 50 and c["total"] >= 1
    assert c["percent_used"] == round(100.0 * c["total"] / 50, 1)
    assert sum(x["count"] for x in c["by_database"]) == c["total"]
    wrap = {x["database"]: x for x in r["report"]["wraparound"]}
    assert set(wrap) == {main, nopgss}
    age = int(pg.psql(f"SELECT age(datfrozenxid) FROM pg_database WHERE datname = '{main}'"))
    assert abs(wrap[main]["xid_age"] - age) < 1000
    assert wrap[main]["percent_of_wraparound"] == round(100.0 * wrap[main]["xid_age"] / 2 ** 31, 2)


def test_all_sections_by_default_and_check_mode_identical(ansible_module, pg, report_dbs):
    main = report_dbs[0]
    r = run(ansible_module, pg, databases=[main])
    assert not r.failed, r.result
    assert set(r["report"]) == ALL_SECTIONS and not r.changed
    assert {d["database"] for d in r["report"]["databases"]} == {main}
    assert r["report"]["cache_hit"][0]["database"] == main
    stable = ["tables", "unused_indexes", "bloat", "databases"]
    normal = run(ansible_module, pg, sections=stable, databases=[main])
    checked = run(ansible_module, pg, sections=stable, databases=[main], check=True)
    assert not checked.failed and not checked.changed and not normal.changed
    assert checked["report"] == normal["report"]
    assert checked["section_status"] == normal["section_status"]


def test_json_query_in_a_playbook(ansible_playbook, pg, report_dbs):
    main = report_dbs[0]
    expected = int(pg.psql("SELECT pg_total_relation_size('big')", database=main))
    res = ansible_playbook(HERE / "json_query.yml", extra_vars={
        "pg_conn": pg.conn_args(), "report_db": main, "expected_big_bytes": expected,
    })
    assert res.rc == 0, res.stdout[-3000:]
    facts = res.task_results("Pick the big table with json_query")[0]
    # ansible-core 2.19 keeps the template's int; older cores (no native types) render a string
    assert facts["ansible_facts"]["big_bytes"] == (expected if ansible_core_version() >= (2, 19) else str(expected))
    assert facts["ansible_facts"]["over_1m"] == ["big"]


# -- failures ---------------------------------------------------------------------
def test_unknown_database_fails_naming_it(ansible_module, pg):
    r = run(ansible_module, pg, databases=["no_such_db_xyz"])
    assert r.failed and "databases" in r["msg"] and "no_such_db_xyz" in r["msg"]
    no_traceback(r)


def test_unreachable_server(ansible_module, pg):
    args = dict(pg.conn_args(), login_port=free_port(), connect_timeout=3)
    r = ansible_module("pg_report", args)
    assert r.failed and "cannot connect" in r["msg"] and str(args["login_port"]) in r["msg"]
    no_traceback(r)


def test_wrong_password(ansible_module, pg):
    r = ansible_module("pg_report", dict(pg.conn_args(), login_password="wrong"))
    assert r.failed and "authentication failed" in r["msg"] and "postgres" in r["msg"]
    assert "wrong" not in r["msg"]
    no_traceback(r)


def test_missing_connect_privilege(ansible_module, pg):
    db = "rbreport_private_" + uuid.uuid4().hex[:8]
    pg.psql(f"CREATE DATABASE {db}")
    try:
        pg.psql(f"REVOKE CONNECT ON DATABASE {db} FROM PUBLIC")
        r = run(ansible_module, pg, user="app_user", databases=[db], sections=["tables"])
        assert r.failed and f"permission denied for database {db!r}" in r["msg"] and "app_user" in r["msg"]
        assert "CONNECT" in r["msg"] and "\n" not in r["msg"]
        no_traceback(r)
    finally:
        pg.psql(f"DROP DATABASE {db}")


@pytest.mark.parametrize("option, value, words", [
    ("limit", 0, "limit must be at least 1"),
    ("long_running_seconds", -5, "long_running_seconds must be 0 or more"),
    ("idle_in_transaction_seconds", -1, "idle_in_transaction_seconds must be 0 or more"),
    ("seq_scan_min", -1, "seq_scan_min must be 0 or more"),
    ("query_max_length", 0, "query_max_length must be at least 1"),
])
def test_nonsense_thresholds(ansible_module, pg, option, value, words):
    r = run(ansible_module, pg, **{option: value})
    assert r.failed and words in r["msg"]
    no_traceback(r)


def test_unknown_section(ansible_module, pg):
    r = run(ansible_module, pg, sections=["tables", "everything"])
    assert r.failed and "sections" in r["msg"] and "everything" in r["msg"]


def test_statement_cut_at_statement_timeout(ansible_module, pg, report_dbs, sessions):
    """A catalog read that really waits (pg_extension locked by another session, lock_timeout off) is
    cancelled by the server at statement_timeout, and the message names the option."""
    main = report_dbs[0]
    sessions.open(main).idle_in_transaction("LOCK TABLE pg_catalog.pg_extension IN ACCESS EXCLUSIVE MODE")
    t0 = time.monotonic()
    r = run(ansible_module, pg, sections=["slow_queries"], databases=[main], lock_timeout_seconds=0,
            statement_timeout=2)
    elapsed = time.monotonic() - t0
    assert r.failed, r.result
    assert "pg_report: statement exceeded statement_timeout=2s" in r["msg"], r["msg"]
    assert "statement timeout" in r["msg"].split("statement_timeout=2s", 1)[1]  # the server's own words follow
    no_traceback(r)
    assert elapsed < 2 + 1 + 60, f"pg_report took {elapsed:.0f}s"  # ansible's start-up on a loaded machine


def test_statement_timeout_zero_leaves_the_server_setting(ansible_module, pg, report_dbs, sessions):
    """statement_timeout=0: the module sets no bound; the lock wait ends at the report's own lock_timeout."""
    main = report_dbs[0]
    sessions.open(main).idle_in_transaction("LOCK TABLE pg_catalog.pg_extension IN ACCESS EXCLUSIVE MODE")
    r = run(ansible_module, pg, sections=["slow_queries"], databases=[main], lock_timeout_seconds=1,
            statement_timeout=0)
    assert r.failed and "lock timeout" in r["msg"] and "statement_timeout" not in r["msg"], r.result


def test_negative_statement_timeout_names_the_option(ansible_module, pg):
    r = run(ansible_module, pg, sections=["connections"], statement_timeout=-1)
    assert r.failed and "statement_timeout must be 0" in r["msg"], r.result
