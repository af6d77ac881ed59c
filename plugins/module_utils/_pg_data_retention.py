# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_data_retention: delete rows older than a cut-off in small committed batches, and call cleanup functions.

Options are checked before connecting (:func:`validate`); tables and columns are resolved in the
catalogs and quoted as identifiers; the cut-off is computed once by the server in the column's type.
"""

from __future__ import annotations

import time

from ansible_collections.runbook.ops.plugins.module_utils._durations import parse_duration
from ansible_collections.runbook.ops.plugins.module_utils._options import OptionError, whole_list
from ansible_collections.runbook.ops.plugins.module_utils._pg_names import parse_qualified_name, table_key
from ansible_collections.runbook.ops.plugins.module_utils._postgres import PostgresError, sql

TIME_TYPES = ("timestamp with time zone", "timestamp without time zone", "date")


def validate(module) -> list[dict]:
    """Check options before connecting; every message names the option."""
    p = module.params
    try:
        p["functions"] = whole_list(p["functions"], "functions")
    except OptionError as exc:
        module.fail_json(msg=str(exc))
    if p["batch_size"] < 1:
        module.fail_json(msg=f"batch_size must be at least 1, got {p['batch_size']}")
    if p["batch_pause"] < 0:
        module.fail_json(msg=f"batch_pause must not be negative, got {p['batch_pause']}")
    if p["max_batches"] < 0:
        module.fail_json(msg=f"max_batches must not be negative, got {p['max_batches']}")
    if not p["tables"] and not p["functions"]:
        module.fail_json(msg="nothing to do: give tables and/or functions")
    specs = []
    for i, entry in enumerate(p["tables"]):
        where = f"tables[{i}] ({entry['table']})"
        try:
            schema, name = parse_qualified_name(entry["table"])
        except ValueError as exc:
            module.fail_json(msg=f"{where}.table: {exc}")
        try:
            seconds = parse_duration(entry["older_than"])
        except ValueError as exc:
            module.fail_json(msg=f"{where}.older_than: {exc}")
        batch = entry.get("batch_size") or p["batch_size"]
        if batch < 1:
            module.fail_json(msg=f"{where}.batch_size must be at least 1, got {batch}")
        specs.append(dict(schema=schema, name=name, column=entry["column"], seconds=seconds, batch=batch, where=where))
    return specs


def resolve_table(client, conn, spec) -> tuple[str, str]:
    """The table's real schema, after checking it and its time column exist."""
    rows = client.query(
        conn,
        "SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'p') AND c.relname = %s AND (%s::text IS NULL OR n.nspname = %s)"
        " AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY n.nspname = 'public' DESC",
        (spec["name"], spec["schema"], spec["schema"]),
    )
    if not rows:
        raise PostgresError(f"{spec['where']}: table not found in database {client.module.params['database']!r}")
    if len(rows) > 1 and spec["schema"] is None and rows[0]["schema"] != "public":
        raise PostgresError(f"{spec['where']}: table exists in several schemas ({', '.join(r['schema'] for r in rows)}); qualify it")
    schema = rows[0]["schema"]
    col = client.query(
        conn,
        "SELECT format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a"
        " WHERE a.attrelid = (quote_ident(%s) || '.' || quote_ident(%s))::regclass AND a.attname = %s AND NOT a.attisdropped",
        (schema, spec["name"], spec["column"]),
    )
    if not col:
        raise PostgresError(f"{spec['where']}.column: column {spec['column']!r} not found in {table_key(schema, spec['name'])}")
    ctype = col[0]["type"]
    if not ctype.startswith(TIME_TYPES):
        raise PostgresError(f"{spec['where']}.column: {spec['column']!r} is {ctype}, not a timestamp or date")
    return schema, ctype


def prune_table(client, conn, spec, check_mode: bool, pause: float, max_batches: int) -> dict:
    started = time.monotonic()
    schema, ctype = resolve_table(client, conn, spec)
    table = sql.Identifier(schema, spec["name"])
    column = sql.Identifier(spec["column"])
    # One cut-off for the whole run, computed by the server in the column's own type.
    cutoff = client.query(
        conn,
        sql.SQL("SELECT (now() - make_interval(secs => %s))::{} AS cutoff").format(sql.SQL(ctype)),
        (spec["seconds"],),
    )[0]["cutoff"]
    count_query = sql.SQL("SELECT count(*) AS n FROM {} WHERE {} < %s").format(table, column)
    result = dict(table=table_key(schema, spec["name"]), column=spec["column"], cutoff=cutoff.isoformat(),
                  rows=0, batches=0, remaining=0)
    if check_mode:
        result["rows"] = client.query(conn, count_query, (cutoff,))[0]["n"]
    else:
        # ctid batches: each DELETE touches at most `batch` rows and commits at once (autocommit).
        delete = sql.SQL(
            "DELETE FROM {t} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {t} WHERE {c} < %s LIMIT %s))"
        ).format(t=table, c=column)
        while True:
            with conn.cursor() as cur:
                try:
                    cur.execute(delete, (cutoff, spec["batch"]))
                except Exception as exc:  # psycopg errors: keep the server's message
                    raise PostgresError(f"{spec['where']}: delete failed after {result['rows']} rows: "
                                        f"{getattr(getattr(exc, 'diag', None), 'message_primary', None) or exc}") from exc
                deleted = cur.rowcount
            if deleted <= 0:
                break
            result["rows"] += deleted
            result["batches"] += 1
            if deleted < spec["batch"]:
                break
            if max_batches and result["batches"] >= max_batches:
                result["remaining"] = client.query(conn, count_query, (cutoff,))[0]["n"]
                break
            if pause:
                time.sleep(pause)
    result["duration_seconds"] = round(time.monotonic() - started, 3)
    return result


def call_functions(client, conn, names: list[str], check_mode: bool) -> list[dict]:
    out = []
    for i, text in enumerate(names):
        try:
            schema, name = parse_qualified_name(text)
        except ValueError as exc:
            raise PostgresError(f"functions[{i}]: {exc}") from exc
        found = client.query(
            conn,
            "SELECT n.nspname AS schema FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE p.proname = %s AND (%s::text IS NULL OR n.nspname = %s) AND p.pronargs = 0"
            " ORDER BY n.nspname = 'public' DESC LIMIT 1",
            (name, schema, schema),
        )
        if not found:
            raise PostgresError(f"functions[{i}]: function {text!r} taking no arguments not found")
        qualified = table_key(found[0]["schema"], name)
        if check_mode:
            out.append(dict(name=qualified, called=False, result=None))
            continue
        row = client.query(conn, sql.SQL("SELECT {}()::text AS result").format(sql.Identifier(found[0]["schema"], name)))
        out.append(dict(name=qualified, called=True, result=row[0]["result"] if row else None))
    return out


def run(client, module, specs: list[dict]) -> dict:
    """The body of pg_data_retention: every table pruned in batches, then the functions called."""
    conn = client.connect(module.params["database"])
    tables = [prune_table(client, conn, s, module.check_mode, module.params["batch_pause"], module.params["max_batches"])
              for s in specs]
    functions = call_functions(client, conn, module.params["functions"], module.check_mode)
    total = sum(t["rows"] for t in tables)
    changed = total > 0 or bool(functions)
    return dict(changed=changed, tables=tables, functions=functions, total_rows=total)
