#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_report
short_description: Read-only health report of a PostgreSQL cluster, one structured result
version_added: 0.1.0
author: runbook.ops maintainers (@runbook-ops)
description:
  - Runs the diagnostic queries of the PostgreSQL runbook and returns them as one structured report
    whose lists are easy to filter with C(selectattr) or the C(json_query) filter of the community.general collection.
  - "Per-database sections (each selected database is visited over its own connection):
    C(tables) (sizes), C(bloat) (dead tuples and a bloat estimate), C(unused_indexes),
    C(seq_scans) (missing-index candidates), C(slow_queries) (pg_stat_statements) and
    C(vacuum) (last manual and automatic vacuum and analyze)."
  - "Cluster sections (one query on O(login_db)): C(databases) (sizes), C(sessions)
    (long-running and idle-in-transaction), C(locks) (blocked and blocking sessions from
    C(pg_blocking_pids)), C(connections) (against C(max_connections)), C(cache_hit) and
    C(wraparound) (transaction ID age per database)."
  - Never changes anything; runs identically in check mode.
  - Tables and indexes under an C(ACCESS EXCLUSIVE) lock are listed with C(locked=true) and no size
    instead of waiting for the lock.
extends_documentation_fragment:
  - runbook.ops.postgres
  - runbook.ops.attributes
  - runbook.ops.attributes.READ_ONLY
  - runbook.ops.attributes.action_group_postgres
options:
  sections:
    description:
      - Sections to include. Default is all of them.
      - Only the selected sections appear in RV(report) and RV(section_status).
    type: list
    elements: str
    default: []
    choices: [databases, tables, bloat, unused_indexes, seq_scans, slow_queries, sessions, locks,
              connections, cache_hit, wraparound, vacuum]
  databases:
    description:
      - Databases to report on. Default is every database that accepts connections (templates excluded).
      - An unknown name fails the task.
      - For C(wraparound) the default also includes template and non-connectable databases,
        since their transaction ID age matters as much.
    type: list
    elements: str
    default: []
  limit:
    description:
      - Top-N cut of each list section (C(tables), C(bloat), C(unused_indexes), C(seq_scans),
        C(slow_queries), C(sessions), C(locks), C(vacuum)), applied after merging all databases.
      - Must be at least 1.
    type: int
    default: 20
  long_running_seconds:
    description: C(sessions) lists active queries running for at least this many seconds.
    type: float
    default: 300
  idle_in_transaction_seconds:
    description: C(sessions) lists sessions idle in a transaction for at least this many seconds.
    type: float
    default: 60
  seq_scan_min:
    description: C(seq_scans) lists tables with at least this many sequential scans.
    type: int
    default: 1000
  dead_tuples_min:
    description: C(bloat) lists tables with at least this many dead tuples.
    type: int
    default: 1000
  slow_query_min_mean_ms:
    description: C(slow_queries) lists statements whose mean execution time is at least this many milliseconds.
    type: float
    default: 0
  unused_indexes_include_unique:
    description:
      - Also list unused unique and primary-key indexes in C(unused_indexes) (flagged by C(unique) and
        C(primary)). They enforce constraints, so they are left out by default.
    type: bool
    default: false
  query_max_length:
    description: Query texts are cut to this many characters (at least 1).
    type: int
    default: 500
  lock_timeout_seconds:
    description:
      - C(lock_timeout) of the report's connections, a safety net should a catalog lock be
        requested between the lock check and the size query.
    type: float
    default: 5
  statement_timeout:
    description:
      - Seconds one query of the report may run (the server cancels it, the client gives up 1 s later);
        past it the module fails saying C(statement exceeded statement_timeout=Ns). V(0) sets no
        bound of the module's own.
    type: int
    default: 60
notes:
  - C(slow_queries) needs the C(pg_stat_statements) extension created in each database
    (C(CREATE EXTENSION pg_stat_statements)) and the library in C(shared_preload_libraries). A database
    without it is reported in RV(section_status) as C(not_installed); the task does not fail.
  - Both C(mean_time) (PostgreSQL 12 and older) and C(mean_exec_time) (13 and newer) column names are handled.
  - A role that is neither a superuser nor a member of C(pg_read_all_stats) (or C(pg_monitor)) cannot see
    the state and queries of other roles' sessions; the module warns about it.
  - Each per-database section connects to every selected database; a database O(login_user) may not connect to
    fails the task with a message naming it. List the databases to report on in O(databases) to leave it out.
  - The bloat figure is an estimate, the table size times the share of dead tuples in the statistics;
    use the pgstattuple extension for exact figures.
seealso:
  - module: runbook.ops.pg_activity
  - module: runbook.ops.pg_vacuum
  - module: runbook.ops.health_probe
"""

EXAMPLES = r"""
- name: Full report of every database
  runbook.ops.pg_report:
    login_host: db.internal
    login_user: monitor
    login_password: "{{ vault_pg_monitor_password }}"
  register: pg

