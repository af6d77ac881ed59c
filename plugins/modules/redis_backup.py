#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: redis_backup
short_description: Consistent RDB backups of a Redis server with checksums, manifests and safe retention
version_added: 0.1.0
author: runbook.ops maintainers (@runbook-ops)
description:
  - Runs C(BGSAVE) and waits until the save is really done (C(LASTSAVE) or C(rdb_saves) advanced,
    C(rdb_bgsave_in_progress) is 0 and C(rdb_last_bgsave_status) is C(ok)), polling with a short interval
    up to O(timeout); no fixed sleeps. A save already in progress is waited for, then a fresh one is started.
  - The key count of each database (INFO keyspace) is taken atomically with the C(BGSAVE) (C(MULTI)/C(EXEC))
    and recorded in the manifest, so a restore can be checked against it.
  - Copies the RDB file (location from C(CONFIG GET dir) and C(dbfilename), or O(rdb_path)) to O(backup_dir)
    under a temporary name, checks it with C(redis-check-rdb) when available, and renames it into place;
    then writes a JSON manifest with its sha256. On a container host the file is copied out of O(container)
    with C(podman cp) / C(docker cp).
  - Retention (O(keep_last), O(max_age_days)) follows the same rules as pg_backup (shared code) - only
    complete, verified backups count, the newest verified backup is never deleted and the backup made by
    this run is never deleted by its own retention. A backup whose manifest is dated more than 5 minutes
    in the future (a wrong clock, a copied directory) never outranks the new one, never counts and is
    never deleted; the module warns, naming its manifest.
  - Leaves the server's RDB file as it found it when the server's persistence is off (C(save "") and
    C(appendonly no)). Such a server would load the file C(BGSAVE) writes at its next start and bring back
    keys deleted since, so the module keeps a copy of an existing file before its C(BGSAVE) and puts it
    back afterwards, or removes the file its C(BGSAVE) created - also when the module fails. With
    persistence on the file is the server's own and is left alone. See RV(server_rdb).
  - On a Redis Cluster run it against each node (each node writes its own RDB on its own host).
extends_documentation_fragment:
  - runbook.ops.redis
  - runbook.ops.attributes
  - runbook.ops.backup
  - runbook.ops.attributes.action_group_redis
attributes:
  check_mode:
    support: full
    details: Reports the backup that would be made and what retention would delete; saves and deletes nothing.
  diff_mode:
    support: none
seealso:
  - module: runbook.ops.redis_restore
  - module: runbook.ops.backup_copy
  - module: runbook.ops.backup_history
options:
  name:
    description: Name of the backup series (file prefix and retention group). Default C(redis-<login_port>).
    type: str
  rdb_path:
    description:
      - The server's RDB file. Default from C(CONFIG GET dir) and C(dbfilename); needed when the server has
        CONFIG renamed or disabled. With O(container), a path inside the container.
    type: path
  timeout:
    description: Seconds to wait for the background save (including one already running).
    type: float
    default: 600
  poll_interval:
    description: Seconds between two checks of the save's progress.
    type: float
    default: 0.1
  verify:
    description:
      - V(auto) checks the copy with C(redis-check-rdb) when it is installed, otherwise checks the RDB
        structure (magic, version, end marker).
      - V(redis-check-rdb) requires the tool. V(none) records the backup as not verified (it then never
        counts toward retention).
    type: str
    default: auto
    choices: [auto, redis-check-rdb, none]
  redis_check_rdb:
    description: Path of C(redis-check-rdb) (default from PATH).
    type: path
  container:
    description: The Redis server runs in this container; its RDB is copied out with O(engine) C(cp).
    type: str
  engine:
    description: Container engine for O(container).
    type: str
    default: podman
    choices: [podman, docker]
"""

EXAMPLES = r"""
- name: Nightly RDB backup, keep a week
  runbook.ops.redis_backup:
    login_password: "{{ vault_redis_password }}"
    backup_dir: /var/backups/redis
    keep_last: 7

- name: Container host, CONFIG disabled in the server
  runbook.ops.redis_backup:
    backup_dir: /srv/backups/redis
    container: myapp-redis
    rdb_path: /data/dump.rdb
"""

RETURN = r"""
backup:
  description: The new backup (null in check mode).
  returned: always
  type: dict
  sample: {"path": "/var/backups/redis/redis-6379-20261123T141353_123456Z.rdb", "sha256": "…", "size": 1234,
           "verified": "passed", "keyspace": {"0": {"keys": 10, "expires": 2, "avg_ttl": 0}}, "total_keys": 10}
would_create:
  description: Path of the backup a real run would create.
  returned: check mode
  type: str
source:
  description: The server's RDB file that was copied.
  returned: always
  type: str
name:
  description: Backup series name.
  returned: always
  type: str
retention:
  description:
    - Retention decisions (keep / delete) with reasons, and C(warnings) about backups dated in the future
      (each names its manifest).
  returned: always
  type: dict
deleted:
  description: Backups retention deleted (would delete, in check mode).
  returned: always
  type: list
  elements: str
leftovers_removed:
  description: Partial files of interrupted runs that were removed.
  returned: always
  type: list
  elements: dict
server_rdb:
  description:
    - What happened to the server's RDB file after the backup's C(BGSAVE). C(persistence) is C(off)
      (C(save "") and C(appendonly no)), C(on) or C(unknown) (CONFIG disabled); C(action) says whether
      the file was removed, put back as it was, or left in place.
  returned: success, not check mode
  type: dict
  sample: {"path": "/var/lib/redis/dump.rdb", "persistence": "off",
           "action": "removed (persistence is off: the server would load it at its next start)"}
notes:
  description: What the module waited for (e.g. a background save already in progress).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.runbook.ops.plugins.module_utils._redis import redis_argument_spec, run_with_client
from ansible_collections.runbook.ops.plugins.module_utils._redis_backup import redis_backup_options_spec, run_backup
from ansible_collections.runbook.ops.plugins.module_utils._runtime import runtime_argument_spec


def main() -> None:
    spec = redis_argument_spec()
    spec.update(redis_backup_options_spec())
    spec.update(runtime_argument_spec())
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    for opt in ("timeout", "poll_interval"):
        if module.params[opt] <= 0:
            module.fail_json(msg=f"{opt} must be positive (got {module.params[opt]})")
    if module.params["keep_last"] is not None and module.params["keep_last"] < 1:
        module.fail_json(msg="keep_last must be at least 1")
    run_with_client(module, lambda client: run_backup(client, module, module.params, module.check_mode))


if __name__ == "__main__":
    main()
