# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The queries of the PostgreSQL runbook as one structured, read-only report (pg_report).

Each section is a function returning rows (a list of dicts) or one dict, plus a
status. Per-database sections run in every selected database over its own
connection; cluster sections run once on ``login_db``. Values are always query
parameters; the only identifiers (pg_stat_statements' schema and the column
names that differ between PostgreSQL versions) go through ``psycopg.sql``.
"""

from __future__ import annotations

import typing as t

from ansible_collections.runbook.ops.plugins.module_utils._pg_names import table_key
from ansible_collections.runbook.ops.plugins.module_utils._postgres import PostgresError, sql
from ansible_collections.runbook.ops.plugins.module_utils._pg_activity import (
    check_thresholds,
    find_sessions,
    jsonable,
    truncate_query,
    visibility_warning,
)

DATABASE_SECTIONS = ("tables", "bloat", "unused_indexes", "seq_scans", "slow_queries", "vacuum")
CLUSTER_SECTIONS = ("databases", "sessions", "locks", "connections", "cache_hit", "wraparound")
SECTIONS = (
    "databases", "tables", "bloat", "unused_indexes", "seq_scans", "slow_queries",
    "sessions", "locks", "connections", "cache_hit", "wraparound", "vacuum",
)
# sections whose list is cut to `limit` rows (after merging all databases)
LIMITED_SECTIONS = ("tables", "bloat", "unused_indexes", "seq_scans", "slow_queries", "sessions", "locks", "vacuum")
WRAPAROUND_LIMIT = 2 ** 31
NUMERIC_OPTIONS = (
    "limit", "long_running_seconds", "idle_in_transaction_seconds", "seq_scan_min",
    "dead_tuples_min", "slow_query_min_mean_ms", "query_max_length", "lock_timeout_seconds",
)

_SIZE_UNITS = (
    # name, limit, round, unitbits (PostgreSQL's size_pretty_units)
    ("bytes", 10 * 1024, False, 0),
    ("kB", 20 * 1024 - 1, True, 10),
    ("MB", 20 * 1024 - 1, True, 20),
    ("GB", 20 * 1024 - 1, True, 30),
    ("TB", 20 * 1024 - 1, True, 40),
    ("PB", 20 * 1024 - 1, True, 50),
)


def _c_div(a: int, b: int) -> int:
    """Integer division truncating toward zero, as C does."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def pretty_size(size: int | None) -> str | None:
    """The same text as PostgreSQL's ``pg_size_pretty(bigint)`` (``8192 bytes``, ``16 kB``)."""
    if size is None:
        return None
    for i, (name, limit, rnd, bits) in enumerate(_SIZE_UNITS):
        last = i + 1 == len(_SIZE_UNITS)
        if last or abs(size) < limit:
            if rnd:
                size = _c_div(size + (-1 if size < 0 else 1), 2)
            return f"{size} {name}"
        nxt = _SIZE_UNITS[i + 1]
        shift = nxt[3] - bits - (1 if nxt[2] else 0) + (1 if rnd else 0)
        size = _c_div(size, 1 << shift)
    raise AssertionError("unreachable")  # pragma: no cover


def percent(part: float | int | None, whole: float | int | None, digits: int = 2) -> float | None:
    """``part`` as a percentage of ``whole``; None when ``whole`` is 0 or unknown."""
    if part is None or not whole:
        return None
    return round(100.0 * float(part) / float(whole), digits)


def bloat_estimate(table_bytes: int | None, live: int | None, dead: int | None) -> tuple[float | None, int | None]:
    """(dead tuple percent, estimated bytes held by dead tuples), from the statistics' tuple counts."""
    live, dead = live or 0, dead or 0
    if live + dead == 0:
        return None, None
    share = dead / float(live + dead)
    return round(100.0 * share, 2), (int(table_bytes * share) if table_bytes is not None else None)


def validate_params(params: dict) -> list[str]:
    """Error messages for nonsense options, each naming the option."""
    return check_thresholds(params, NUMERIC_OPTIONS)


def cut(rows: list[dict], key: t.Callable[[dict], t.Any], limit: int, reverse: bool = True) -> list[dict]:
    """Rows of all databases merged, ordered by ``key`` and cut to ``limit``."""
    return sorted(rows, key=key, reverse=reverse)[:limit]


