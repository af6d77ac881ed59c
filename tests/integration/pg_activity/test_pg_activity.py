# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_activity against real sessions of a real PostgreSQL, run through Ansible."""
from __future__ import annotations

import psycopg
import pytest

from harness.ansible import no_traceback
from harness.net import free_port
from integration.pg_report.pg_sessions import activity, wait_state

pytestmark = pytest.mark.integration


def run(ansible_module, pg, check=False, conn=None, **args):
    return ansible_module("pg_activity", dict(conn or pg.conn_args(), **args), check=check)


def matched(r) -> dict:
    return {s["pid"]: s for s in r["sessions"]}


@pytest.fixture
def long_and_idle(activity_db, sessions):
    long = sessions.open(activity_db, application_name="rb-act-long").run_blocking("SELECT pg_sleep(60)")
    idle = sessions.open(activity_db, application_name="rb-act-idle").idle_in_transaction("SELECT 7")
    return long, idle


def test_report_matches_and_kills_nothing(ansible_module, pg, activity_db, long_and_idle):
    long, idle = long_and_idle
    r = run(ansible_module, pg, min_duration_seconds=0, idle_in_transaction_seconds=0, databases=[activity_db])
    assert not r.failed, r.result
    assert not r.changed
    found = matched(r)
    assert set(found) == {long.pid, idle.pid}
    assert found[long.pid]["kind"] == "long_running" and found[long.pid]["query"] == "SELECT pg_sleep(60)"
    assert found[idle.pid]["kind"] == "idle_in_transaction" and found[idle.pid]["state"] == "idle in transaction"
    assert found[idle.pid]["user"] == "postgres" and found[idle.pid]["database"] == activity_db
    assert all(s["outcome"] == "none" for s in r["sessions"])
    assert r["pids"] == [] and r["terminated"] == [] and r["cancelled"] == []
    assert activity(pg, long.pid)["state"] == "active"
    assert activity(pg, idle.pid)["state"] == "idle in transaction"


def test_only_the_kinds_asked_for(ansible_module, pg, activity_db, long_and_idle):
    long, idle = long_and_idle
    r = run(ansible_module, pg, min_duration_seconds=0, databases=[activity_db])
    assert set(matched(r)) == {long.pid}
    r = run(ansible_module, pg, idle_in_transaction_seconds=0, databases=[activity_db])
    assert set(matched(r)) == {idle.pid}
    r = run(ansible_module, pg, min_duration_seconds=3600, idle_in_transaction_seconds=3600, databases=[activity_db])
    assert r["sessions"] == []


def test_check_mode_terminate_then_terminate(ansible_module, pg, activity_db, long_and_idle):
    long, idle = long_and_idle
    args = dict(action="terminate", min_duration_seconds=0, idle_in_transaction_seconds=0, databases=[activity_db])
    preview = run(ansible_module, pg, check=True, **args)
    assert not preview.failed, preview.result
    assert preview.changed
    assert sorted(preview["pids"]) == sorted([long.pid, idle.pid])
    assert preview["terminated"] == []
    assert {s["outcome"] for s in preview["sessions"]} == {"would_terminate"}
    # nothing was signalled
    assert activity(pg, long.pid)["state"] == "active"
    assert activity(pg, idle.pid)["state"] == "idle in transaction"

    done = run(ansible_module, pg, **args)
    assert not done.failed, done.result
    assert done.changed
    assert sorted(done["terminated"]) == sorted(preview["pids"]) == sorted(done["pids"])
    assert {s["outcome"] for s in done["sessions"]} == {"terminated"}
    wait_state(pg, long.pid, None)
    wait_state(pg, idle.pid, None)
    long.join()
    assert isinstance(long.error, psycopg.OperationalError)

    again = run(ansible_module, pg, **args)
    assert not again.changed and again["sessions"] == []


