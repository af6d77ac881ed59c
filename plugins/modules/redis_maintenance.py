#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: redis_maintenance
short_description: Report on a Redis server and set its memory settings idempotently
version_added: 0.1.0
author: runbook.ops maintainers (@runbook-ops)
description:
  - Reports memory (used, peak, fragmentation ratio, C(maxmemory) and policy), clients, keyspace,
    persistence and replication status, and the biggest keys found by sampling
    (C(MEMORY USAGE) over a C(SCAN) sample; never C(KEYS)).
  - Sets O(maxmemory), O(maxmemory_policy) and other allowed settings with C(CONFIG SET) only when
    they differ from the running values (compared normalised, so C(100mb) equals C(104857600)),
    and with O(persist=true) writes them to the configuration file with C(CONFIG REWRITE).
  - On a Redis Cluster the settings are applied on every primary; the report is the seed node's.
  - All or nothing - when a C(CONFIG SET) (or the C(CONFIG REWRITE)) fails, the settings this run already
    changed are set back to their old values on every node before the module fails, and the error says
    which were restored (or which could not be).
extends_documentation_fragment:
  - runbook.ops.redis
  - runbook.ops.attributes
  - runbook.ops.attributes.action_group_redis
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: Shows each changed setting as old and new value.
seealso:
  - module: runbook.ops.redis_purge
  - module: runbook.ops.redis_backup
options:
  maxmemory:
    description: Memory limit, in bytes or with Redis units (C(100mb) = 100*2^20, C(100m) = 100*10^6, C(2gb)); C(0) means none.
    type: str
  maxmemory_policy:
    description: Eviction policy.
    type: str
    choices: [noeviction, allkeys-lru, allkeys-lfu, allkeys-random, volatile-lru, volatile-lfu, volatile-random, volatile-ttl]
  settings:
    description:
      - Other settings by their Redis name. Allowed are memory and eviction tuning
        (C(maxmemory-samples), C(lazyfree-lazy-*), C(activedefrag), C(active-defrag-*)),
        C(timeout), C(tcp-keepalive), C(hz), C(dynamic-hz), C(maxclients), C(slowlog-log-slower-than),
        C(slowlog-max-len), C(latency-monitor-threshold), C(busy-reply-threshold),
        C(notify-keyspace-events), C(save), C(appendonly), C(appendfsync), C(loglevel),
        C(proto-max-bulk-len), C(client-query-buffer-limit), C(replica-lazy-flush).
      - Other names are refused, so a typo or a dangerous setting (C(dir), C(dbfilename)) fails the task.
    type: dict
    default: {}
  persist:
    description: After changing a setting, run C(CONFIG REWRITE) so the change survives a restart.
    type: bool
    default: false
  report:
    description: Return the report (RV(memory), RV(clients), RV(keyspace), RV(persistence), RV(biggest_keys)).
    type: bool
    default: true
  sample_keys:
    description: How many keys to sample (C(SCAN)) for RV(biggest_keys); 0 skips the sampling.
    type: int
    default: 1000
  biggest_keys:
    description: How many of the biggest sampled keys to return.
    type: int
    default: 10
"""

EXAMPLES = r"""
- name: Cap the cache and persist the setting
  runbook.ops.redis_maintenance:
    maxmemory: 2gb
    maxmemory_policy: allkeys-lru
    settings:
      lazyfree-lazy-eviction: true
    persist: true

- name: Report only
  runbook.ops.redis_maintenance:
    sample_keys: 5000
  register: redis_report
"""

RETURN = r"""
changes:
  description: Settings changed (or that would change in check mode), old and new value.
  returned: always
  type: dict
  sample: {"maxmemory": {"old": "0", "new": "2147483648"}}
persisted:
  description: Whether CONFIG REWRITE ran.
  returned: always
  type: bool
memory:
  description: used_memory, used_memory_peak, mem_fragmentation_ratio, maxmemory, maxmemory_policy and their human forms.
  returned: O(report=true)
  type: dict
clients:
  description: INFO clients.
  returned: O(report=true)
  type: dict
keyspace:
  description: Per database number, keys, expires and avg_ttl.
  returned: O(report=true)
  type: dict
persistence:
  description: RDB and AOF status (last save time, changes since, bgsave in progress, last status).
  returned: O(report=true)
  type: dict
replication:
  description: Role and connected replicas.
  returned: O(report=true)
  type: dict
biggest_keys:
  description: The biggest sampled keys, largest first (key, type, bytes).
  returned: O(report=true)
  type: list
  elements: dict
sampled_keys:
  description: How many keys were sampled.
  returned: O(report=true)
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.runbook.ops.plugins.module_utils._redis import (
    ENUM_SETTINGS, run_maintenance, redis_argument_spec, run_with_client)


def main() -> None:
    spec = redis_argument_spec()
    spec.update(
        maxmemory=dict(type="str"),
        maxmemory_policy=dict(type="str", choices=ENUM_SETTINGS["maxmemory-policy"]),
        settings=dict(type="dict", default={}),
        persist=dict(type="bool", default=False),
        report=dict(type="bool", default=True),
        sample_keys=dict(type="int", default=1000, no_log=False),
        biggest_keys=dict(type="int", default=10, no_log=False),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    run_with_client(module, lambda client: run_maintenance(client, module.params, module.check_mode, module._diff))


if __name__ == "__main__":
    main()