def _sized(row: dict, *cols: str) -> dict:
    for col in cols:
        row[f"{col[:-len('_bytes')]}_pretty"] = pretty_size(row.get(col))
    return row


# -- SQL --------------------------------------------------------------------
# Relations under an ACCESS EXCLUSIVE lock (held or requested) are not sized:
# pg_relation_size() takes ACCESS SHARE and would wait behind it.
_LOCKED = """EXISTS (SELECT 1 FROM pg_locks l
                     WHERE l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                       AND l.relation IN ({rels}) AND l.mode = 'AccessExclusiveLock'
                       AND l.pid <> pg_backend_pid())"""

TABLES_SQL = """
SELECT current_database() AS database, n.nspname AS schema, c.relname AS table,
       CASE c.relkind WHEN 'p' THEN 'partitioned table' WHEN 'm' THEN 'materialized view' ELSE 'table' END AS kind,
       x.locked,
       CASE WHEN x.locked THEN NULL ELSE pg_total_relation_size(c.oid) END AS total_bytes,
       CASE WHEN x.locked THEN NULL ELSE pg_relation_size(c.oid) END AS table_bytes,
       CASE WHEN x.locked THEN NULL ELSE pg_indexes_size(c.oid) END AS index_bytes,
       CASE WHEN x.locked THEN NULL ELSE pg_total_relation_size(c.oid) - pg_relation_size(c.oid)
                                         - pg_indexes_size(c.oid) END AS toast_bytes,
       GREATEST(c.reltuples, 0)::bigint AS estimated_rows,
       s.n_live_tup AS live_tuples, s.n_dead_tup AS dead_tuples
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
  CROSS JOIN LATERAL (SELECT """ + _LOCKED.format(rels="SELECT c.oid UNION ALL SELECT indexrelid FROM pg_index WHERE indrelid = c.oid") + """ AS locked) x
 WHERE c.relkind IN ('r', 'p', 'm')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname !~ '^pg_(toast|temp_)'
 ORDER BY total_bytes DESC NULLS LAST, schema, c.relname
 LIMIT %s
"""

BLOAT_SQL = """
SELECT current_database() AS database, s.schemaname AS schema, s.relname AS table,
       s.n_live_tup AS live_tuples, s.n_dead_tup AS dead_tuples,
       CASE WHEN x.locked THEN NULL ELSE pg_relation_size(s.relid) END AS table_bytes,
       s.last_vacuum, s.last_autovacuum
  FROM pg_stat_user_tables s
  CROSS JOIN LATERAL (SELECT """ + _LOCKED.format(rels="s.relid") + """ AS locked) x
 WHERE s.n_dead_tup >= %s
 ORDER BY s.n_dead_tup DESC, s.schemaname, s.relname
 LIMIT %s
"""

UNUSED_INDEXES_SQL = """
SELECT current_database() AS database, s.schemaname AS schema, s.relname AS table, s.indexrelname AS index,
       s.idx_scan AS scans,
       CASE WHEN x.locked THEN NULL ELSE pg_relation_size(s.indexrelid) END AS size_bytes,
       i.indisunique AS unique, i.indisprimary AS primary,
       EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = s.indexrelid) AS backs_constraint,
       i.indisvalid AS valid,
       pg_get_indexdef(s.indexrelid) AS definition
  FROM pg_stat_user_indexes s
  JOIN pg_index i ON i.indexrelid = s.indexrelid
  CROSS JOIN LATERAL (SELECT """ + _LOCKED.format(rels="s.indexrelid, s.relid") + """ AS locked) x
 WHERE s.idx_scan = 0
   AND (%s OR NOT (i.indisunique OR i.indisprimary))
 ORDER BY size_bytes DESC NULLS LAST, s.schemaname, s.indexrelname
 LIMIT %s
"""

SEQ_SCANS_SQL = """
SELECT current_database() AS database, s.schemaname AS schema, s.relname AS table,
       s.seq_scan AS seq_scans, s.seq_tup_read AS seq_rows_read,
       COALESCE(s.idx_scan, 0) AS index_scans, s.n_live_tup AS live_tuples,
       (s.seq_tup_read / GREATEST(s.seq_scan, 1))::bigint AS rows_per_seq_scan,
       CASE WHEN x.locked THEN NULL ELSE pg_relation_size(s.relid) END AS table_bytes
  FROM pg_stat_user_tables s
  CROSS JOIN LATERAL (SELECT """ + _LOCKED.format(rels="s.relid") + """ AS locked) x
 WHERE s.seq_scan >= %s
 ORDER BY s.seq_tup_read DESC, s.seq_scan DESC, s.schemaname, s.relname
 LIMIT %s
"""