def test_cancel_cancels_query_keeps_session(ansible_module, pg, activity_db, long_and_idle):
    long, idle = long_and_idle
    r = run(ansible_module, pg, action="cancel", min_duration_seconds=0, idle_in_transaction_seconds=0,
            databases=[activity_db])
    assert not r.failed, r.result
    assert r.changed
    assert r["cancelled"] == [long.pid] and r["skipped_idle"] == [idle.pid] and r["terminated"] == []
    assert matched(r)[idle.pid]["outcome"] == "skipped"
    assert any("idle-in-transaction" in w for w in r.get("warnings", []))
    long.join()
    assert isinstance(long.error, psycopg.errors.QueryCanceled)
    # the session is still connected, its transaction aborted by the cancel
    assert activity(pg, long.pid)["state"] == "idle in transaction (aborted)"
    assert activity(pg, idle.pid)["state"] == "idle in transaction"


def test_cancel_with_only_idle_sessions_changes_nothing(ansible_module, pg, activity_db, sessions):
    idle = sessions.open(activity_db, application_name="rb-act-idle").idle_in_transaction("SELECT 8")
    for check in (True, False):
        r = run(ansible_module, pg, check=check, action="cancel", idle_in_transaction_seconds=0,
                databases=[activity_db])
        assert not r.failed and not r.changed
        assert r["skipped_idle"] == [idle.pid] and r["pids"] == []
    assert activity(pg, idle.pid)["state"] == "idle in transaction"


def test_filters_select_exactly(ansible_module, pg, activity_db, sessions):
    a = sessions.open(activity_db, application_name="rb-app-a").idle_in_transaction("SELECT 1")
    b = sessions.open(activity_db, user="app_user", application_name="rb-app-b").idle_in_transaction("SELECT 2")
    c = sessions.open(activity_db, application_name="rb-app-c").run_blocking("SELECT pg_sleep(600)")
    base = dict(min_duration_seconds=0, idle_in_transaction_seconds=0, databases=[activity_db])
    cases = [
        (dict(application_names=["rb-app-a"]), {a.pid}),
        (dict(application_names=["rb-app-a", "rb-app-c"]), {a.pid, c.pid}),
        (dict(users=["app_user"]), {b.pid}),
        (dict(exclude_users=["postgres"]), {b.pid}),
        (dict(exclude_application_names=["rb-app-a"]), {b.pid, c.pid}),
        (dict(users=["postgres"], exclude_application_names=["rb-app-c"]), {a.pid}),
        (dict(exclude_databases=[activity_db]), set()),
        (dict(databases=["postgres"], application_names=["rb-app-a", "rb-app-b", "rb-app-c"]), set()),
    ]
    for extra, expected in cases:
        r = run(ansible_module, pg, **dict(base, **extra))
        assert not r.failed, r.result
        assert set(matched(r)) == expected, extra
    # terminate through a filter: only that session goes
    r = run(ansible_module, pg, action="terminate", **dict(base, users=["app_user"]))
    assert r.changed and r["terminated"] == [b.pid]
    wait_state(pg, b.pid, None)
    assert activity(pg, a.pid) is not None and activity(pg, c.pid)["state"] == "active"


def test_own_backend_never_matched(ansible_module, pg, activity_db):
    # the module's own connection is active (running the very query) and named runbook.ops
    r = run(ansible_module, pg, min_duration_seconds=0, application_names=["runbook.ops"])
    assert not r.failed, r.result
    assert isinstance(r["backend_pid"], int)
    assert r["backend_pid"] not in matched(r)
    r = run(ansible_module, pg, check=True, action="terminate", min_duration_seconds=0,
            application_names=["runbook.ops"], users=["postgres"], databases=["postgres"])
    assert r["backend_pid"] not in r["pids"]


def test_no_match_is_not_changed(ansible_module, pg, activity_db, long_and_idle):
    for check in (True, False):
        r = run(ansible_module, pg, check=check, action="terminate", min_duration_seconds=3600,
                idle_in_transaction_seconds=3600, databases=[activity_db])
        assert not r.failed and not r.changed
        assert r["sessions"] == [] and r["pids"] == []


def test_query_truncated(ansible_module, pg, activity_db, long_and_idle):
    long = long_and_idle[0]
    r = run(ansible_module, pg, min_duration_seconds=0, databases=[activity_db], query_max_length=10)
    assert matched(r)[long.pid]["query"] == "SELECT ..."


