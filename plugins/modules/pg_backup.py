#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_backup
short_description: Verified logical PostgreSQL backups with checksums, manifests and safe retention
version_added: 0.1.0
author: runbook.ops maintainers (@runbook-ops)
description:
  - Dumps databases with C(pg_dump) (and optionally the cluster globals with C(pg_dumpall --globals-only))
    into O(backup_dir), one backup per database.
  - Each dump is written atomically, under a temporary name (C(.partial-<pid>-<name>)) in O(backup_dir),
    fsynced, checksummed (sha256, per file for the directory format) and only then renamed into place.
    Nothing under a final name is ever partial.
  - Each backup gets a JSON manifest C(<backup>.manifest.json) with database, server and pg_dump versions,
    format, compression, sizes, checksums, times, host and the exact row count of every table in the backup
    (O(row_counts)).
  - Verification (O(verify)) is recorded in the manifest. Retention (O(keep_last), O(max_age_days)) only
    counts complete, verified backups of the same database, never deletes the newest verified one or the backup
    this run made, and never touches files that have no manifest of this module. A backup whose manifest is
    dated more than 5 minutes in the future (a wrong clock, a copied directory) never outranks the new one,
    never counts and is never deleted; the module warns, naming the manifest. Leftovers of killed runs are
    removed and reported.
  - Before dumping, one C(psql) query reads the server's version (which pg_dump to use), its databases and their
    sizes (the space check). When O(databases) are named and the pg_dump to use does not depend on the server's
    version (O(pg_bin_dir) or O(pg_dump_path) set, or a single C(/usr/lib/postgresql/<major>) installed), the first
    database's pg_dump starts while psql asks; if a check then fails (unknown database, too little space, a
    pg_dump older than the server) or the server's version picks another pg_dump, that dump is stopped and its
    partial file removed before anything else happens. RV(commands) lists it.
  - Files are created with mode 0600, directories 0700.
  - The password reaches the tools only through C(PGPASSWORD) in their environment, never the command line,
    the manifest or the result.
extends_documentation_fragment:
  - runbook.ops.postgres
  - runbook.ops.postgres.tools
  - runbook.ops.attributes
  - runbook.ops.backup
  - runbook.ops.attributes.action_group_postgres
attributes:
  check_mode:
    support: full
    details: Lists the backups that would be created (RV(would_create)), the leftovers and the backups that
      retention would delete; creates and deletes nothing.
  diff_mode:
    support: none
seealso:
  - module: runbook.ops.pg_restore
  - module: runbook.ops.backup_copy
  - module: runbook.ops.backup_history
