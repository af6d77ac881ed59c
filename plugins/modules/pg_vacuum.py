#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_vacuum
short_description: VACUUM and ANALYZE PostgreSQL tables that cross dead-tuple and modification thresholds
version_added: 0.1.0
author: runbook.ops maintainers (@runbook-ops)
description:
  - Reads C(pg_stat_user_tables) in each selected database and runs C(VACUUM), C(VACUUM (ANALYZE)) or
    C(ANALYZE) only on the tables that need it, one statement per table, so that RV(changed) means
    "tables were vacuumed or analyzed because they crossed a threshold".
  - A table needs C(VACUUM) when it has at least one dead tuple, at least O(min_dead_tuples) dead tuples
    B(and) a dead-tuple ratio C(n_dead_tup / (n_live_tup + n_dead_tup)) of at least O(min_dead_ratio).
    It needs C(ANALYZE) when it has at least one and at least O(min_mod_since_analyze) modifications
    since its last analyze. A second run right after a first one is therefore not changed.
  - Optionally runs C(REINDEX) (C(CONCURRENTLY) on PostgreSQL 12 and later) of listed tables and indexes.
  - Returns, per database and per table, dead and live tuples before and after, the ratio, the action
    taken or the reason the table was skipped, the duration, totals, and the exact statements run.
  - Check mode reads the statistics, makes the same selection and returns the same statements and
    RV(changed) as a real run would, and runs no maintenance statement.
  - Every statement runs on an autocommit connection (C(VACUUM) cannot run inside a transaction);
    identifiers are composed with C(psycopg.sql), never by string formatting.
extends_documentation_fragment:
  - runbook.ops.postgres
  - runbook.ops.attributes
  - runbook.ops.attributes.action_group_postgres
attributes:
  check_mode:
    support: full
    details: Check mode connects and reads statistics, returns the statements a real run would execute and
      the same RV(changed), and runs none of them. With O(skip_locked) or O(lock_timeout) it also predicts
      tables a real run would skip because another session holds a conflicting lock.
  diff_mode:
    support: none
