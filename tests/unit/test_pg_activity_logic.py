# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure logic of pg_activity: thresholds, filters, truncation, signal privileges, planning."""
from __future__ import annotations

import datetime
import decimal

from ansible_collections.runbook.ops.plugins.module_utils._pg_activity import (
    check_thresholds,
    jsonable,
    plan_actions,
    session_filters,
    signal_denials,
    truncate_query,
)


def test_truncate_query():
    assert truncate_query("SELECT 1", 100) == "SELECT 1"
    assert truncate_query("SELECT pg_sleep(60)", 10) == "SELECT ..."
    assert len(truncate_query("x" * 1000, 50)) == 50
    assert truncate_query("abcdef", 2) == "ab"
    assert truncate_query(None, 5) is None


def test_check_thresholds():
    assert check_thresholds({"min_duration_seconds": 0, "idle_in_transaction_seconds": None},
                            ["min_duration_seconds", "idle_in_transaction_seconds"]) == []
    assert check_thresholds({"min_duration_seconds": -1}, ["min_duration_seconds"]) == [
        "min_duration_seconds must be 0 or more, got -1"]
    assert check_thresholds({"query_max_length": 0}, ["query_max_length"]) == ["query_max_length must be at least 1, got 0"]


def test_session_filters_empty_lists_when_unset():
    f = session_filters({"databases": None, "users": ["app"], "exclude_users": ["repl"]})
    assert f == {"databases": [], "users": ["app"], "apps": [], "x_databases": [], "x_users": ["repl"], "x_apps": []}


def row(pid, user="app", target_super=False, caller_super=False, has_role=False, signal_backend=False):
    return {"pid": pid, "user": user, "target_is_superuser": target_super, "caller_is_superuser": caller_super,
            "caller_has_target_role": has_role, "caller_has_signal_backend": signal_backend}


def test_signal_denials_follow_postgres_rules():
    assert signal_denials([row(1, "postgres", target_super=True, caller_super=True)]) == {}
    denied = signal_denials([
        row(1, "postgres", target_super=True, signal_backend=True),  # pg_signal_backend is not enough for superusers
        row(2, "other"),                                             # neither the role nor pg_signal_backend
        row(3, "app", has_role=True),                                # own role: allowed
        row(4, "other", signal_backend=True),                        # pg_signal_backend: allowed
    ])
    assert set(denied) == {1, 2}
    assert "superuser 'postgres'" in denied[1]
    assert "pg_signal_backend" in denied[2]


def test_plan_actions():
    sessions = [{"pid": 1, "state": "active"}, {"pid": 2, "state": "idle in transaction"},
                {"pid": 3, "state": "idle in transaction (aborted)"}]
    assert plan_actions(sessions, "report") == ([], [])
    assert plan_actions(sessions, "cancel") == ([1], [2, 3])
    assert plan_actions(sessions, "terminate") == ([1, 2, 3], [])


def test_jsonable():
    ts = datetime.datetime(2026, 1, 5, 10, 0, tzinfo=datetime.timezone.utc)
    assert jsonable({"a": [ts, decimal.Decimal("1.5")], "b": datetime.timedelta(seconds=3)}) == {
        "a": ["2026-01-05T10:00:00+00:00", 1.5], "b": 3.0}