VACUUM_SQL = """
SELECT current_database() AS database, s.schemaname AS schema, s.relname AS table,
       s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,
       GREATEST(s.last_vacuum, s.last_autovacuum) AS last_any_vacuum,
       GREATEST(s.last_analyze, s.last_autoanalyze) AS last_any_analyze,
       EXTRACT(EPOCH FROM now() - GREATEST(s.last_vacuum, s.last_autovacuum))::float8 AS vacuum_age_seconds,
       s.vacuum_count, s.autovacuum_count, s.analyze_count, s.autoanalyze_count,
       s.n_dead_tup AS dead_tuples, s.n_mod_since_analyze AS modified_since_analyze
  FROM pg_stat_user_tables s
 ORDER BY GREATEST(s.last_vacuum, s.last_autovacuum) ASC NULLS FIRST, s.n_dead_tup DESC, s.schemaname, s.relname
 LIMIT %s
"""

PGSS_SCHEMA_SQL = """
SELECT n.nspname AS schema, e.extversion AS version
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'pg_stat_statements'
"""

PGSS_COLUMNS_SQL = """
SELECT a.attname AS name
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %s AND c.relname = 'pg_stat_statements' AND a.attnum > 0 AND NOT a.attisdropped
"""

DATABASES_SQL = """
SELECT d.datname AS database,
       CASE WHEN has_database_privilege(d.oid, 'CONNECT') OR pg_has_role('pg_read_all_stats', 'USAGE')
            THEN pg_database_size(d.oid) END AS size_bytes,
       pg_encoding_to_char(d.encoding) AS encoding,
       d.datconnlimit AS connection_limit
  FROM pg_database d
 WHERE d.datname = ANY(%s::text[])
 ORDER BY size_bytes DESC NULLS LAST, d.datname
"""

LOCKS_SQL = """
SELECT blocked.datname AS database,
       blocked.pid AS blocked_pid, blocked.usename AS blocked_user,
       blocked.application_name AS blocked_application_name,
       EXTRACT(EPOCH FROM now() - blocked.query_start)::float8 AS blocked_seconds,
       blocked.wait_event_type, blocked.wait_event, blocked.query AS blocked_query,
       w.locktype AS lock_type, w.mode AS lock_mode,
       CASE WHEN w.relation IS NULL THEN NULL
            WHEN w.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            THEN w.relation::regclass::text ELSE w.relation::text END AS relation,
       b.pid AS blocking_pid, blocker.usename AS blocking_user,
       blocker.application_name AS blocking_application_name, blocker.state AS blocking_state,
       EXTRACT(EPOCH FROM now() - blocker.xact_start)::float8 AS blocking_transaction_seconds,
       blocker.query AS blocking_query
  FROM pg_stat_activity blocked
 CROSS JOIN LATERAL unnest(pg_blocking_pids(blocked.pid)) AS b(pid)
  LEFT JOIN pg_stat_activity blocker ON blocker.pid = b.pid
  LEFT JOIN LATERAL (SELECT l.locktype, l.mode, l.relation, l.database FROM pg_locks l
                      WHERE l.pid = blocked.pid AND NOT l.granted LIMIT 1) w ON true
 WHERE blocked.pid <> pg_backend_pid()
   AND (cardinality(%s::text[]) = 0 OR blocked.datname = ANY(%s::text[]))
 ORDER BY blocked_seconds DESC NULLS LAST, blocked.pid, b.pid
"""

CONNECTIONS_SQL = """
SELECT current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS superuser_reserved_connections
"""

CONNECTIONS_BY_SQL = """
SELECT datname AS database, usename AS user, COALESCE(state, 'unknown') AS state, count(*) AS count
  FROM pg_stat_activity
 WHERE backend_type = 'client backend'
 GROUP BY 1, 2, 3
"""

CACHE_HIT_SQL = """
SELECT datname AS database, blks_hit AS blocks_hit, blks_read AS blocks_read
  FROM pg_stat_database
 WHERE datname = ANY(%s::text[])
 ORDER BY datname
"""

