#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: backup_copy
short_description: Copy verified backups off the host, verify them there, apply remote retention
version_added: 0.1.0
author: runbook.ops maintainers (@runbook-ops)
description:
  - Copies every complete, verified backup in O(backup_dir) (made by M(runbook.ops.pg_backup),
    M(runbook.ops.redis_backup) or M(runbook.ops.file_backup), found through their manifests) that the
    destination lacks, with its manifest, to a directory (an NFS mount), another host over SSH (host to host),
    or S3-compatible object storage.
  - Before copying, the local files are re-hashed against their manifest. At the destination, the sha256 of every
    copied file is computed where it landed (C(sha256sum) on the backup host, reading the object back from S3);
    only then is the copy's own manifest C(<id>.copy.json) written (when, from which host and path, and that it
    verified). A copy without it does not count.
  - Incremental and resumable. Path and SSH copies are written under C(.partial-copy-<id>/) and renamed into
    place once verified; an interrupted copy leaves nothing under a final name, and the next run appends to the
    partial file and finishes it. S3 objects only appear once uploaded completely; a rerun skips those whose
    sha256 already matches.
  - Copies already at the destination are re-checked (O(verify_existing)); a copy that no longer matches is
    replaced by a fresh one while the local backup exists. When the local backup is gone, the copy's manifest is
    rewritten as C(verified=failed) with the problem and a warning says so. It no longer counts, so retention
    never keeps it in place of a good copy, and M(runbook.ops.backup_fetch) does not pick it.
  - Remote retention (O(keep_last), O(max_age_days)) uses the same engine as local retention. Only complete,
    verified copies count, the newest verified copy of each series is never deleted, and nothing without a copy
    manifest of this module is ever touched. It may keep more than the host keeps.
  - Credentials never appear in a command line, the result or a manifest; files at the destination are mode 0600.
extends_documentation_fragment:
  - runbook.ops.offsite
  - runbook.ops.attributes
attributes:
  check_mode:
    support: full
    details: Reads the destination and re-checks existing copies; reports what would be copied and deleted.
  diff_mode:
    support: none
requirements:
  - The C(ssh) client on the managed host, and C(sha256sum) on the backup host, for O(destination.type=ssh).
  - boto3 (Python library, on the managed host) for O(destination.type=s3).
options:
  backup_dir:
    description: Local directory of the backups (as given to the backup module).
    type: path
    required: true
  kind:
    description: Copy only backups of this kind (default all kinds found in O(backup_dir)).
    type: str
    choices: [postgres, redis, files]
  names:
    description: Copy only these series (database names for pg_backup, the C(name) of redis_backup/file_backup).
    type: list
    elements: str
  keep_last:
    description: Remote retention, verified copies kept per series. Unset keeps all.
    type: int
  max_age_days:
    description: Remote retention, delete verified copies of backups older than this (never the newest). Unset keeps all.
    type: float
  verify_existing:
    description:
      - How copies already at the destination are checked on each run. C(sha256) re-hashes them at the destination
        (for S3 that reads them back), C(size) compares sizes, C(none) trusts the copy manifest.
    type: str
    default: sha256
    choices: [none, size, sha256]
seealso:
  - module: runbook.ops.backup_fetch
  - module: runbook.ops.pg_backup
  - module: runbook.ops.redis_backup
  - module: runbook.ops.file_backup
"""

EXAMPLES = r"""
- name: Copy new PostgreSQL backups to the backup host, keep 30 there
  runbook.ops.backup_copy:
    backup_dir: /var/backups/postgresql
    destination:
      type: ssh
      host: backup1.internal
      user: backups
      identity_file: /root/.ssh/runbook_backup
      path: /srv/backups/db1
    keep_last: 30
    bwlimit: 20480

- name: Copy to an NFS mount
  runbook.ops.backup_copy:
    backup_dir: /var/backups/redis
    destination:
      type: path
      path: /mnt/nfs/backups/db1/redis

- name: Copy to S3-compatible storage, encrypted at rest
  runbook.ops.backup_copy:
    backup_dir: /var/backups/postgresql
    destination:
      type: s3
      bucket: acme-backups
      prefix: runbook/db1
      endpoint_url: https://s3.eu-central-1.wasabisys.com
      access_key: "{{ vault_s3_access_key }}"
      secret_key: "{{ vault_s3_secret_key }}"
      sse: AES256
    keep_last: 30
"""

RETURN = r"""
destination:
  description: The destination (C(file:///dir), C(ssh://user@host/dir), C(s3://bucket/prefix)); never credentials.
  returned: always
  type: str
copies:
  description:
    - One entry per complete, verified local backup, oldest first, with C(kind) (C(postgres), C(redis), C(files)),
      C(name) (series), C(id), C(backup) (local path), C(destination), C(size) (bytes), C(verified) (bool),
      C(copied_at) (ISO 8601 UTC), C(status) (C(copied), C(present) or C(failed)) and C(msg).
    - C(failed) copies are not counted at the destination; the module then fails after the other copies.
  returned: always
  type: list
  elements: dict
retention:
  description: Remote retention per series name, each with C(keep) and C(delete) lists of the same entries as local retention.
  returned: always
  type: dict
deleted:
  description: Copies retention deleted (would delete in check mode).
  returned: always
  type: list
  elements: str
leftovers_removed:
  description: Staging of interrupted copies whose backup is gone locally, removed.
  returned: always
  type: list
  elements: str
series:
  description: Per series at the destination, C(kind), C(name), C(copies) (verified copies) and the newest verified
    copy's C(last_verified_backup_finished_at) and C(last_verified_copied_at) (for a staleness alert).
  returned: always
  type: list
  elements: dict
retention_skipped:
  description: Why remote retention did not run (the destination became unreachable).
  returned: when the destination became unreachable
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils._offsite_copy import copy_backups
from ansible_collections.runbook.ops.plugins.module_utils._offsite_module import run_module
from ansible_collections.runbook.ops.plugins.module_utils._offsite_options import destination_spec


def main() -> None:
    spec = destination_spec()
    spec.update(
        backup_dir=dict(type="path", required=True),
        kind=dict(type="str", choices=["postgres", "redis", "files"]),
        names=dict(type="list", elements="str"),
        keep_last=dict(type="int"),
        max_age_days=dict(type="float"),
        verify_existing=dict(type="str", default="sha256", choices=["none", "size", "sha256"]),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    run_module(module, lambda dest: copy_backups(dest, module.params, module.check_mode))


if __name__ == "__main__":
    main()