options:
  databases:
    description:
      - Databases to process, one after the other.
      - When omitted, every database that accepts connections, templates excluded.
      - An unknown database fails the module before anything runs.
    type: list
    elements: str
    aliases: [database, db]
  schemas:
    description:
      - Schemas whose tables are considered.
      - Default is every non-system schema (not C(pg_catalog), C(information_schema), C(pg_toast*), C(pg_temp_*)).
      - With O(tables), only used to look up unqualified table names.
      - An unknown schema fails the module naming it and the database.
    type: list
    elements: str
  tables:
    description:
      - Consider only these tables (still subject to the thresholds).
      - Names are C(table) or C(schema.table); double-quote a part that contains dots or quotes,
        as in C("my.schema"."Odd Name"); inside quotes, two double quotes stand for one. Names are taken as written (no case folding).
      - An unqualified name is looked up in O(schemas) (default all non-system schemas) and must be
        unambiguous.
      - Every listed table must exist in every selected database; an unknown table fails the module
        naming the table and the database.
    type: list
    elements: str
  exclude_tables:
    description:
      - Tables never processed. A qualified name excludes that table, an unqualified name that table
        name in any schema. A name that matches nothing is ignored.
    type: list
    elements: str
    default: []
  mode:
    description:
      - V(vacuum) runs C(VACUUM) on tables crossing the dead-tuple thresholds.
      - V(analyze) runs C(ANALYZE) on tables crossing O(min_mod_since_analyze).
      - V(vacuum_analyze) runs C(VACUUM (ANALYZE)) on tables crossing the dead-tuple thresholds and
        plain C(ANALYZE) on tables that only cross O(min_mod_since_analyze).
      - V(full) is V(vacuum_analyze) with C(VACUUM (FULL, ANALYZE)). C(VACUUM FULL) rewrites the table under an
        C(ACCESS EXCLUSIVE) lock (no reads or writes meanwhile), which is why it is never chosen implicitly.
    type: str
    choices: [vacuum, analyze, vacuum_analyze, full]
    default: vacuum_analyze
  min_dead_tuples:
    description:
      - Minimum number of dead tuples (C(n_dead_tup)) for a table to be vacuumed. Must be >= 0.
      - V(0) means any table with at least one dead tuple (subject to O(min_dead_ratio)).
    type: int
    default: 1000
  min_dead_ratio:
    description:
      - Minimum share of dead tuples, C(n_dead_tup / (n_live_tup + n_dead_tup)), between V(0) and V(1),
        for a table to be vacuumed. Both this and O(min_dead_tuples) must be reached.
    type: float
    default: 0.1
  min_mod_since_analyze:
    description:
      - Minimum number of rows modified since the last analyze (C(n_mod_since_analyze)) for a table to be
        analyzed (modes V(analyze), V(vacuum_analyze) and V(full)). Must be >= 0; V(0) means any modification.
    type: int
    default: 1000
  freeze:
    description: Add C(FREEZE) (aggressive freezing of tuples) to every C(VACUUM). Not valid with O(mode=analyze).
    type: bool
    default: false
  parallel:
    description:
      - Add C(PARALLEL n) to every C(VACUUM) to process indexes with up to this many background workers
        (PostgreSQL 13 and later). V(0) disables parallel index processing.
      - Must be >= 0; not valid with O(mode=full) or O(mode=analyze).
      - When omitted, the server decides (C(max_parallel_maintenance_workers)).
    type: int
  skip_locked:
    description:
      - Add C(SKIP_LOCKED) so that a table another session holds a conflicting lock on is skipped at once
        and reported with RV(databases[].tables[].skip_reason=locked), instead of being waited for.
        Needs PostgreSQL 12 or later.
    type: bool
    default: false
  lock_timeout:
    description:
      - Session C(lock_timeout) for the maintenance statements, as milliseconds (V(500)) or with a unit
        (V(500ms), V(5s), V(1min), V(1h), V(1d)). V(0) waits forever.
      - A table or index whose lock is not obtained in time is skipped and reported with
        RV(databases[].tables[].skip_reason=lock_timeout); the run goes on with the next table.
      - When omitted, the server's setting applies.
    type: str
  reindex_tables:
    description:
      - Tables whose indexes are rebuilt with C(REINDEX TABLE) after vacuuming, in every selected database.
      - Always run when listed (no threshold); names as in O(tables). An unknown table or one
        O(login_user) does not own fails the module before anything runs in that database.
    type: list
    elements: str
    default: []
  reindex_indexes:
    description:
      - Indexes rebuilt with C(REINDEX INDEX) after vacuuming, in every selected database; as O(reindex_tables).
    type: list
    elements: str
    default: []
  reindex_concurrently:
    description:
      - Use C(REINDEX ... CONCURRENTLY) (no write lock on the table) when the server supports it
        (PostgreSQL 12 and later).
    type: bool
    default: true
  statement_timeout:
    description:
      - Seconds one catalog query (statistics, names, locks) may run (the server cancels it, the client gives
        up 1 s later); past it the module fails saying C(statement exceeded statement_timeout=Ns).
        V(0) sets no bound of the module's own.
      - C(VACUUM), C(ANALYZE) and C(REINDEX) are not bounded by it but by O(maintenance_timeout).
    type: int
    default: 60
  maintenance_timeout:
    description:
      - Seconds each C(VACUUM), C(ANALYZE) or C(REINDEX) statement may run, its wait for a lock included, as
        the session's C(statement_timeout) for those statements (a lower setting of the server's own still
        applies), and the client gives up 1 s later should the server not answer at all.
      - Past it the module fails with a message that names the statement with its table or index, the database
        and the option (C(statement exceeded maintenance_timeout=Ns)); the statements before it have run and
        are in the result.
      - V(0) (the default) sets no bound of the module's own; they then take as long as their work, under the
        server's own C(statement_timeout). O(lock_timeout) or O(skip_locked) bound only their wait for a lock.
      - Must be >= 0. Check mode runs no maintenance statement, so it does not apply there.
    type: int
    default: 0