WRAPAROUND_SQL = """
SELECT d.datname AS database, age(d.datfrozenxid) AS xid_age, mxid_age(d.datminmxid) AS multixact_age,
       current_setting('autovacuum_freeze_max_age')::bigint AS autovacuum_freeze_max_age,
       d.datistemplate AS template, d.datallowconn AS allows_connections
  FROM pg_database d
 WHERE cardinality(%s::text[]) = 0 OR d.datname = ANY(%s::text[])
 ORDER BY xid_age DESC, d.datname
"""


# -- per-database sections -----------------------------------------------------
def section_tables(client, conn, p: dict, db: str) -> list[dict]:
    rows = client.query(conn, TABLES_SQL, [p["limit"]])
    return [_sized(r, "total_bytes", "table_bytes", "index_bytes", "toast_bytes") for r in rows]


def section_bloat(client, conn, p: dict, db: str) -> list[dict]:
    out = []
    for r in jsonable(client.query(conn, BLOAT_SQL, [p["dead_tuples_min"], p["limit"]])):
        r["dead_percent"], r["bloat_estimate_bytes"] = bloat_estimate(r["table_bytes"], r["live_tuples"], r["dead_tuples"])
        out.append(_sized(r, "table_bytes", "bloat_estimate_bytes"))
    return out


def section_unused_indexes(client, conn, p: dict, db: str) -> list[dict]:
    rows = client.query(conn, UNUSED_INDEXES_SQL, [p["unused_indexes_include_unique"], p["limit"]])
    return [_sized(r, "size_bytes") for r in rows]


def section_seq_scans(client, conn, p: dict, db: str) -> list[dict]:
    rows = client.query(conn, SEQ_SCANS_SQL, [p["seq_scan_min"], p["limit"]])
    return [_sized(r, "table_bytes") for r in rows]


def section_vacuum(client, conn, p: dict, db: str) -> list[dict]:
    out = []
    for r in jsonable(client.query(conn, VACUUM_SQL, [p["limit"]])):
        if r["vacuum_age_seconds"] is not None:
            r["vacuum_age_seconds"] = round(r["vacuum_age_seconds"], 1)
        out.append(r)
    return out


def pgss_columns(columns: t.Iterable[str]) -> dict[str, str]:
    """Map of total/mean/max time to the view's column names: ``*_exec_time`` on PostgreSQL 13+,
    ``*_time`` on 12 and older. Raises ValueError when neither naming is present."""
    cols = set(columns)
    out = {}
    for key in ("total", "mean", "max"):
        for name in (f"{key}_exec_time", f"{key}_time"):
            if name in cols:
                out[key] = name
                break
        else:
            raise ValueError(f"pg_stat_statements has no {key}_exec_time or {key}_time column")
    return out


def slow_queries(client, conn, p: dict, db: str) -> tuple[str, str, list[dict]]:
    """(status, message, rows) of one database's pg_stat_statements."""
    ext = client.query(conn, PGSS_SCHEMA_SQL)
    if not ext:
        return "not_installed", f"pg_stat_statements is not installed in database {db!r} (CREATE EXTENSION pg_stat_statements)", []
    schema = ext[0]["schema"]
    try:
        cols = pgss_columns(r["name"] for r in client.query(conn, PGSS_COLUMNS_SQL, [schema]))
    except ValueError as exc:
        return "error", f"database {db!r}: {exc}", []
    query = sql.SQL(
        "SELECT current_database() AS database, r.rolname AS user, s.queryid::text AS queryid, s.calls,"
        " s.{total}::float8 AS total_ms, s.{mean}::float8 AS mean_ms, s.{max}::float8 AS max_ms, s.rows, s.query"
        " FROM {view} s LEFT JOIN pg_roles r ON r.oid = s.userid"
        " WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND s.{mean} >= %s"
        " ORDER BY s.{mean} DESC, s.calls DESC LIMIT %s"
    ).format(
        total=sql.Identifier(cols["total"]), mean=sql.Identifier(cols["mean"]), max=sql.Identifier(cols["max"]),
        view=sql.Identifier(schema, "pg_stat_statements"),
    )
    try:
        rows = client.query(conn, query, [p["slow_query_min_mean_ms"], p["limit"]])
    except PostgresError as exc:
        # e.g. "pg_stat_statements must be loaded via shared_preload_libraries"
        return "error", f"database {db!r}: {exc}", []
    for r in rows:
        for k in ("total_ms", "mean_ms", "max_ms"):
            r[k] = round(r[k], 3) if r[k] is not None else None
        r["query"] = truncate_query(r["query"], p["query_max_length"])
    return "ok", "", rows


