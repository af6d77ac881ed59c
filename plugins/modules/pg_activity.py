#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_activity
short_description: Find, cancel or terminate long-running queries and idle-in-transaction sessions
version_added: 0.1.0
author: runbook.ops maintainers (@runbook-ops)
description:
  - Lists client sessions of a PostgreSQL cluster (from C(pg_stat_activity)) whose active query has run for at
    least O(min_duration_seconds), or that have been idle in a transaction for at least
    O(idle_in_transaction_seconds), narrowed by database, user and application name filters.
  - With O(action=cancel) cancels the matched active queries (the sessions stay connected); with
    O(action=terminate) ends the matched sessions.
  - The module's own backend, background workers, autovacuum and replication connections are never matched.
  - C(changed) is true exactly when at least one session was cancelled or terminated; check mode reports the
    same sessions and the same C(changed) without signalling anything.
extends_documentation_fragment:
  - runbook.ops.postgres
  - runbook.ops.attributes
  - runbook.ops.attributes.action_group_postgres
options:
  action:
    description:
      - V(report) only lists the matched sessions.
      - V(cancel) runs C(pg_cancel_backend) on matched active queries. A cancel has no effect on a session idle in
        a transaction, so those are listed in RV(skipped_idle) with a warning; use V(terminate) for them.
      - V(terminate) runs C(pg_terminate_backend) on every matched session.
    type: str
    choices: [report, cancel, terminate]
    default: report
  min_duration_seconds:
    description:
      - Match active queries running for at least this many seconds. Omit to match no active query.
      - At least one of O(min_duration_seconds) and O(idle_in_transaction_seconds) is required.
    type: float
  idle_in_transaction_seconds:
    description:
      - Match sessions idle in a transaction (also aborted) for at least this many seconds since their last
        state change. Omit to match no idle-in-transaction session.
    type: float
  databases:
    description:
      - Only sessions connected to these databases (unknown names fail the task). Empty means all.
      - Give a YAML list. A single string without a comma is taken as a list of that one string; a string
        with a comma is refused (Ansible would split it at its commas; names may contain commas).
    type: raw
    default: []
  users:
    description:
      - Only sessions of these roles. Empty means all.
      - Give a YAML list. A single string without a comma is taken as a list of that one string; a string
        with a comma is refused (Ansible would split it at its commas; names may contain commas).
    type: raw
    default: []
  application_names:
    description:
      - Only sessions with exactly these C(application_name) values. Empty means all.
      - Give a YAML list. A single string without a comma is taken as a list of that one string; a string
        with a comma is refused (Ansible would split it at its commas; names may contain commas).
    type: raw
    default: []
  exclude_databases:
    description:
      - Never sessions connected to these databases.
      - Give a YAML list. A single string without a comma is taken as a list of that one string; a string
        with a comma is refused (Ansible would split it at its commas; names may contain commas).
    type: raw
    default: []
  exclude_users:
    description:
      - Never sessions of these roles (for example replication or backup roles).
      - Give a YAML list. A single string without a comma is taken as a list of that one string; a string
        with a comma is refused (Ansible would split it at its commas; names may contain commas).
    type: raw
    default: []
  exclude_application_names:
    description:
      - Never sessions with these C(application_name) values (for example C(pg_dump)).
      - Give a YAML list. A single string without a comma is taken as a list of that one string; a string
        with a comma is refused (Ansible would split it at its commas; names may contain commas).
    type: raw
    default: []
  query_max_length:
    description: Query texts in the result are cut to this many characters (at least 1).
    type: int
    default: 500
  statement_timeout:
    description:
      - Seconds one query (finding sessions, cancelling or terminating one) may run (the server cancels it,
        the client gives up 1 s later); past it the module fails saying
        C(statement exceeded statement_timeout=Ns). V(0) sets no bound of the module's own.
    type: int
    default: 30
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
notes:
  - Cancelling or terminating another role's session needs a superuser, membership in that role, or membership
    in C(pg_signal_backend); a superuser's session can only be signalled by a superuser. The module checks this
    before signalling anything and fails naming the pids and what is missing, in check mode too.
  - To see other roles' sessions at all, O(login_user) must be a superuser or a member of C(pg_read_all_stats)
    (or C(pg_monitor)); otherwise their state is hidden, they are never matched, and the module warns.
  - O(login_db) only chooses where to connect; sessions of every database are looked at.
seealso:
  - module: runbook.ops.pg_report
  - module: runbook.ops.pg_vacuum
"""

EXAMPLES = r"""
- name: List queries running for more than 10 minutes
  runbook.ops.pg_activity:
    min_duration_seconds: 600
  register: slow