notes:
  - Privileges. PostgreSQL does not fail a C(VACUUM) of a table the user may not vacuum; it only warns
    C(skipping ... only table or database owner can vacuum it). This module checks ownership (or the
    C(MAINTAIN) privilege on PostgreSQL 17+) before running anything and reports such a table as
    skipped with RV(databases[].tables[].skip_reason=insufficient_privilege) and the reason; the
    statement is not run and the table does not make the task changed. When the table was listed
    explicitly in O(tables), an Ansible warning is added too.
  - Statistics. The numbers come from C(pg_stat_user_tables). The "after" numbers are read on the same
    connection after C(pg_stat_clear_snapshot()), once every statement of the database has finished;
    C(VACUUM) and C(ANALYZE) write their results to the shared statistics directly, so they are current.
    Changes made by other sessions are visible only once those sessions have reported their statistics
    (PostgreSQL 15 and later - at transaction end, at most once a second, or when the session goes idle or exits).
  - RV(changed) is true exactly when at least one table was vacuumed or analyzed, or one table or index
    reindexed. A statement that ran but skipped its table (C(SKIP_LOCKED), lock timeout) does not count.
  - Statements run one per table, so each table gets its own duration.
seealso:
  - name: VACUUM
    description: PostgreSQL documentation of VACUUM.
    link: https://www.postgresql.org/docs/current/sql-vacuum.html
  - name: The Cumulative Statistics System
    description: pg_stat_user_tables and when statistics are reported.
    link: https://www.postgresql.org/docs/current/monitoring-stats.html
  - module: runbook.ops.pg_report
  - module: runbook.ops.pg_data_retention
"""

EXAMPLES = r"""
- name: Vacuum and analyze every table of the app database that needs it
  runbook.ops.pg_vacuum:
    login_host: db.example.com
    login_password: "{{ vault_pg_password }}"
    databases: [app]

- name: Connection options once for a play, then a nightly maintenance step
  hosts: db
  module_defaults:
    group/runbook.ops.postgres:
      login_unix_socket: /var/run/postgresql
      login_user: postgres
  tasks:
    - name: Vacuum busy tables without waiting for locks held by the application
      runbook.ops.pg_vacuum:
        databases: [app, reporting]
        schemas: [public, sales]
        exclude_tables: [public.audit_log]
        min_dead_tuples: 10000
        min_dead_ratio: 0.2
        skip_locked: true
        lock_timeout: 5s
        maintenance_timeout: 3600
        parallel: 2
      register: vacuum

    - name: Show what was skipped because it was locked
      ansible.builtin.debug:
        msg: "{{ vacuum.databases | map(attribute='tables') | flatten
                 | selectattr('skip_reason', 'equalto', 'locked') | map(attribute='name') | list }}"

- name: Refresh planner statistics only, after a bulk load
  runbook.ops.pg_vacuum:
    databases: [app]
    tables: [sales.orders, sales.order_lines]
    mode: analyze
    min_mod_since_analyze: 0

- name: Preview (check mode) what a VACUUM FULL would do
  runbook.ops.pg_vacuum:
    databases: [app]
    tables: ['public."Odd Name"']
    mode: full
  check_mode: true
  register: preview

- name: Rebuild bloated indexes without blocking writes
  runbook.ops.pg_vacuum:
    databases: [app]
    mode: vacuum
    reindex_tables: [public.events]
    reindex_indexes: [sales.orders_created_at_idx]
"""

RETURN = r"""
changed:
  description: True when at least one table was vacuumed or analyzed, or one table or index reindexed.
  returned: always
  type: bool
  sample: true
statements:
  description: The maintenance statements run (or, in check mode, that a real run would run), in order,
    over all databases.
  returned: always
  type: list
  elements: str
  sample: ['VACUUM (ANALYZE, SKIP_LOCKED) "public"."orders"', 'ANALYZE (SKIP_LOCKED) "public"."customers"']