# -- cluster sections --------------------------------------------------------------
def section_databases(client, conn, p: dict, dbs: list[str]) -> list[dict]:
    return [_sized(r, "size_bytes") for r in client.query(conn, DATABASES_SQL, [dbs])]


def section_sessions(client, conn, p: dict, dbs: list[str]) -> list[dict]:
    return find_sessions(
        client, conn, p["long_running_seconds"], p["idle_in_transaction_seconds"],
        {"databases": dbs, "users": [], "apps": [], "x_databases": [], "x_users": [], "x_apps": []},
        p["query_max_length"],
    )


def section_locks(client, conn, p: dict, dbs: list[str]) -> list[dict]:
    out = []
    for r in jsonable(client.query(conn, LOCKS_SQL, [dbs, dbs])):
        for k in ("blocked_seconds", "blocking_transaction_seconds"):
            if r[k] is not None:
                r[k] = round(r[k], 3)
        r["blocked_query"] = truncate_query(r["blocked_query"], p["query_max_length"])
        r["blocking_query"] = truncate_query(r["blocking_query"], p["query_max_length"])
        out.append(r)
    return out


def section_connections(client, conn, p: dict, dbs: list[str]) -> dict:
    head = client.query(conn, CONNECTIONS_SQL)[0]
    groups = client.query(conn, CONNECTIONS_BY_SQL)

    def count_by(key: str) -> list[dict]:
        counts: dict[t.Any, int] = {}
        for g in groups:
            counts[g[key]] = counts.get(g[key], 0) + g["count"]
        return [{key: k, "count": v} for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))]

    # the total comes from the same snapshot as the groups, so they always add up
    total = sum(g["count"] for g in groups)
    maximum, reserved = head["max_connections"], head["superuser_reserved_connections"]
    return {
        "total": total,
        "max_connections": maximum,
        "superuser_reserved_connections": reserved,
        "available": max(maximum - reserved - total, 0),
        "percent_used": percent(total, maximum, 1),
        "by_state": count_by("state"),
        "by_database": count_by("database"),
        "by_user": count_by("user"),
    }


def section_cache_hit(client, conn, p: dict, dbs: list[str]) -> list[dict]:
    out = []
    for r in client.query(conn, CACHE_HIT_SQL, [dbs]):
        r["hit_percent"] = percent(r["blocks_hit"], r["blocks_hit"] + r["blocks_read"])
        out.append(r)
    return out


def section_wraparound(client, conn, p: dict, wanted: list[str]) -> list[dict]:
    out = []
    for r in client.query(conn, WRAPAROUND_SQL, [wanted, wanted]):
        r["percent_of_wraparound"] = percent(r["xid_age"], WRAPAROUND_LIMIT)
        r["percent_of_freeze_max_age"] = percent(r["xid_age"], r["autovacuum_freeze_max_age"])
        out.append(r)
    return out


DATABASE_FUNCS = {
    "tables": (section_tables, lambda r: (r["total_bytes"] or -1, r["database"], r["schema"], r["table"])),
    "bloat": (section_bloat, lambda r: (r["dead_tuples"], r["database"], r["schema"], r["table"])),
    "unused_indexes": (section_unused_indexes, lambda r: (r["size_bytes"] or -1, r["database"], r["index"])),
    "seq_scans": (section_seq_scans, lambda r: (r["seq_rows_read"], r["seq_scans"], r["database"], r["table"])),
}
CLUSTER_FUNCS = {
    "databases": section_databases,
    "sessions": section_sessions,
    "locks": section_locks,
    "connections": section_connections,
    "cache_hit": section_cache_hit,
}


def _vacuum_key(r: dict) -> tuple:
    # never vacuumed first, then the oldest vacuum
    return (r["last_any_vacuum"] is not None, r["last_any_vacuum"] or "", -(r["dead_tuples"] or 0), r["database"], r["table"])