- name: Connection options once, through the action group
  hosts: databases
  module_defaults:
    group/runbook.ops.postgres:
      login_host: 127.0.0.1
      login_user: postgres
      login_password: "{{ vault_pg_password }}"
  tasks:
    - name: Terminate sessions of the app idle in a transaction for more than 5 minutes
      runbook.ops.pg_activity:
        action: terminate
        idle_in_transaction_seconds: 300
        databases: [shop]
        exclude_application_names: [pg_dump, pg_basebackup]
      register: killed

    - name: Pids that were terminated
      ansible.builtin.debug:
        msg: "{{ killed.terminated }}"

- name: Cancel reporting queries over 30 minutes, but not the nightly ETL role
  runbook.ops.pg_activity:
    action: cancel
    min_duration_seconds: 1800
    application_names: [metabase]
    exclude_users: [etl]

- name: Preview what would be terminated (nothing is signalled)
  runbook.ops.pg_activity:
    action: terminate
    min_duration_seconds: 3600
  check_mode: true
  register: preview

- name: Queries of user app among them, with json_query
  ansible.builtin.debug:
    msg: "{{ preview.sessions | community.general.json_query('[?user==`app`].{pid: pid, seconds: duration_seconds, query: query}') }}"
"""

RETURN = r"""
sessions:
  description:
    - The matched sessions, longest first, each with what was done to it in C(outcome).
    - "C(outcome): C(none) (report), C(cancelled), C(terminated), C(gone) (ended before the signal),
      C(skipped) (idle in a transaction with O(action=cancel)), C(would_cancel) or C(would_terminate) (check mode)."
    - C(kind) is C(long_running) for an active query, C(idle_in_transaction) otherwise. C(duration_seconds) is the
      query's run time for active sessions and the time since the last state change for idle ones.
  returned: always
  type: list
  elements: dict
  sample:
    - pid: 4242
      database: shop
      user: app
      application_name: worker
      client_addr: 10.0.0.7
      state: idle in transaction
      kind: idle_in_transaction
      duration_seconds: 912.4
      transaction_seconds: 915.0
      backend_start: "2026-01-05T10:00:01.000000+00:00"
      xact_start: "2026-01-05T10:01:00.000000+00:00"
      query_start: "2026-01-05T10:01:00.000000+00:00"
      state_change: "2026-01-05T10:01:02.600000+00:00"
      wait_event_type: Client
      wait_event: ClientRead
      query: "UPDATE orders SET paid = true WHERE id = $1"
      outcome: terminated
action:
  description: The action requested.
  returned: always
  type: str
  sample: terminate
pids:
  description: Pids the action was (or in check mode would be) applied to; empty for O(action=report).
  returned: always
  type: list
  elements: int
  sample: [4242]
cancelled:
  description: Pids whose query was cancelled (empty in check mode).
  returned: always
  type: list
  elements: int
  sample: []
terminated:
  description: Pids whose session was terminated (empty in check mode).
  returned: always
  type: list
  elements: int
  sample: [4242]
gone:
  description: Pids that had already ended when signalled.
  returned: always
  type: list
  elements: int
  sample: []
skipped_idle:
  description: Idle-in-transaction pids left alone by O(action=cancel) (a cancel has no effect on them).
  returned: always
  type: list
  elements: int
  sample: []
backend_pid:
  description: Pid of the module's own connection, which is never matched.
  returned: always
  type: int
  sample: 4301
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils._postgres import postgres_argument_spec, run_with_client
from ansible_collections.runbook.ops.plugins.module_utils._options import OptionError, whole_list
from ansible_collections.runbook.ops.plugins.module_utils._pg_activity import ACTIONS, run_activity

FILTER_OPTIONS = ("databases", "users", "application_names", "exclude_databases", "exclude_users",
                  "exclude_application_names")


def main() -> None:
    argument_spec = postgres_argument_spec(statement_timeout=30)
    argument_spec.update(
        action=dict(type="str", choices=list(ACTIONS), default="report"),
        min_duration_seconds=dict(type="float"),
        idle_in_transaction_seconds=dict(type="float"),
        databases=dict(type="raw", default=[]),
        users=dict(type="raw", default=[]),
        application_names=dict(type="raw", default=[]),
        exclude_databases=dict(type="raw", default=[]),
        exclude_users=dict(type="raw", default=[]),
        exclude_application_names=dict(type="raw", default=[]),
        query_max_length=dict(type="int", default=500),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_one_of=[("min_duration_seconds", "idle_in_transaction_seconds")],
    )
    try:
        for option in FILTER_OPTIONS:
            module.params[option] = whole_list(module.params[option], option)
    except OptionError as exc:
        module.fail_json(msg=str(exc))
    run_with_client(module, lambda client: run_activity(module, client))


if __name__ == "__main__":
    main()