- name: Connection options once for the play, through the action group
  hosts: databases
  module_defaults:
    group/runbook.ops.postgres:
      login_host: 127.0.0.1
      login_user: postgres
      login_password: "{{ vault_pg_password }}"
  tasks:
    - name: Sizes, bloat and unused indexes of one database
      runbook.ops.pg_report:
        databases: [shop]
        sections: [tables, bloat, unused_indexes]
        limit: 10
      register: shop

    - name: Tables bigger than 1 GiB, with json_query
      ansible.builtin.debug:
        msg: "{{ shop.report.tables | community.general.json_query('[?total_bytes > `1073741824`].[schema, table, total_pretty]') }}"

- name: Fail when a database approaches transaction ID wraparound
  runbook.ops.pg_report:
    sections: [wraparound]
  register: wrap
  failed_when: wrap.report.wraparound | selectattr('percent_of_wraparound', 'gt', 50) | list | length > 0

- name: Slow statements, when pg_stat_statements is installed
  runbook.ops.pg_report:
    sections: [slow_queries]
    slow_query_min_mean_ms: 250
  register: slow

- name: Say where pg_stat_statements is missing
  ansible.builtin.debug:
    msg: "{{ slow.section_status.slow_queries.message }}"
  when: slow.section_status.slow_queries.status != 'ok'

- name: Sessions blocked for more than a minute, and who blocks them
  runbook.ops.pg_report:
    sections: [locks]
  register: locks

- name: Show blocker pids
  ansible.builtin.debug:
    msg: "{{ locks.report.locks | community.general.json_query('[?blocked_seconds > `60`].{blocked: blocked_pid, by: blocking_pid}') }}"
"""

RETURN = r"""
report:
  description: The selected sections, by name.
  returned: success
  type: dict
  contains:
    databases:
      description: Database sizes, largest first.
      type: list
      elements: dict
      returned: when selected
      sample: [{database: shop, size_bytes: 7741859, size_pretty: 7561 kB, encoding: UTF8, connection_limit: -1}]
    tables:
      description:
        - Largest tables (including partitioned tables and materialized views) over all selected databases.
        - Sizes are null and C(locked) true for a table under an C(ACCESS EXCLUSIVE) lock.
      type: list
      elements: dict
      returned: when selected
      sample:
        - database: shop
          schema: public
          table: orders
          kind: table
          locked: false
          total_bytes: 1163264
          total_pretty: 1136 kB
          table_bytes: 917504
          table_pretty: 896 kB
          index_bytes: 237568
          index_pretty: 232 kB
          toast_bytes: 8192
          toast_pretty: 8192 bytes
          estimated_rows: 20000
          live_tuples: 20000
          dead_tuples: 0
    bloat:
      description: Tables with at least O(dead_tuples_min) dead tuples, most dead tuples first.
      type: list
      elements: dict
      returned: when selected
      sample:
        - {database: shop, schema: public, table: orders, live_tuples: 15000, dead_tuples: 5000, dead_percent: 25.0,
           table_bytes: 917504, table_pretty: 896 kB, bloat_estimate_bytes: 229376, bloat_estimate_pretty: 224 kB,
           last_vacuum: null, last_autovacuum: null}
    unused_indexes:
      description: Indexes never scanned since the statistics were reset, largest first.
      type: list
      elements: dict
      returned: when selected
      sample:
        - {database: shop, schema: public, table: orders, index: orders_note_idx, scans: 0, size_bytes: 458752,
           size_pretty: 448 kB, unique: false, primary: false, backs_constraint: false, valid: true,
           definition: CREATE INDEX orders_note_idx ON public.orders USING btree (note)}
    seq_scans:
      description: Tables with at least O(seq_scan_min) sequential scans, most rows read sequentially first.
      type: list
      elements: dict
      returned: when selected
      sample:
        - {database: shop, schema: public, table: events, seq_scans: 1200, seq_rows_read: 6000000, index_scans: 0,
           live_tuples: 5000, rows_per_seq_scan: 5000, table_bytes: 229376, table_pretty: 224 kB}
    slow_queries:
      description:
        - Statements from pg_stat_statements of the databases where it is installed, slowest mean time first.
        - See RV(section_status) for databases where it is not.
      type: list
      elements: dict
      returned: when selected
      sample:
        - {database: shop, user: app, queryid: "-4519163251451391000", calls: 12, total_ms: 3620.5, mean_ms: 301.7,
           max_ms: 502.1, rows: 12, query: "SELECT pg_sleep($1)"}
    sessions:
      description:
        - Active queries running for at least O(long_running_seconds) (C(kind=long_running)) and sessions idle
          in a transaction for at least O(idle_in_transaction_seconds) (C(kind=idle_in_transaction)), longest first.
        - The module's own connections are never listed.
      type: list
      elements: dict
      returned: when selected
      sample:
        - {pid: 4242, database: shop, user: app, application_name: worker, client_addr: 10.0.0.7, state: active,
           kind: long_running, duration_seconds: 912.4, transaction_seconds: 912.4,
           backend_start: "2026-01-05T10:00:01.000000+00:00", xact_start: "2026-01-05T10:01:00.000000+00:00",
           query_start: "2026-01-05T10:01:00.000000+00:00", state_change: "2026-01-05T10:01:00.000000+00:00",
           wait_event_type: Timeout, wait_event: PgSleep, query: SELECT pg_sleep(3600)}
    locks:
      description: One entry per (blocked session, blocking session) pair, from C(pg_blocking_pids).
      type: list
      elements: dict
      returned: when selected
      sample:
        - {database: shop, blocked_pid: 4300, blocked_user: app, blocked_application_name: web, blocked_seconds: 42.1,
           wait_event_type: Lock, wait_event: transactionid, blocked_query: "UPDATE orders SET note = 'x' WHERE id = 1",
           lock_type: transactionid, lock_mode: ShareLock, relation: null, blocking_pid: 4299, blocking_user: app,
           blocking_application_name: psql, blocking_state: idle in transaction, blocking_transaction_seconds: 60.2,
           blocking_query: "UPDATE orders SET note = 'y' WHERE id = 1"}
    connections:
      description: Client connections of the whole cluster against C(max_connections).
      type: dict
      returned: when selected
      sample:
        total: 12
        max_connections: 100
        superuser_reserved_connections: 3
        available: 85
        percent_used: 12.0
        by_state: [{state: idle, count: 9}, {state: active, count: 3}]
        by_database: [{database: shop, count: 11}, {database: postgres, count: 1}]
        by_user: [{user: app, count: 11}, {user: postgres, count: 1}]
    cache_hit:
      description: Buffer cache hit percentage per database (null before any block was read).
      type: list
      elements: dict
      returned: when selected
      sample: [{database: shop, blocks_hit: 99120, blocks_read: 880, hit_percent: 99.12}]
    wraparound:
      description: Transaction ID age per database, oldest first, as a percentage of 2^31 and of C(autovacuum_freeze_max_age).
      type: list
      elements: dict
      returned: when selected
      sample:
        - {database: shop, xid_age: 1073741824, multixact_age: 1, autovacuum_freeze_max_age: 200000000,
           percent_of_wraparound: 50.0, percent_of_freeze_max_age: 536.87, template: false, allows_connections: true}
    vacuum:
      description: Last vacuum and analyze per table, never vacuumed and oldest first.
      type: list
      elements: dict
      returned: when selected
      sample:
        - {database: shop, schema: public, table: orders, last_vacuum: null, last_autovacuum: "2026-01-05T03:10:00.000000+00:00",
           last_analyze: null, last_autoanalyze: "2026-01-05T03:10:01.000000+00:00",
           last_any_vacuum: "2026-01-05T03:10:00.000000+00:00", last_any_analyze: "2026-01-05T03:10:01.000000+00:00",
           vacuum_age_seconds: 25200.0, vacuum_count: 0, autovacuum_count: 3, analyze_count: 0, autoanalyze_count: 3,
           dead_tuples: 120, modified_since_analyze: 300}