options:
  databases:
    description: Databases to back up. Empty means every non-template database that accepts connections.
    type: list
    elements: str
    default: []
  globals:
    description: Also dump roles and tablespaces with C(pg_dumpall --globals-only) (plain SQL, name C(globals)).
    type: bool
    default: false
  format:
    description: pg_dump output format.
    type: str
    default: custom
    choices: [custom, directory, plain, tar]
  compression:
    description:
      - Compression method. C(lz4) and C(zstd) need pg_dump 16 or newer built with that library (a clear error otherwise, before dumping).
      - The tar format cannot be compressed; plain supports C(none) and C(gzip).
    type: str
    default: gzip
    choices: [none, gzip, lz4, zstd]
  compression_level:
    description: Compression level (gzip 1-9; default 6 for gzip, the tool's default otherwise).
    type: int
  jobs:
    description: Parallel dump jobs (O(format=directory) only); also used by O(verify=restore).
    type: int
    default: 1
  verify:
    description:
      - C(none) records the backup as not verified (it then never counts toward retention).
      - C(list) re-reads every checksum and reads the whole table of contents with C(pg_restore --list)
        (plain dumps, checks pg_dump's completion trailer).
      - C(restore) restores into a scratch database C(<db>_verify_<stamp>), compares every table's row count
        with the manifest and drops the scratch database whatever happens.
    type: str
    default: list
    choices: [none, list, restore]
  row_counts:
    description:
      - Record the exact row count of every table in the manifest. O(verify=restore) and M(runbook.ops.pg_restore)
        compare restored tables with these counts.
      - For O(format=custom) with O(compression=gzip) and for O(format=directory) (C(gzip) or C(none)), the rows
        are counted in the data pg_dump writes, while it writes it (a thread decompresses each table's COPY data
        and counts its lines). So the counts are what the backup holds, every table's data is proven to
        decompress, and no table is read a second time. If that data cannot be read, the backup is kept but recorded as
        failed verification, and the module fails.
      - Other formats and compressions (plain, tar, lz4, zstd, custom uncompressed) count in the dump's snapshot
        instead (a REPEATABLE READ transaction exports its snapshot to C(pg_dump --snapshot) and counts every
        table in it), a second read of every table while pg_dump runs. Each count holds O(statement_timeout)
        (+ 1 s); past it the backup fails saying C(counting rows of database ... failed) and
        C(statement exceeded statement_timeout=Ns).
      - The manifest says which (C(row_counts_from) C(archive) or C(snapshot)). C(false) records no counts;
        such a backup is verified without a row-count comparison.
    type: bool
    default: true
  space_factor:
    description:
      - Refuse to start a dump when O(backup_dir) has less free space than C(pg_database_size) times this
        factor. C(0) disables the check.
    type: float
    default: 1.0
  pg_bin_dir:
    description:
      - Directory holding pg_dump, pg_restore, pg_dumpall and psql. Default is C(/usr/lib/postgresql/<server
        major>/bin), then newer installed versions, then C(PATH). A tool older than the server is an error.
    type: path
  pg_dump_path:
    description: Path of the pg_dump binary (the other tools are taken from its directory).
    type: path
  container:
    description:
      - Run the PostgreSQL tools inside this container (container hosts) with O(engine) C(exec); the dump is
        streamed to O(backup_dir) on the managed host. Connection options are then seen from inside the container.
    type: str
  engine:
    description: Container engine for O(container).
    type: str
    default: podman
    choices: [podman, docker]
requirements:
  - C(pg_dump), C(pg_restore) and C(psql) on the managed host (or in O(container)); psql reads the server's version,
    databases and sizes before dumping.
  - psycopg 3, only for O(verify=restore) and for row counts taken in a snapshot (see O(row_counts)).
notes:
  - The login role needs to read every table (pg_dump), and C(CREATEDB) for O(verify=restore).
  - pg_dump's and pg_restore's C(--version) are remembered per binary (path, inode, size, modification time) in
    C(~/.cache/runbook.ops/pg-tool-versions.json) of the remote user (C($XDG_CACHE_HOME) when set); a replaced
    binary is asked again.
"""

EXAMPLES = r"""
- name: Nightly verified backup of two databases, keep 7
  runbook.ops.pg_backup:
    backup_dir: /var/backups/postgres
    databases: [app, analytics]
    keep_last: 7
    max_age_days: 30

- name: Directory format with parallel jobs, restored into a scratch database to verify
  runbook.ops.pg_backup:
    backup_dir: /var/backups/postgres
    databases: [app]
    format: directory
    jobs: 4
    verify: restore

- name: Container host, pg_dump inside the database container
  runbook.ops.pg_backup:
    backup_dir: /srv/backups/postgres
    container: app-db
    engine: podman
    login_password: "{{ vault_pg_password }}"
    globals: true
"""

RETURN = r"""
backups:
  description: The backups made.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Database name (C(:globals:) for the globals dump)., type: str}
    path: {description: Final path of the backup file or directory., type: str}
    manifest: {description: Path of its manifest., type: str}
    size: {description: Total bytes., type: int}
    sha256: {description: Checksum of a single-file backup., type: str}
    files: {description: "Every file with C(path), C(size), C(sha256).", type: list}
    duration_seconds: {description: Dump time., type: float}
    verified: {description: "C(passed), C(failed) or C(skipped).", type: str}
    verification: {description: Method and details of the verification., type: dict}
    tables: {description: Number of tables counted (null with O(row_counts=false))., type: int}
    total_rows: {description: Sum of the row counts (null with O(row_counts=false))., type: int}
  sample: [{"name": "app", "path": "/var/backups/postgres/app-20261123T020000_000000Z.dump", "verified": "passed"}]
would_create:
  description: Check mode only, the backups that would be created.
  returned: always
  type: list
  elements: dict
retention:
  description: Per database, the C(keep) and C(delete) decisions with a reason for each backup.
  returned: always
  type: dict
deleted:
  description: Paths of the backups retention deleted (would delete, in check mode).
  returned: always
  type: list
  elements: str
leftovers_removed:
  description: Partial files of interrupted runs and orphan manifests removed (would remove, in check mode).
  returned: always
  type: list
  elements: dict
backup_dir:
  description: Absolute destination directory.
  returned: always
  type: str
commands:
  description: The tool command lines run (no secrets; the password is only in the environment).
  returned: always
  type: list
  elements: list
"""

import atexit
import gc

# A short-lived process whose objects all live until it exits: no cyclic garbage collection during
# imports and the run, and none of the module objects walked again at interpreter exit (gc.freeze runs
# before the interpreter's final collections). Saves tens of milliseconds per run.
gc.disable()
atexit.register(gc.freeze)

from ansible.module_utils.basic import AnsibleModule  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.runbook.ops.plugins.module_utils._backup_options import backup_options_spec
from ansible_collections.runbook.ops.plugins.module_utils._module_run import run_and_exit
from ansible_collections.runbook.ops.plugins.module_utils._pg_backup_run import BackupRun
from ansible_collections.runbook.ops.plugins.module_utils._pg_conn import PostgresError
from ansible_collections.runbook.ops.plugins.module_utils._pg_tools import (
    COMPRESSIONS, FORMATS, TOOL_MUTUALLY_EXCLUSIVE, LazyClient, run_step, tool_module_argument_spec,
)


def _body(module, client: LazyClient) -> dict:
    return run_step(module, client, BackupRun(module, client), f"in backup_dir {module.params['backup_dir']}")


def main() -> None:
    argument_spec = tool_module_argument_spec(**backup_options_spec(
        databases=dict(type="list", elements="str", default=[]),
        globals=dict(type="bool", default=False),
        format=dict(type="str", default="custom", choices=list(FORMATS)),
        compression=dict(type="str", default="gzip", choices=COMPRESSIONS),
        compression_level=dict(type="int"),
        jobs=dict(type="int", default=1),
        verify=dict(type="str", default="list", choices=["none", "list", "restore"]),
        row_counts=dict(type="bool", default=True),
        space_factor=dict(type="float", default=1.0),
    ))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=TOOL_MUTUALLY_EXCLUSIVE)
    # psycopg is imported only if this run needs a session of its own (snapshot row counts, verify=restore)
    run_and_exit(module, LazyClient(module), PostgresError, lambda client: _body(module, client))


if __name__ == "__main__":
    main()