# -- privileges ---------------------------------------------------------------------
def test_monitor_role_may_not_terminate_superuser_session(ansible_module, pg, activity_db, sessions, monitor_role):
    role, password = monitor_role
    su = sessions.open(activity_db, application_name="rb-su").run_blocking("SELECT pg_sleep(60)")
    conn = dict(pg.conn_args(), login_user=role, login_password=password)
    for check in (True, False):
        r = run(ansible_module, pg, conn=conn, check=check, action="terminate", min_duration_seconds=0,
                databases=[activity_db])
        assert r.failed, r.result
        assert "permission denied" in r["msg"] and role in r["msg"]
        assert str(su.pid) in r["msg"] and "superuser" in r["msg"]
        assert r["terminated"] == [] and not r.changed
        no_traceback(r)
    assert activity(pg, su.pid)["state"] == "active"
    # reporting is allowed and sees the session
    r = run(ansible_module, pg, conn=conn, min_duration_seconds=0, databases=[activity_db])
    assert not r.failed and su.pid in matched(r)


def test_app_user_cannot_see_nor_terminate_superuser_session(ansible_module, pg, activity_db, sessions):
    su = sessions.open(activity_db, application_name="rb-su").run_blocking("SELECT pg_sleep(60)")
    r = run(ansible_module, pg, conn=pg.conn_args(user="app_user"), action="terminate", min_duration_seconds=0,
            databases=[activity_db])
    assert not r.failed, r.result
    assert not r.changed and su.pid not in matched(r)
    assert any("pg_read_all_stats" in w for w in r.get("warnings", []))
    assert activity(pg, su.pid)["state"] == "active"


def test_app_user_terminates_own_role_session(ansible_module, pg, activity_db, sessions):
    mine = sessions.open(activity_db, user="app_user", application_name="rb-mine").idle_in_transaction("SELECT 3")
    r = run(ansible_module, pg, conn=pg.conn_args(user="app_user"), action="terminate",
            idle_in_transaction_seconds=0, databases=[activity_db])
    assert not r.failed, r.result
    assert r.changed and r["terminated"] == [mine.pid]
    wait_state(pg, mine.pid, None)


# -- bad input and failures -----------------------------------------------------------
def test_unknown_database(ansible_module, pg):
    r = run(ansible_module, pg, min_duration_seconds=10, databases=["no_such_db_abc"])
    assert r.failed and "databases" in r["msg"] and "no_such_db_abc" in r["msg"]
    no_traceback(r)


def test_unknown_excluded_database_only_warns(ansible_module, pg):
    r = run(ansible_module, pg, min_duration_seconds=3600, exclude_databases=["no_such_db_def"])
    assert not r.failed
    assert any("exclude_databases" in w and "no_such_db_def" in w for w in r.get("warnings", []))


def test_unreachable_server(ansible_module, pg):
    port = free_port()
    r = run(ansible_module, pg, conn=dict(pg.conn_args(), login_port=port, connect_timeout=3), min_duration_seconds=1)
    assert r.failed and "cannot connect" in r["msg"] and str(port) in r["msg"]
    no_traceback(r)


def test_wrong_password(ansible_module, pg):
    r = run(ansible_module, pg, conn=dict(pg.conn_args(), login_password="nope-pw"), min_duration_seconds=1)
    assert r.failed and "authentication failed" in r["msg"] and "nope-pw" not in r["msg"]
    no_traceback(r)


@pytest.mark.parametrize("args, words", [
    (dict(min_duration_seconds=-1), "min_duration_seconds must be 0 or more"),
    (dict(idle_in_transaction_seconds=-0.5), "idle_in_transaction_seconds must be 0 or more"),
    (dict(min_duration_seconds=1, query_max_length=0), "query_max_length must be at least 1"),
    (dict(), "min_duration_seconds"),
    (dict(min_duration_seconds=1, action="kill"), "action"),
])
def test_bad_input(ansible_module, pg, args, words):
    r = run(ansible_module, pg, **args)
    assert r.failed and words in r["msg"], r.result
    no_traceback(r)
