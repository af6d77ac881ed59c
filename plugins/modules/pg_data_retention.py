#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_data_retention
short_description: Delete rows older than an age in bounded batches, and call maintenance functions
version_added: 0.1.0
author: runbook.ops maintainers (@runbook-ops)
description:
  - The runbooks delete old audit logs, old projects and expired cache rows by hand with one big
    C(DELETE ... WHERE created_at < now() - interval '90 days'). That holds row locks for the
    whole statement, bloats one transaction and makes replicas fall behind.
  - This module deletes the same rows in batches of O(batch_size), each in its own short
    transaction, with an optional pause between batches so replicas keep up.
  - The cut-off time is computed once at the start of the run, so the rows deleted are exactly
    the rows counted in check mode at that moment.
  - It can also call maintenance functions of the application, such as C(cleanup_expired_cache()).
extends_documentation_fragment:
  - runbook.ops.postgres
  - runbook.ops.attributes
attributes:
  check_mode:
    support: full
    details: Counts exactly the rows that would be deleted and lists the functions that would be called; changes nothing.
  diff_mode:
    support: none
  action_group:
    description: Use C(group/runbook.ops.postgres) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - runbook.ops.postgres
seealso:
  - module: runbook.ops.pg_vacuum
  - module: runbook.ops.pg_report
options:
  database:
    description: Database holding the tables.
    type: str
    required: true
  tables:
    description:
      - Tables to prune, a YAML list of dicts. Each O(tables[].table) is taken whole (one name, never split
        at commas).
    type: list
    elements: dict
    default: []
    suboptions:
      table:
        description:
          - Table name, optionally schema-qualified (C(public.audit_log)). Double-quote names with dots or quotes.
        type: str
        required: true
      column:
        description: Timestamp (C(timestamptz), C(timestamp) or C(date)) column holding the row's age.
        type: str
        required: true
      older_than:
        description:
          - Rows whose O(tables[].column) is older than this are deleted.
          - A number of days, or a duration such as C(90d), C(12h), C(2w).
        type: str
        required: true
      batch_size:
        description: Rows per batch for this table; defaults to O(batch_size).
        type: int
  batch_size:
    description: Rows deleted per batch (one short transaction each).
    type: int
    default: 5000
  batch_pause:
    description: Seconds to wait between batches, so replicas and other sessions keep up.
    type: float
    default: 0
  max_batches:
    description: Stop a table after this many batches (0 means no limit); the rest is reported as remaining.
    type: int
    default: 0
  functions:
    description:
      - Functions to call after pruning, e.g. C(cleanup_expired_cache) or C(app.purge_sessions).
      - Called without arguments as C(SELECT fn()); the result is returned as text.
      - Give a YAML list. A single string without a comma is taken as a list of that one function; a string
        with a comma is refused (Ansible would split it at its commas), never split.
    type: raw
    default: []
"""

EXAMPLES = r"""
- name: Keep 90 days of audit log and 30 days of finished jobs
  runbook.ops.pg_data_retention:
    login_host: db1.internal
    login_password: "{{ vault_pg_password }}"
    database: shop
    tables:
      - table: public.audit_log
        column: created_at
        older_than: 90d
      - table: jobs.finished_jobs
        column: finished_at
        older_than: 30
        batch_size: 1000
    batch_pause: 0.2
    functions:
      - cleanup_expired_cache

- name: How many rows would go? (deletes nothing)
  runbook.ops.pg_data_retention:
    database: shop
    tables:
      - {table: audit_log, column: created_at, older_than: 90d}
  check_mode: true
  register: retention

- name: Show the counts
  ansible.builtin.debug:
    msg: "{{ retention.tables | map(attribute='rows') | list }}"
"""

RETURN = r"""
tables:
  description: One entry per configured table.
  returned: always
  type: list
  elements: dict
  sample:
    - table: public.audit_log
      column: created_at
      cutoff: "2026-08-25T02:00:00+00:00"
      rows: 41250
      batches: 9
      remaining: 0
      duration_seconds: 1.84
functions:
  description: Functions called (or that would be called in check mode) with their results as text.
  returned: always
  type: list
  elements: dict
  sample:
    - name: public.cleanup_expired_cache
      called: true
      result: "128"
total_rows:
  description: Rows deleted in all tables (rows that would be deleted, in check mode).
  returned: always
  type: int
  sample: 41250
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils._durations import parse_duration
from ansible_collections.runbook.ops.plugins.module_utils._options import OptionError, whole_list
from ansible_collections.runbook.ops.plugins.module_utils._pg_names import parse_qualified_name, table_key
from ansible_collections.runbook.ops.plugins.module_utils._postgres import (
    PostgresError,
    postgres_argument_spec,
    run_with_client,
    sql,
)

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


def main() -> None:
    argument_spec = postgres_argument_spec()
    argument_spec.update(
        database=dict(type="str", required=True),
        tables=dict(type="list", elements="dict", default=[], options=dict(
            table=dict(type="str", required=True),
            column=dict(type="str", required=True),
            older_than=dict(type="str", required=True),
            batch_size=dict(type="int"),
        )),
        batch_size=dict(type="int", default=5000),
        batch_pause=dict(type="float", default=0),
        max_batches=dict(type="int", default=0),
        functions=dict(type="raw", default=[]),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    specs = validate(module)

    def body(client):
        conn = client.connect(module.params["database"])
        tables = [prune_table(client, conn, s, module.check_mode, module.params["batch_pause"], module.params["max_batches"])
                  for s in specs]
        functions = call_functions(client, conn, module.params["functions"], module.check_mode)
        total = sum(t["rows"] for t in tables)
        changed = total > 0 or bool(functions)
        return dict(changed=changed, tables=tables, functions=functions, total_rows=total)

    run_with_client(module, body)


if __name__ == "__main__":
    main()
