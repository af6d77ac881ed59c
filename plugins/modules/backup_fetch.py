#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: backup_fetch
short_description: Fetch a verified off-host copy of a backup for a restore
version_added: 0.1.0
author: runbook.ops maintainers (@runbook-ops)
description:
  - Finds a copy made by M(runbook.ops.backup_copy) at a destination (the backup host over SSH, a mounted path
    or an S3 bucket), by default the newest complete, verified copy of a series, and downloads it with its
    manifest into O(dest_dir) on the managed host.
  - Every file is written under a temporary name and checked against the sha256 in the copy's manifest and in
    the backup's own manifest before it gets its final name; a mismatch fails and leaves nothing behind.
  - The result is a backup with its manifest next to it, which M(runbook.ops.pg_restore) (its C(backup) option),
    M(runbook.ops.redis_restore) (its C(src) option) take as they take a local backup; they check the checksums again.
    An archive of M(runbook.ops.file_backup) is unpacked with M(ansible.builtin.unarchive).
  - A copy already in O(dest_dir) that matches its manifest is not fetched again.
extends_documentation_fragment:
  - runbook.ops.offsite
  - runbook.ops.attributes
attributes:
  check_mode:
    support: full
    details: Finds the copy and reports whether it would be fetched (changed).
  diff_mode:
    support: none
requirements:
  - The C(ssh) client on the managed host for O(destination.type=ssh).
  - boto3 (Python library, on the managed host) for O(destination.type=s3).
options:
  kind:
    description: The kind of backup.
    type: str
    required: true
    choices: [postgres, redis, files]
  name:
    description: The series (the database name for pg_backup, the C(name) of redis_backup and file_backup).
    type: str
    required: true
  backup:
    description: C(latest) for the newest complete, verified copy of the series, or a backup id (its file name).
    type: str
    default: latest
  dest_dir:
    description: Local directory that receives the backup (created with mode 0700 when missing).
    type: path
    required: true
seealso:
  - module: runbook.ops.backup_copy
  - module: runbook.ops.pg_restore
  - module: runbook.ops.redis_restore
"""

EXAMPLES = r"""
- name: Fetch the newest verified copy of app from the backup host
  runbook.ops.backup_fetch:
    destination:
      type: ssh
      host: backup1.internal
      user: backups
      identity_file: /root/.ssh/runbook_backup
      path: /srv/backups/db1
    kind: postgres
    name: app
    dest_dir: /var/backups/restore
  register: fetched

- name: Restore it
  runbook.ops.pg_restore:
    backup: "{{ fetched.backup }}"
    target_database: app
    create: true
"""

RETURN = r"""
backup:
  description: Local path of the fetched backup (file or directory).
  returned: always
  type: str
manifest:
  description: Local path of its manifest.
  returned: always
  type: str
id:
  description: The backup's id.
  returned: always
  type: str
kind:
  description: The backup's kind.
  returned: always
  type: str
name:
  description: The series.
  returned: always
  type: str
destination:
  description: Where it was fetched from (no credentials).
  returned: always
  type: str
finished_at:
  description: When the backup finished (ISO 8601 UTC).
  returned: always
  type: str
copied_at:
  description: When the copy was made.
  returned: always
  type: str
source_host:
  description: The host the copy came from.
  returned: always
  type: str
size:
  description: Bytes of backup data.
  returned: always
  type: int
status:
  description: C(fetched) or C(present) (already in O(dest_dir) and matching).
  returned: always
  type: str
checksum:
  description: C(ok) once every sha256 matched (null in check mode when not fetched yet).
  returned: always
  type: str
fetched:
  description: Files downloaded.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils._offsite_fetch import fetch_backup
from ansible_collections.runbook.ops.plugins.module_utils._offsite_module import run_module
from ansible_collections.runbook.ops.plugins.module_utils._offsite_options import destination_spec


def main() -> None:
    spec = destination_spec()
    spec.update(
        kind=dict(type="str", required=True, choices=["postgres", "redis", "files"]),
        name=dict(type="str", required=True),
        backup=dict(type="str", default="latest"),
        dest_dir=dict(type="path", required=True),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    run_module(module, lambda dest: fetch_backup(dest, module.params, module.check_mode))


if __name__ == "__main__":
    main()
