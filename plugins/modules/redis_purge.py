#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: redis_purge
short_description: Delete Redis keys by pattern without blocking the server
version_added: 0.1.0
author: runbook.ops maintainers (@runbook-ops)
description:
  - Deletes the keys matching one or more glob patterns with C(SCAN) (small C(COUNT)) and
    C(UNLINK) (C(DEL) on servers without C(UNLINK)). Scanning and deleting overlap (a scanner
    thread feeds a bounded queue, the deleter removes each batch with one command), so no
    single command holds the server for long.
  - Optional filters (key type, TTL, idle time), a cap on the number of keys and a rate limit.
  - Refuses an empty pattern and patterns that match every key (C(*), C(**), C(?*), C([^]*)...)
    unless O(allow_all=true). Emptying a whole database is a separate action, O(action=flushdb),
    with its own confirmation.
  - On a Redis Cluster every primary is purged.
  - In check mode the same scan and filters run and the module reports exactly how many keys
    would be deleted, with a sample of their names; nothing is deleted.
extends_documentation_fragment:
  - runbook.ops.redis
  - runbook.ops.attributes
  - runbook.ops.attributes.action_group_redis
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
seealso:
  - module: runbook.ops.redis_maintenance
options:
  action:
    description:
      - V(purge) deletes the keys matching O(patterns).
      - V(flushdb) runs C(FLUSHDB ASYNC) on O(db) (on every primary of a cluster); needs O(confirm_flushdb=true).
    type: str
    choices: [purge, flushdb]
    default: purge
  patterns:
    description:
      - Glob patterns as Redis C(SCAN MATCH) reads them (C(*), C(?), C([a-z]), C(\\) escapes).
      - A key matching several patterns is counted under the first one.
      - Give a YAML list of strings. A single string without a comma is taken as a list of that one
        pattern; a string with a comma is refused (Ansible would split it at its commas, and the string
        C(report:2026,11:*) would purge C(11:*)). Use O(pattern) for one pattern.
    type: raw
  pattern:
    description:
      - One glob pattern, taken whole (commas included); the same as O(patterns) with one element.
      - Mutually exclusive with O(patterns).
    type: str
  allow_all:
    description: Allow a pattern that matches every key (it still goes through SCAN and the filters).
    type: bool
    default: false
  confirm_flushdb:
    description: Confirms O(action=flushdb).
    type: bool
    default: false
  type:
    description: Only keys of this type (server-side C(SCAN ... TYPE), Redis 6+).
    type: str
    choices: [string, list, set, zset, hash, stream]
  no_ttl:
    description: Only keys without an expiry.
    type: bool
    default: false
  ttl_above:
    description: Only keys that have an expiry more than this many seconds away.
    type: int
  ttl_below:
    description: Only keys that have an expiry less than this many seconds away.
    type: int
  min_idle:
    description:
      - Only keys idle for at least this many seconds (C(OBJECT IDLETIME); not available with an LFU
        C(maxmemory-policy)).
    type: int
  max_keys:
    description: Delete at most this many keys in this run (across patterns and cluster nodes).
    type: int
  rate_limit:
    description: At most this many keys per second (0 or unset means no limit).
    type: float
  scan_count:
    description: C(COUNT) hint of each C(SCAN) call; small values keep each call short.
    type: int
    default: 1000
  batch_size:
    description: Most keys given to one C(UNLINK) command.
    type: int
    default: 1000
  memory_purge:
    description: Run C(MEMORY PURGE) afterwards (jemalloc returns freed pages to the system).
    type: bool
    default: false
  sample_size:
    description: How many matched key names to return in RV(sample).
    type: int
    default: 10
notes:
  - Keys are checked (TTL, idle time) and then unlinked; a key changed by a client in between is
    judged by its state at the check.
  - Key names are bytes; names that are not valid UTF-8 are returned with backslash escapes
    and counted in RV(non_utf8_keys).
"""

EXAMPLES = r"""
- name: Purge the page cache, gently
  runbook.ops.redis_purge:
    login_host: cache.internal
    login_password: "{{ vault_redis_password }}"
    patterns: ["cache:*", "fragment:*"]
    rate_limit: 50000
    memory_purge: true

