# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Finding, cancelling and terminating sessions (pg_activity, pg_report's sessions section).

Everything is read from ``pg_stat_activity`` over one connection: only client
backends, never the caller's own backend (``pg_backend_pid()``). Filters and
thresholds are query parameters; nothing is interpolated into SQL.
"""

from __future__ import annotations

import datetime
import decimal
import typing as t

from ansible_collections.runbook.ops.plugins.module_utils._postgres import PostgresError

IDLE_IN_TRANSACTION_STATES = ("idle in transaction", "idle in transaction (aborted)")

# The session query. Thresholds are NULL when that kind of session is not wanted;
# each filter list is NULL-or-empty for "no filter" and is passed as a parameter.
SESSIONS_SQL = """
SELECT a.pid,
       a.datname AS database,
       a.usename AS user,
       a.application_name,
       host(a.client_addr) AS client_addr,
       a.state,
       CASE WHEN a.state = 'active' THEN 'long_running' ELSE 'idle_in_transaction' END AS kind,
       EXTRACT(EPOCH FROM (now() - CASE WHEN a.state = 'active' THEN a.query_start
                                        ELSE a.state_change END))::float8 AS duration_seconds,
       EXTRACT(EPOCH FROM (now() - a.xact_start))::float8 AS transaction_seconds,
       a.backend_start,
       a.xact_start,
       a.query_start,
       a.state_change,
       a.wait_event_type,
       a.wait_event,
       a.query
  FROM pg_stat_activity a
 WHERE a.pid <> pg_backend_pid()
   AND a.backend_type = 'client backend'
   AND (   (a.state = 'active'
            AND %(active_s)s::float8 IS NOT NULL
            AND a.query_start <= now() - make_interval(secs => %(active_s)s::float8))
        OR (a.state IN ('idle in transaction', 'idle in transaction (aborted)')
            AND %(idle_s)s::float8 IS NOT NULL
            AND a.state_change <= now() - make_interval(secs => %(idle_s)s::float8)))
   AND (cardinality(%(databases)s::text[]) = 0 OR a.datname = ANY(%(databases)s::text[]))
   AND (cardinality(%(users)s::text[]) = 0 OR a.usename = ANY(%(users)s::text[]))
   AND (cardinality(%(apps)s::text[]) = 0 OR a.application_name = ANY(%(apps)s::text[]))
   AND NOT (a.datname = ANY(%(x_databases)s::text[]))
   AND NOT (a.usename = ANY(%(x_users)s::text[]))
   AND NOT (a.application_name = ANY(%(x_apps)s::text[]))
 ORDER BY duration_seconds DESC, a.pid
"""

# What pg_signal_backend() checks before cancelling or terminating (PostgreSQL 9.6+):
# a superuser's session needs a superuser; any other needs the privileges of its
# role or of pg_signal_backend.
SIGNAL_PRIVILEGES_SQL = """
SELECT a.pid,
       a.usename AS user,
       COALESCE(r.rolsuper, false) AS target_is_superuser,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS caller_is_superuser,
       COALESCE(pg_has_role(current_user, a.usesysid, 'USAGE'), false) AS caller_has_target_role,
       pg_has_role(current_user, 'pg_signal_backend', 'USAGE') AS caller_has_signal_backend
  FROM pg_stat_activity a
  LEFT JOIN pg_roles r ON r.oid = a.usesysid
 WHERE a.pid = ANY(%s::int[])
"""

VISIBILITY_SQL = """
SELECT current_user AS user,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       OR pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS sees_all
"""

ACTIONS = ("report", "cancel", "terminate")

SIGNAL_SQL = {
    "cancel": "SELECT pg_cancel_backend(%s) AS ok",
    "terminate": "SELECT pg_terminate_backend(%s) AS ok",
}


def jsonable(value: t.Any) -> t.Any:
    """Values from psycopg made JSON-friendly: timestamps as ISO 8601, decimals as floats."""
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def truncate_query(query: str | None, max_length: int) -> str | None:
    """``query`` cut to ``max_length`` characters (``...`` marks a cut); None stays None."""
    if query is None or len(query) <= max_length:
        return query
    if max_length <= 3:
        return query[:max_length]
    return query[: max_length - 3] + "..."


def check_thresholds(params: dict, names: t.Iterable[str]) -> list[str]:
    """Messages for nonsense numeric options: negative seconds, limits below 1."""
    errors = []
    for name in names:
        value = params.get(name)
        if value is None:
            continue
        if name in ("limit", "query_max_length"):
            if value < 1:
                errors.append(f"{name} must be at least 1, got {value}")
        elif value < 0:
            errors.append(f"{name} must be 0 or more, got {value}")
    return errors


def session_filters(params: dict) -> dict:
    """Query parameters for SESSIONS_SQL from module options."""
    return {
        "databases": list(params.get("databases") or []),
        "users": list(params.get("users") or []),
        "apps": list(params.get("application_names") or []),
        "x_databases": list(params.get("exclude_databases") or []),
        "x_users": list(params.get("exclude_users") or []),
        "x_apps": list(params.get("exclude_application_names") or []),
    }


def find_sessions(client, conn, active_seconds: float | None, idle_seconds: float | None,
                  filters: dict, query_max_length: int) -> list[dict]:
    """Client sessions over a threshold, longest first, own backend excluded."""
    params = dict(filters)
    params["active_s"] = active_seconds
    params["idle_s"] = idle_seconds
    rows = client.query(conn, SESSIONS_SQL, params)
    out = []
    for row in rows:
        row = jsonable(row)
        row["duration_seconds"] = round(row["duration_seconds"] or 0.0, 3)
        if row.get("transaction_seconds") is not None:
            row["transaction_seconds"] = round(row["transaction_seconds"], 3)
        row["query"] = truncate_query(row["query"], query_max_length)
        out.append(row)
    return out


def visibility_warning(client, conn) -> str | None:
    """A warning when the login role cannot see other roles' session details."""
    row = client.query(conn, VISIBILITY_SQL)[0]
    if row["sees_all"]:
        return None
    return (
        f"login_user {row['user']!r} is neither a superuser nor a member of pg_read_all_stats (or pg_monitor): "
        "state, query and timings of other roles' sessions are hidden from it, so those sessions are never matched"
    )