def connect_database(client, db: str):
    """A connection to ``db``; a missing CONNECT privilege is worded for the user."""
    try:
        return client.connect(db)
    except PostgresError as exc:
        if "permission denied" in str(exc).lower():
            user = client.module.params["login_user"]
            raise PostgresError(
                f"permission denied for database {db!r}: login_user {user!r} lacks the CONNECT privilege there"
                " (GRANT CONNECT, or list only the databases to report on in the databases option)"
            ) from exc
        raise


def build_report(module, client) -> dict:
    """The whole pg_report run; returns the module result (raises PostgresError to fail)."""
    p = module.params
    errors = validate_params(p)
    if errors:
        raise PostgresError("; ".join(errors))
    sections = list(dict.fromkeys(p["sections"] or SECTIONS))
    cluster_conn = client.connect()
    lock_timeout = f"{int(p['lock_timeout_seconds'] * 1000)}ms"
    dbs = client.resolve_databases(p["databases"], option="databases")
    report: dict[str, t.Any] = {}
    status: dict[str, dict] = {}
    warning = visibility_warning(client, cluster_conn)
    if warning and any(s in sections for s in ("sessions", "locks", "connections", "slow_queries")):
        module.warn(warning)

    per_db: dict[str, list[dict]] = {s: [] for s in DATABASE_SECTIONS if s in sections}
    pgss: dict[str, dict] = {}
    if per_db:
        for db in dbs:
            conn = connect_database(client, db)
            client.query(conn, "SELECT set_config('lock_timeout', %s, false)", [lock_timeout])
            for section in per_db:
                if section == "slow_queries":
                    st, msg, rows = slow_queries(client, conn, p, db)
                    pgss[db] = {"status": st, "message": msg}
                    per_db[section].extend(rows)
                elif section == "vacuum":
                    per_db[section].extend(section_vacuum(client, conn, p, db))
                else:
                    per_db[section].extend(jsonable(DATABASE_FUNCS[section][0](client, conn, p, db)))
            if db != p["login_db"]:
                conn.close()

    for section in sections:
        if section in per_db:
            rows = per_db[section]
            if section == "slow_queries":
                rows = cut(rows, lambda r: (r["mean_ms"] or 0, r["calls"]), p["limit"])
            elif section == "vacuum":
                rows = cut(rows, _vacuum_key, p["limit"], reverse=False)
            else:
                rows = cut(rows, DATABASE_FUNCS[section][1], p["limit"])
            for row in rows:
                if isinstance(row, dict) and isinstance(row.get("schema"), str) and isinstance(row.get("table"), str):
                    # one unambiguous key per table (a."b.c" and "a.b".c stay two), like pg_backup's row counts
                    row["name"] = table_key(row["schema"], row["table"])
            report[section] = rows
        elif section == "wraparound":
            report[section] = jsonable(section_wraparound(client, cluster_conn, p, list(p["databases"] or [])))
        else:
            value = jsonable(CLUSTER_FUNCS[section](client, cluster_conn, p, dbs))
            if section in LIMITED_SECTIONS:
                value = value[: p["limit"]]
            report[section] = value
        entry: dict[str, t.Any] = {"status": "ok", "message": ""}
        if isinstance(report[section], list):
            entry["rows"] = len(report[section])
        if section == "slow_queries":
            entry["databases"] = pgss
            states = {v["status"] for v in pgss.values()}
            missing = [d for d, v in pgss.items() if v["status"] == "not_installed"]
            failed = [v["message"] for v in pgss.values() if v["status"] == "error"]
            if states == {"not_installed"}:
                entry["status"] = "not_installed"
            elif failed and states <= {"error", "not_installed"}:
                entry["status"] = "error"
            elif len(states) > 1:
                entry["status"] = "partial"
            parts = []
            if missing:
                parts.append(
                    "pg_stat_statements is not installed in database(s) " + ", ".join(repr(d) for d in missing)
                    + " (CREATE EXTENSION pg_stat_statements; it must also be in shared_preload_libraries)"
                )
            parts.extend(failed)
            entry["message"] = "; ".join(parts)
        status[section] = entry
    return {
        "changed": False,
        "report": report,
        "section_status": status,
        "databases": dbs,
        "server_version": client.server_version_string(),
        "server_version_num": client.server_version,
    }