server_version:
  description: Version of the server, C(major.minor).
  returned: always
  type: str
  sample: "15.14"
lock_timeout:
  description: The session lock_timeout used, or null when the server's setting applied.
  returned: always
  type: str
  sample: 5000ms
maintenance_timeout:
  description: The bound in seconds of each maintenance statement (O(maintenance_timeout)), 0 for none of the module's own.
  returned: always
  type: int
  sample: 3600
totals:
  description: Sums over all databases.
  returned: always
  type: dict
  contains:
    tables:
      description: Tables considered (in scope).
      type: int
    vacuumed:
      description: Tables vacuumed.
      type: int
    analyzed:
      description: Tables analyzed (by ANALYZE or VACUUM (ANALYZE)).
      type: int
    skipped:
      description: Tables in scope that were not processed (below thresholds, locked, no privilege).
      type: int
    reindexed:
      description: Tables and indexes reindexed.
      type: int
    dead_tuples_before:
      description: Dead tuples of the tables in scope before the run.
      type: int
    dead_tuples_after:
      description: Dead tuples of the tables in scope after the run.
      type: int
    duration:
      description: Seconds spent in maintenance statements (sum of the per-table and per-index durations).
      type: float
  sample:
    tables: 3
    vacuumed: 1
    analyzed: 1
    skipped: 2
    reindexed: 0
    dead_tuples_before: 33334
    dead_tuples_after: 0
    duration: 0.184
databases:
  description: One entry per database, in the order processed.
  returned: always
  type: list
  elements: dict
  contains:
    database:
      description: Database name.
      type: str
    statements:
      description: Statements run in this database.
      type: list
      elements: str
    totals:
      description: As RV(totals), for this database.
      type: dict
    tables:
      description: One entry per table in scope, ordered by schema and name.
      type: list
      elements: dict
      contains:
        database:
          description: Database name.
          type: str
        schema:
          description: Schema name.
          type: str
        table:
          description: Table name.
          type: str
        name:
          description: C(schema.table), parts double-quoted when needed.
          type: str
        action:
          description: What was done, V(vacuum), V(vacuum_analyze), V(analyze), V(vacuum_full),
            V(vacuum_full_analyze), or V(skipped).
          type: str
        planned_action:
          description: What the thresholds asked for (V(skipped) when below them), also when the
            table was then skipped because of a lock or privileges.
          type: str
        changed:
          description: Whether the table was processed.
          type: bool
        statement:
          description: The statement run for the table, or null when none ran.
          type: str
        reason:
          description: Why the table was processed or skipped, with the numbers and thresholds compared,
            or the server's message.
          type: str
        skip_reason:
          description: Null when processed, else V(below_threshold), V(locked) (O(skip_locked)),
            V(lock_timeout), or V(insufficient_privilege).
          type: str
        dead_tuples_before:
          description: C(n_dead_tup) before.
          type: int
        live_tuples_before:
          description: C(n_live_tup) before.
          type: int
        dead_ratio_before:
          description: Dead-tuple ratio before.
          type: float
        mod_since_analyze_before:
          description: C(n_mod_since_analyze) before.
          type: int
        dead_tuples_after:
          description: C(n_dead_tup) after all statements of the database ran.
          type: int
        live_tuples_after:
          description: C(n_live_tup) after.
          type: int
        dead_ratio_after:
          description: Dead-tuple ratio after.
          type: float
        mod_since_analyze_after:
          description: C(n_mod_since_analyze) after.
          type: int
        last_vacuum:
          description: C(last_vacuum) after the run (ISO 8601), or null.
          type: str
        last_analyze:
          description: C(last_analyze) after the run (ISO 8601), or null.
          type: str
        duration:
          description: Seconds the statement took (0 when none ran or in check mode).
          type: float
    reindex:
      description: One entry per O(reindex_tables) / O(reindex_indexes) target.
      type: list
      elements: dict
      contains:
        kind:
          description: V(table) or V(index).
          type: str
        schema:
          description: Schema name.
          type: str
        name:
          description: Table or index name.
          type: str
        statement:
          description: The REINDEX statement.
          type: str
        concurrently:
          description: Whether CONCURRENTLY was used.
          type: bool
        changed:
          description: Whether it ran.
          type: bool
        skip_reason:
          description: V(lock_timeout) when the lock was not obtained in time, else null.
          type: str
        duration:
          description: Seconds the statement took.
          type: float
  sample:
    - database: app
      statements: ['VACUUM (ANALYZE) "public"."orders"']
      totals: {tables: 2, vacuumed: 1, analyzed: 1, skipped: 1, reindexed: 0,
               dead_tuples_before: 33334, dead_tuples_after: 0, duration: 0.184}
      reindex: []
      tables:
        - database: app
          schema: public
          table: orders
          name: public.orders
          action: vacuum_analyze
          planned_action: vacuum_analyze
          changed: true
          statement: VACUUM (ANALYZE) "public"."orders"
          reason: dead tuples 33334 >= min_dead_tuples 1000 and dead ratio 0.2500 >= min_dead_ratio 0.1
          skip_reason: null
          dead_tuples_before: 33334
          live_tuples_before: 100000
          dead_ratio_before: 0.250002
          mod_since_analyze_before: 33334
          dead_tuples_after: 0
          live_tuples_after: 100000
          dead_ratio_after: 0.0
          mod_since_analyze_after: 0
          last_vacuum: "2026-01-01T03:00:01.123456+00:00"
          last_analyze: "2026-01-01T03:00:01.184000+00:00"
          duration: 0.184
        - database: app
          schema: public
          table: customers
          name: public.customers
          action: skipped
          planned_action: skipped
          changed: false
          statement: null
          reason: dead tuples 12 < min_dead_tuples 1000; modifications since analyze 12 < min_mod_since_analyze 1000
          skip_reason: below_threshold
          dead_tuples_before: 12
          live_tuples_before: 5000
          dead_ratio_before: 0.002394
          mod_since_analyze_before: 12
          dead_tuples_after: 12
          live_tuples_after: 5000
          dead_ratio_after: 0.002394
          mod_since_analyze_after: 12
          last_vacuum: null
          last_analyze: null
          duration: 0.0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils._postgres import (
    PostgresClient,
    PostgresError,
    postgres_argument_spec,
    psycopg,
)
from ansible_collections.runbook.ops.plugins.module_utils._vacuum import MODES, VacuumRun, validate_params