- name: Drop sessions idle for more than a week and without expiry, at most 100k
  runbook.ops.redis_purge:
    patterns: ["session:*"]
    type: hash
    no_ttl: true
    min_idle: 604800
    max_keys: 100000

- name: Empty database 3 (explicit)
  runbook.ops.redis_purge:
    db: 3
    action: flushdb
    confirm_flushdb: true
"""

RETURN = r"""
patterns:
  description: Per pattern, keys matched (after filters) and deleted.
  returned: action=purge
  type: list
  elements: dict
  sample: [{"pattern": "cache:*", "matched": 500000, "deleted": 500000}]
matched:
  description: Keys selected (in check mode, exactly the keys that would be deleted).
  returned: always
  type: int
deleted:
  description: Keys actually removed (0 in check mode).
  returned: always
  type: int
sample:
  description: Some of the matched key names (non-UTF-8 bytes as backslash escapes).
  returned: action=purge
  type: list
  elements: str
non_utf8_keys:
  description: Matched keys whose names are not valid UTF-8.
  returned: action=purge
  type: int
used_memory_before:
  description: Sum of C(used_memory) over the nodes before the run, in bytes.
  returned: always
  type: int
used_memory_after:
  description: The same after the run (C(UNLINK) frees memory in the background, so it may lag).
  returned: always
  type: int
duration:
  description: Seconds the module spent.
  returned: always
  type: float
batches:
  description: Delete commands (or pipelines on a cluster) sent.
  returned: action=purge
  type: int
method:
  description: C(UNLINK), or C(DEL) when the server does not know C(UNLINK).
  returned: action=purge
  type: str
nodes:
  description: The nodes acted on (each primary of a cluster).
  returned: always
  type: list
  elements: str
max_keys_reached:
  description: Whether O(max_keys) stopped the run.
  returned: action=purge
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.runbook.ops.plugins.module_utils._options import OptionError, whole_list
from ansible_collections.runbook.ops.plugins.module_utils._redis import redis_argument_spec, run_with_client
from ansible_collections.runbook.ops.plugins.module_utils._redis_purge import run_flushdb, run_purge


def main() -> None:
    spec = redis_argument_spec()
    spec.update(
        action=dict(type="str", choices=["purge", "flushdb"], default="purge"),
        patterns=dict(type="raw"),
        pattern=dict(type="str"),
        allow_all=dict(type="bool", default=False),
        confirm_flushdb=dict(type="bool", default=False),
        type=dict(type="str", choices=["string", "list", "set", "zset", "hash", "stream"]),
        no_ttl=dict(type="bool", default=False),
        ttl_above=dict(type="int"),
        ttl_below=dict(type="int"),
        min_idle=dict(type="int"),
        max_keys=dict(type="int", no_log=False),
        rate_limit=dict(type="float"),
        scan_count=dict(type="int", default=1000),
        batch_size=dict(type="int", default=1000),
        memory_purge=dict(type="bool", default=False),
        sample_size=dict(type="int", default=10),
    )
    module = AnsibleModule(
        argument_spec=spec,
        supports_check_mode=True,
        mutually_exclusive=[("no_ttl", "ttl_above"), ("no_ttl", "ttl_below"), ("pattern", "patterns")],
    )
    p = module.params
    try:
        p["patterns"] = [p["pattern"]] if p["pattern"] is not None else whole_list(p["patterns"], "patterns", "pattern")
    except OptionError as exc:
        module.fail_json(msg=str(exc))
    for name in ("scan_count", "batch_size"):
        if p[name] < 1:
            module.fail_json(msg=f"{name} must be at least 1 (got {p[name]})")
    for name in ("ttl_above", "ttl_below", "min_idle", "max_keys", "rate_limit", "sample_size"):
        if p[name] is not None and p[name] < 0:
            module.fail_json(msg=f"{name} must not be negative (got {p[name]})")
    body = run_flushdb if p["action"] == "flushdb" else run_purge
    run_with_client(module, lambda client: body(client, p, module.check_mode))


if __name__ == "__main__":
    main()
