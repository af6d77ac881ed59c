#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: file_backup
short_description: Checksummed, verified tar archives of files and directories with safe retention
version_added: 0.1.0
author: runbook.ops maintainers (@runbook-ops)
description:
  - Archives O(paths) (files and directories, recursively) into one compressed tar file in O(backup_dir),
    skipping O(exclude) patterns (for example C(node_modules), C(.git), C(*.pyc)).
  - Uses the same code as M(runbook.ops.pg_backup) for the atomic write (temporary C(.partial-*) name, fsync,
    rename), the sha256 checksum, the JSON manifest (C(kind=files), with file count, bytes and paths) and
    retention (O(keep_last), O(max_age_days) over complete, verified archives of the same O(name); the newest
    verified one is never deleted; files without a manifest of ours are never touched).
  - The archive made by a run is never deleted by that run's retention. An archive whose manifest is dated
    more than 5 minutes in the future (a wrong clock, a copied directory) never outranks it, never counts
    toward O(keep_last) and is never deleted; the module warns, naming its manifest.
  - Archives are created with mode 0600, since they often hold secrets (C(.env) files, keys).
  - O(verify=read) reads the whole archive back (every member, every byte, after decompression) and compares
    the file count and bytes with what was archived.
extends_documentation_fragment:
  - runbook.ops.attributes
  - runbook.ops.backup
attributes:
  check_mode:
    support: full
    details: Reports the archive that would be created (RV(would_create)) with the number of files and bytes, and
      what retention and leftover cleanup would delete; writes nothing.
  diff_mode:
    support: none
seealso:
  - module: runbook.ops.backup_copy
  - module: runbook.ops.backup_fetch
  - module: runbook.ops.backup_history
options:
  name:
    description:
      - Name of the backup series (file name prefix, and the key retention groups by), taken whole.
      - Any string works; a name with characters other than ASCII letters, digits, C(.), C(_) and C(-) gets a
        file name prefix of its cleaned form plus C(+) and a short hash, so two names never share files.
    type: str
    required: true
  paths:
    description:
      - Files and directories to archive (absolute paths). Each is stored under its absolute path
        without the leading C(/).
      - Give a YAML list. A single path without a comma is taken as a list of that one path; a string with a
        comma is refused (Ansible would split it at its commas), never split. C(~) and C($VAR) are expanded.
    type: raw
    required: true
  exclude:
    description:
      - Glob patterns (C(fnmatch)) of entries to skip. A pattern without C(/) matches any file or directory name
        at any depth (C(node_modules), C(*.log)); a pattern with C(/) matches the full path.
      - Give a YAML list. A single pattern without a comma is taken as a list of that one pattern; a string
        with a comma is refused (Ansible would split it at its commas), never split.
    type: raw
    default: []
  compression:
    description: C(gzip) (Python) or C(zstd) (the C(zstd) program on the managed host).
    type: str
    default: gzip
    choices: [gzip, zstd]
  compression_level:
    description: Compression level (gzip 1-9, default 6; zstd 1-19, default 3).
    type: int
  verify:
    description: C(read) reads the whole archive back and compares counts and bytes; C(none) leaves it unverified
      (it then never counts toward retention).
    type: str
    default: read
    choices: [none, read]
  space_factor:
    description: Refuse to start when O(backup_dir) has less free space than the bytes to archive times this
      factor (C(0) disables the check).
    type: float
    default: 1.0
"""

EXAMPLES = r"""
- name: Archive the application without dependencies and VCS data
  runbook.ops.file_backup:
    name: app
    paths: [/srv/app]
    exclude: [node_modules, .git, "*.pyc", __pycache__]
    backup_dir: /var/backups/files
    compression: zstd
    keep_last: 14

- name: Compose and environment files
  runbook.ops.file_backup:
    name: config
    paths: [/srv/app/.env, /srv/app/compose.yaml]
    backup_dir: /var/backups/files
"""

RETURN = r"""
backup:
  description: The archive made (C(path), C(manifest), C(size), C(sha256), C(file_count), C(bytes), C(verified)).
  returned: when an archive was created
  type: dict
would_create:
  description: Check mode, the archive that would be created with its file count and bytes.
  returned: check mode
  type: dict
retention:
  description: The C(keep) and C(delete) decisions with reasons, and C(warnings) about future-dated archives.
  returned: always
  type: dict
deleted:
  description: Paths of archives retention deleted (would delete, in check mode).
  returned: always
  type: list
  elements: str
leftovers_removed:
  description: Partial files of interrupted runs removed (would remove, in check mode).
  returned: always
  type: list
  elements: dict
"""

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
from ansible_collections.runbook.ops.plugins.module_utils._backup_options import backup_options_spec
from ansible_collections.runbook.ops.plugins.module_utils._file_backup import run
from ansible_collections.runbook.ops.plugins.module_utils._options import OptionError, whole_list


def main() -> None:
    module = AnsibleModule(
        argument_spec=backup_options_spec(
            name=dict(type="str", required=True),
            paths=dict(type="raw", required=True),
            exclude=dict(type="raw", default=[]),
            compression=dict(type="str", default="gzip", choices=["gzip", "zstd"]),
            compression_level=dict(type="int"),
            verify=dict(type="str", default="read", choices=["none", "read"]),
            space_factor=dict(type="float", default=1.0),
        ),
        supports_check_mode=True,
    )
    try:
        module.params["paths"] = whole_list(module.params["paths"], "paths", path=True)
        module.params["exclude"] = whole_list(module.params["exclude"], "exclude")
    except OptionError as exc:
        module.fail_json(msg=str(exc))
    try:
        result = run(module)
    except B.BackupError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg=f"file error: {exc}", exception=traceback.format_exc())
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