def argument_spec() -> dict:
    spec = postgres_argument_spec(statement_timeout=60)
    spec.update(
        databases=dict(type="list", elements="str", aliases=["database", "db"]),
        schemas=dict(type="list", elements="str"),
        tables=dict(type="list", elements="str"),
        exclude_tables=dict(type="list", elements="str", default=[]),
        mode=dict(type="str", choices=list(MODES), default="vacuum_analyze"),
        min_dead_tuples=dict(type="int", default=1000),
        min_dead_ratio=dict(type="float", default=0.1),
        min_mod_since_analyze=dict(type="int", default=1000),
        freeze=dict(type="bool", default=False),
        parallel=dict(type="int"),
        skip_locked=dict(type="bool", default=False),
        lock_timeout=dict(type="str"),
        reindex_tables=dict(type="list", elements="str", default=[]),
        reindex_indexes=dict(type="list", elements="str", default=[]),
        reindex_concurrently=dict(type="bool", default=True),
        maintenance_timeout=dict(type="int", default=0),
    )
    return spec


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    problems = validate_params(module.params)
    if problems:
        module.fail_json(msg="; ".join(problems))
    client = PostgresClient(module)
    run = VacuumRun(module, client, psycopg)
    try:
        result = run.run()
    except PostgresError as exc:
        client.close()
        partial = run.result() if run.databases else {}
        partial.pop("changed", None)
        module.fail_json(msg=str(exc), changed=any(r["changed"] for d in run.databases for r in d["tables"] + d["reindex"]),
                         **partial)
    client.close()
    for warning in run.warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