section_status:
  description:
    - Per selected section, C(status) (C(ok), or for C(slow_queries) also C(not_installed), C(partial) or C(error)),
      a C(message) (empty when ok) and C(rows) for list sections.
    - For C(slow_queries), C(databases) gives the status and message of each database.
  returned: success
  type: dict
  sample:
    tables: {status: ok, message: "", rows: 20}
    slow_queries:
      status: partial
      message: "pg_stat_statements is not installed in database(s) 'legacy' (CREATE EXTENSION pg_stat_statements; ...)"
      rows: 20
      databases:
        shop: {status: ok, message: ""}
        legacy: {status: not_installed, message: "pg_stat_statements is not installed in database 'legacy' (...)"}
databases:
  description: The databases the per-database sections looked at.
  returned: success
  type: list
  elements: str
  sample: [postgres, shop]
server_version:
  description: PostgreSQL server version.
  returned: success
  type: str
  sample: "15.10"
server_version_num:
  description: PostgreSQL C(server_version_num).
  returned: success
  type: int
  sample: 150010
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils._postgres import postgres_argument_spec, run_with_client
from ansible_collections.runbook.ops.plugins.module_utils._pg_report import SECTIONS, build_report


def main() -> None:
    argument_spec = postgres_argument_spec(statement_timeout=60)
    argument_spec.update(
        sections=dict(type="list", elements="str", default=[], choices=list(SECTIONS)),
        databases=dict(type="list", elements="str", default=[]),
        limit=dict(type="int", default=20),
        long_running_seconds=dict(type="float", default=300),
        idle_in_transaction_seconds=dict(type="float", default=60),
        seq_scan_min=dict(type="int", default=1000),
        dead_tuples_min=dict(type="int", default=1000),
        slow_query_min_mean_ms=dict(type="float", default=0),
        unused_indexes_include_unique=dict(type="bool", default=False),
        query_max_length=dict(type="int", default=500),
        lock_timeout_seconds=dict(type="float", default=5),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_with_client(module, lambda client: build_report(module, client))


if __name__ == "__main__":
    main()
