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
  - runbook.ops.attributes.action_group_postgres
attributes:
  check_mode:
    support: full
    details: Counts exactly the rows that would be deleted and lists the functions that would be called; changes nothing.
  diff_mode:
    support: none
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils._pg_data_retention import run, validate
from ansible_collections.runbook.ops.plugins.module_utils._postgres import postgres_argument_spec, run_with_client


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
    run_with_client(module, lambda client: run(client, module, specs))


if __name__ == "__main__":
    main()
