#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_restore
short_description: Restore a checksummed pg_backup backup and check its row counts
version_added: 0.1.0
author: runbook.ops maintainers (@runbook-ops)
description:
  - Restores a backup made by M(runbook.ops.pg_backup), either a given one or the C(latest) trustworthy backup
    of a database found through the manifests in O(backup_dir) - the newest one that is complete, verified and
    not dated more than 5 minutes in the future. A future-dated backup (a host whose clock was wrong, a
    copied directory) is passed over with a warning naming its manifest; give its path to restore it anyway.
    Files without a manifest and partial leftovers of interrupted runs are never picked.
  - Re-checks every sha256 of the backup first and refuses to restore on a mismatch.
  - Plain SQL backups run through C(psql -v ON_ERROR_STOP=1 --single-transaction), so any SQL error fails the task
    and nothing is committed. Custom, directory and tar backups run through C(pg_restore --exit-on-error)
    (with O(jobs) in parallel, otherwise in a single transaction).
  - After restoring, compares every table's row count with the counts the manifest recorded in the dump's
    snapshot and fails on differences (O(compare_row_counts)). Tables are keyed C(schema.table) with each part
    double-quoted when it is not plain lower-case ASCII (C(a."b.c") and C("a.b".c) are two tables); manifests
    written before this rule (unquoted keys) are compared in their own form.
  - A failed restore (tool error or row count differences) drops the database it created (O(create)), so the
    server is left as it was; RV(dropped_database) says so.
  - The password reaches the tools only through C(PGPASSWORD) in their environment.
extends_documentation_fragment:
  - runbook.ops.postgres
  - runbook.ops.postgres.tools
  - runbook.ops.attributes
  - runbook.ops.attributes.action_group_postgres
attributes:
  check_mode:
    support: full
    details: Finds the backup and verifies its checksums, then reports what would be restored (changed) without
      restoring or creating anything.
  diff_mode:
    support: none
seealso:
  - module: runbook.ops.pg_backup
  - module: runbook.ops.backup_fetch
options:
  backup:
    description:
      - Path of the backup file or directory (or of its C(.manifest.json)), or C(latest) for the newest
        trustworthy (complete, verified, not future-dated) backup of O(database) in O(backup_dir).
    type: str
    required: true
  backup_dir:
    description: Directory searched when O(backup=latest).
    type: path
  database:
    description: With O(backup=latest), the name of the backed-up database.
    type: str
  target_database:
    description: Database to restore into. Default is the backed-up database's name.
    type: str
  create:
    description: Create O(target_database) (from C(template0)) when it does not exist; otherwise a missing target is an error.
    type: bool
    default: false
  clean:
    description: Drop database objects before recreating them (C(pg_restore --clean); custom/directory/tar).
    type: bool
    default: false
  if_exists:
    description: With O(clean), use C(DROP ... IF EXISTS).
    type: bool
    default: false
  no_owner:
    description: Do not restore object ownership (C(--no-owner)); objects belong to O(login_user).
    type: bool
    default: false
  jobs:
    description: Parallel restore jobs (custom and directory backups).
    type: int
    default: 1
  compare_row_counts:
    description:
      - Compare the restored tables' row counts with the manifest and fail on differences.
      - A backup made with C(row_counts=false) has no counts; the restore then warns and compares nothing.
    type: bool
    default: true
  pg_bin_dir:
    description: Directory holding pg_restore and psql (default as in M(runbook.ops.pg_backup)).
    type: path
  pg_dump_path:
    description: Path of a pg_dump binary whose directory holds pg_restore and psql.
    type: path
  container:
    description: Run pg_restore / psql inside this container (the backup is copied or streamed into it).
    type: str
  engine:
    description: Container engine for O(container).
    type: str
    default: podman
    choices: [podman, docker]
"""

EXAMPLES = r"""
- name: Restore drill, latest verified backup of app into a new database
  runbook.ops.pg_restore:
    backup: latest
    backup_dir: /var/backups/postgres
    database: app
    target_database: app_drill
    create: true
    no_owner: true
    jobs: 4

- name: Restore a given plain SQL backup; any SQL error fails and nothing is committed
  runbook.ops.pg_restore:
    backup: /var/backups/postgres/app-20261123T020000_000000Z.sql.gz
    target_database: app
"""

RETURN = r"""
backup:
  description: Path of the restored backup.
  returned: always
  type: str
manifest:
  description: Its manifest.
  returned: always
  type: str
format:
  description: Backup format.
  returned: always
  type: str
target_database:
  description: Database restored into.
  returned: always
  type: str
created_database:
  description: Whether the target database was (would be) created.
  returned: success
  type: bool
dropped_database:
  description: Whether the restore failed and the database it had created was dropped again.
  returned: when the target database was looked up
  type: bool
checksum:
  description: C(ok) when every sha256 matched.
  returned: always
  type: str
row_count_differences:
  description: Tables whose row count differs from the manifest (C(table), C(expected), C(actual)).
  returned: when compare_row_counts and not check mode
  type: list
  elements: dict
tables_compared:
  description: Number of tables compared.
  returned: when compare_row_counts and not check mode
  type: int
duration_seconds:
  description: Restore time.
  returned: when restored
  type: float
finished_at:
  description: When the restore finished (UTC, ISO 8601); the run report's restore drill success time when the row counts match.
  returned: when restored
  type: str
  sample: "2026-12-01T02:14:09.123456Z"
commands:
  description: Tool command lines run (no secrets).
  returned: always
  type: list
  elements: list
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils._pg_restore_run import RestoreRun
from ansible_collections.runbook.ops.plugins.module_utils._pg_tools import TOOL_MUTUALLY_EXCLUSIVE, run_step, tool_module_argument_spec
from ansible_collections.runbook.ops.plugins.module_utils._postgres import run_with_client


def _body(module, client) -> dict:
    return run_step(module, client, RestoreRun(module, client), f"reading backup {module.params['backup']}")


def main() -> None:
    argument_spec = tool_module_argument_spec(
        backup=dict(type="str", required=True),
        backup_dir=dict(type="path"),
        database=dict(type="str"),
        target_database=dict(type="str"),
        create=dict(type="bool", default=False),
        clean=dict(type="bool", default=False),
        if_exists=dict(type="bool", default=False),
        no_owner=dict(type="bool", default=False),
        jobs=dict(type="int", default=1),
        compare_row_counts=dict(type="bool", default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=TOOL_MUTUALLY_EXCLUSIVE,
                           required_if=[["backup", "latest", ["backup_dir", "database"]]])
    run_with_client(module, lambda client: _body(module, client))


if __name__ == "__main__":
    main()
