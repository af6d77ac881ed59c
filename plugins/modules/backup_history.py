#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: backup_history
short_description: List the backups on a host from their runbook.ops manifests
version_added: 0.1.0
author: runbook.ops maintainers (@runbook-ops)
description:
  - Reads the manifests that M(runbook.ops.pg_backup), M(runbook.ops.redis_backup) and M(runbook.ops.file_backup)
    write next to each backup and returns one entry per backup (size, time, verification, database size at
    dump time), oldest first. The role C(runbook.ops.report) puts them into the per-host report, and
    M(runbook.ops.run_report) charts them and derives the last successful backup per series.
  - Files without a runbook.ops manifest are ignored; missing directories give no entries.
extends_documentation_fragment:
  - runbook.ops.attributes
  - runbook.ops.attributes.READ_ONLY
options:
  dirs:
    description: Backup directories on the managed host.
    type: list
    elements: path
    required: true
  limit:
    description: Newest backups to return per series (kind and name); C(0) returns all.
    type: int
    default: 30
seealso:
  - module: runbook.ops.run_report
  - module: runbook.ops.pg_backup
  - module: runbook.ops.redis_backup
  - module: runbook.ops.file_backup
"""

EXAMPLES = r"""
- name: Backups on the host
  runbook.ops.backup_history:
    dirs: [/var/backups/postgresql, /var/backups/redis]
  register: history
"""

RETURN = r"""
backups:
  description: One entry per backup, oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    kind: {description: "C(postgres), C(redis) or C(files).", type: str}
    name: {description: Series name (database name for PostgreSQL)., type: str}
    id: {description: File name of the backup., type: str}
    directory: {description: The directory it was found in., type: str}
    finished_at: {description: ISO 8601 UTC time the backup was finished., type: str}
    size: {description: Total bytes., type: int}
    duration_seconds: {description: Time the backup took., type: float}
    verified: {description: "C(passed), C(failed) or C(skipped).", type: str}
    complete: {description: Every file the manifest lists exists with its size., type: bool}
    database_size: {description: "PostgreSQL only: the database size at dump time, else null.", type: int}
    total_keys: {description: "Redis only: keys in the RDB, else null.", type: int}
    future: {description: "Dated more than 5 minutes after now (a wrong clock or a copied directory): never taken as the newest backup.", type: bool}
  sample:
    - {kind: postgres, name: shop, id: shop-20261123T020000_000000Z.dump, directory: /var/backups/postgresql,
       finished_at: "2026-11-23T02:00:04.120000Z", size: 1048576, duration_seconds: 4.1, verified: passed,
       complete: true, database_size: 7741859, total_keys: null, future: false}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.runbook.ops.plugins.module_utils._run_report_read import backup_history


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            dirs=dict(type="list", elements="path", required=True),
            limit=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    if module.params["limit"] < 0:
        module.fail_json(msg=f"limit must be 0 (all) or positive, got {module.params['limit']}")
    module.exit_json(changed=False, backups=backup_history(module.params["dirs"], module.params["limit"]))


if __name__ == "__main__":
    main()