def signal_denials(rows: list[dict]) -> dict[int, str]:
    """pid -> reason, for each session the caller may not cancel or terminate."""
    denied = {}
    for row in rows:
        if row["caller_is_superuser"]:
            continue
        if row["target_is_superuser"]:
            denied[row["pid"]] = f"pid {row['pid']} belongs to superuser {row['user']!r}: only a superuser may signal it"
        elif not (row["caller_has_target_role"] or row["caller_has_signal_backend"]):
            denied[row["pid"]] = (
                f"pid {row['pid']} belongs to {row['user']!r}: needs membership in that role or in pg_signal_backend"
            )
    return denied


def plan_actions(sessions: list[dict], action: str) -> tuple[list[int], list[int]]:
    """(pids to act on, pids skipped). ``cancel`` has no effect on an idle-in-transaction
    session (PostgreSQL ignores a cancel while waiting for the client), so those are skipped."""
    if action == "report":
        return [], []
    targets, skipped = [], []
    for s in sessions:
        if action == "cancel" and s["state"] != "active":
            skipped.append(s["pid"])
        else:
            targets.append(s["pid"])
    return targets, skipped


def run_activity(module, client) -> dict:
    """The whole pg_activity run; returns the module result (raises PostgresError to fail)."""
    p = module.params
    errors = check_thresholds(p, ("min_duration_seconds", "idle_in_transaction_seconds", "query_max_length"))
    if errors:
        raise PostgresError("; ".join(errors))
    conn = client.connect()
    if p["databases"]:
        client.resolve_databases(p["databases"], option="databases")
    if p["exclude_databases"]:
        existing = set(client.list_databases())
        unknown = [d for d in p["exclude_databases"] if d not in existing]
        if unknown:
            module.warn(f"exclude_databases: database(s) {', '.join(repr(d) for d in unknown)} not found on the server")
    warning = visibility_warning(client, conn)
    if warning:
        module.warn(warning)
    backend_pid = client.query(conn, "SELECT pg_backend_pid() AS pid")[0]["pid"]
    sessions = find_sessions(
        client, conn, p["min_duration_seconds"], p["idle_in_transaction_seconds"],
        session_filters(p), p["query_max_length"],
    )
    action = p["action"]
    targets, skipped = plan_actions(sessions, action)
    if skipped:
        module.warn(
            f"action=cancel does not affect idle-in-transaction sessions (pids {', '.join(map(str, skipped))}); "
            "use action=terminate to end them"
        )
    result: dict[str, t.Any] = {
        "changed": False,
        "action": action,
        "backend_pid": backend_pid,
        "sessions": sessions,
        "pids": targets,
        "skipped_idle": skipped,
        "cancelled": [],
        "terminated": [],
        "gone": [],
    }
    outcome = {s["pid"]: ("skipped" if s["pid"] in skipped else "none") for s in sessions}
    if targets:
        denied = signal_denials(client.query(conn, SIGNAL_PRIVILEGES_SQL, [targets]))
        if denied:
            for s in sessions:
                s["outcome"] = outcome[s["pid"]]
            result["msg"] = (
                f"action={action}: permission denied for login_user {p['login_user']!r}: "
                + "; ".join(denied[pid] for pid in targets if pid in denied)
                + ". Nothing was cancelled or terminated."
            )
            module.fail_json(**result)
    if targets and module.check_mode:
        result["changed"] = True
        for pid in targets:
            outcome[pid] = f"would_{action}"
    elif targets:
        query = SIGNAL_SQL[action]
        done_key = "cancelled" if action == "cancel" else "terminated"
        for pid in targets:
            try:
                ok = client.query(conn, query, [pid])[0]["ok"]
            except PostgresError as exc:
                for s in sessions:
                    s["outcome"] = outcome[s["pid"]]
                result["changed"] = bool(result["cancelled"] or result["terminated"])
                result["msg"] = f"action={action} failed for pid {pid}: {exc}"
                module.fail_json(**result)
            if ok:
                result[done_key].append(pid)
                outcome[pid] = done_key
            else:
                result["gone"].append(pid)
                outcome[pid] = "gone"
        result["changed"] = bool(result[done_key])
    for s in sessions:
        s["outcome"] = outcome[s["pid"]]
    return result
