#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: redis_restore
short_description: Restore a Redis server from an RDB backup made by redis_backup
version_added: 0.1.0
author: runbook.ops maintainers (@runbook-ops)
description:
  - Checks the backup's sha256 against its manifest, stops the server (a systemd O(service), or
    O(stop_command)), puts the RDB in place atomically with the owner and mode of the file it replaces
    (kept as C(<rdb>.before-restore-<stamp>) unless O(keep_previous=false)), starts the server, waits until
    it answers and has loaded the data, and compares each database's key count with the manifest.
  - Refuses when the server has C(appendonly yes) (it would load the AOF and ignore the RDB).
  - A failed restore (the server does not start or load the RDB in time, or with O(check_keys) the key
    counts differ from the manifest) is rolled back - the server is stopped, its previous RDB put back (or
    the restored one removed when there was none) and started again - and the error says so.
  - With O(backup_dir), the newest I(trustworthy) backup is used (complete, verified and not dated more than
    5 minutes in the future). A future-dated backup (a wrong clock, a copied directory) is passed over with
    a warning naming its manifest; give it as O(src) to restore it anyway.
  - When the server is already down, give O(rdb_path) and the module restores without asking it first.
extends_documentation_fragment:
  - runbook.ops.redis
  - runbook.ops.attributes
  - runbook.ops.attributes.action_group_redis
attributes:
  check_mode:
    support: full
    details: Checks the backup and reports what would be done; stops nothing.
  diff_mode:
    support: none
seealso:
  - module: runbook.ops.redis_backup
  - module: runbook.ops.backup_fetch
options:
  src:
    description: The backup RDB file (its C(.manifest.json) must be next to it).
    type: path
  backup_dir:
    description:
      - Restore the newest trustworthy (complete, verified, not future-dated) backup of series O(name) from this
        directory (when O(src) is not given).
    type: path
  name:
    description: Backup series name (see redis_backup). Default C(redis-<login_port>).
    type: str
  rdb_path:
    description: Where the server reads its RDB. Default from C(CONFIG GET dir) and C(dbfilename).
    type: path
  service:
    description: systemd unit of the server (C(systemctl stop) / C(start)).
    type: str
  stop_command:
    description: Command (argv list, no shell) that stops the server, when it is not a systemd unit.
    type: list
    elements: str
  start_command:
    description: Command (argv list, no shell) that starts the server; it must return once the server is launched.
    type: list
    elements: str
  owner:
    description: Owner of the restored file (default that of the file it replaces, or of its directory).
    type: str
  group:
    description: Group of the restored file (default as for O(owner)).
    type: str
  keep_previous:
    description:
      - Keep the replaced RDB as C(<rdb_path>.before-restore-<stamp>). It is set aside during the restore in
        any case (a failed restore puts it back) and deleted at the end when V(false).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the server to stop, and again to start and load the data.
      - Also the bound of each stop and start command (the systemctl call or O(stop_command) / O(start_command)),
        killed with its process group when it runs longer.
    type: float
    default: 120
  check_keys:
    description: Fail when a database's key count differs from the manifest (keys with an expiry may have expired).
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Restore the newest verified backup on a systemd host
  runbook.ops.redis_restore:
    login_password: "{{ vault_redis_password }}"
    backup_dir: /var/backups/redis
    name: redis-6379
    service: redis-server
"""

RETURN = r"""
src:
  description: The backup restored.
  returned: always
  type: str
rdb_path:
  description: Where it was put.
  returned: always
  type: str
previous:
  description: Where the replaced RDB was kept (null if none or O(keep_previous=false)).
  returned: always
  type: str
expected_keyspace:
  description: Key counts per database from the manifest.
  returned: always
  type: dict
keyspace:
  description: Key counts per database after the restart.
  returned: success, not check mode
  type: dict
stop_seconds:
  description: Seconds until the server stopped answering.
  returned: success, not check mode
  type: float
start_seconds:
  description: Seconds until the server answered with its data loaded.
  returned: success, not check mode
  type: float
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.runbook.ops.plugins.module_utils._redis import redis_argument_spec, run_with_client
from ansible_collections.runbook.ops.plugins.module_utils._redis_backup import restore_options_spec, run_restore


def main() -> None:
    spec = redis_argument_spec()
    spec.update(restore_options_spec())
    module = AnsibleModule(
        argument_spec=spec,
        supports_check_mode=True,
        mutually_exclusive=[("service", "stop_command"), ("service", "start_command"), ("src", "backup_dir")],
        required_together=[("stop_command", "start_command")],
        required_one_of=[("src", "backup_dir"), ("service", "stop_command")],
    )
    run_with_client(module, lambda client: run_restore(client, module, module.params, module.check_mode))


if __name__ == "__main__":
    main()
