#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: nginx_log_report
short_description: Security report of nginx access logs - 401/403/5xx and suspicious requests per client IP
version_added: 0.1.0
author: runbook.ops maintainers (@runbook-ops)
description:
  - Reads nginx access logs in the C(combined) format (plain or gzip-compressed), optionally followed by
    C($request_time) as the next field, and counts per client IP the requests, 401, 403 and 5xx answers and
    suspicious requests (SQL injection, XSS and path traversal patterns, matched on the URL-decoded request line).
  - Returns the flagged clients, the top clients by requests, the slowest requests (when C($request_time)
    is logged) and a sample of the suspicious requests.
  - Never changes anything; runs identically in check mode.
extends_documentation_fragment:
  - runbook.ops.attributes
  - runbook.ops.attributes.READ_ONLY
seealso:
  - module: runbook.ops.log_summary
  - module: runbook.ops.health_probe
options:
  paths:
    description: Access log files or globs; C(.gz) files are decompressed while reading.
    type: list
    elements: path
    required: true
  missing_ok:
    description: Ignore O(paths) entries without glob characters that do not exist (otherwise the task fails).
    type: bool
    default: false
  top:
    description: Length of RV(clients), RV(top_clients) and RV(slowest). At least 1.
    type: int
    default: 20
  sample:
    description: How many suspicious requests are returned in RV(suspicious_requests).
    type: int
    default: 20
  extra_patterns:
    description:
      - More suspicious-request patterns, as a mapping of a category name to a list of regular expressions
        (Python syntax), added to the built-in C(sql_injection), C(xss) and C(path_traversal) categories.
    type: dict
    default: {}
  max_age:
    description: Skip files last modified longer ago than this duration (V(7d), V(12h)); default reads all.
    type: str
  max_bytes_per_file:
    description: Read only the last this many bytes of each uncompressed file; C(0) reads whole files.
    type: int
    default: 0
"""

EXAMPLES = r"""
- name: Security review of last week's access logs
  runbook.ops.nginx_log_report:
    paths: [/var/log/nginx/access.log, /var/log/nginx/access.log.*]
    max_age: 8d
    top: 10
  register: access
"""

RETURN = r"""
clients:
  description: Clients with 401, 403, 5xx or suspicious requests, most suspicious and denied first.
  returned: always
  type: list
  elements: dict
  sample: [{ip: 203.0.113.9, requests: 120, status_401: 80, status_403: 3, status_5xx: 0, suspicious: 12}]
top_clients:
  description: Clients with the most requests, same fields as RV(clients).
  returned: always
  type: list
  elements: dict
slowest:
  description: Slowest requests (C(request_time), C(request), C(ip), C(status), C(time)); empty when not logged.
  returned: always
  type: list
  elements: dict
suspicious_requests:
  description: First O(sample) suspicious requests with their C(categories) and C(source) file.
  returned: always
  type: list
  elements: dict
totals:
  description: Sums of C(requests), C(status_401), C(status_403), C(status_5xx), C(suspicious).
  returned: always
  type: dict
status_classes:
  description: Requests per status class (C(2xx), C(4xx), ...).
  returned: always
  type: dict
lines:
  description: Lines read.
  returned: always
  type: int
parsed_lines:
  description: Lines in the expected format.
  returned: always
  type: int
files:
  description: Files read.
  returned: always
  type: list
  elements: str
skipped_files:
  description: Files skipped (missing with O(missing_ok=true), or older than O(max_age)) with the reason.
  returned: always
  type: list
  elements: dict
"""

import os
import re
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.runbook.ops.plugins.module_utils._durations import parse_duration
from ansible_collections.runbook.ops.plugins.module_utils._logs import (
    SUSPICIOUS_PATTERNS, AccessReport, expand_paths, read_lines)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type="list", elements="path", required=True),
            missing_ok=dict(type="bool", default=False),
            top=dict(type="int", default=20),
            sample=dict(type="int", default=20),
            extra_patterns=dict(type="dict", default={}),
            max_age=dict(type="str"),
            max_bytes_per_file=dict(type="int", default=0),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["top"] < 1:
        module.fail_json(msg=f"top must be at least 1, got {p['top']}")
    if p["sample"] < 0 or p["max_bytes_per_file"] < 0:
        module.fail_json(msg="sample and max_bytes_per_file must not be negative")
    patterns = {k: list(v) for k, v in SUSPICIOUS_PATTERNS.items()}
    for category, regs in p["extra_patterns"].items():
        if not isinstance(regs, list):
            module.fail_json(msg=f"extra_patterns: {category} must be a list of regular expressions")
        for reg in regs:
            try:
                re.compile(str(reg))
            except re.error as exc:
                module.fail_json(msg=f"extra_patterns: invalid regular expression {reg!r} in {category}: {exc}")
        patterns.setdefault(str(category), []).extend(str(r) for r in regs)
    max_age = None
    if p["max_age"] is not None:
        try:
            max_age = parse_duration(p["max_age"])
        except ValueError as exc:
            module.fail_json(msg=f"max_age: {exc}")

    skipped, files = [], []
    for path in p["paths"]:
        if not any(c in path for c in "*?[") and not os.path.exists(path):
            if not p["missing_ok"]:
                module.fail_json(msg=f"paths: {path} does not exist (set missing_ok=true to ignore it)")
            skipped.append({"path": path, "reason": "missing"})
    report = AccessReport(patterns, sample=p["sample"])
    now = time.time()
    for path in expand_paths(p["paths"]):
        if max_age is not None and now - os.path.getmtime(path) > max_age:
            skipped.append({"path": path, "reason": "older than max_age"})
            continue
        files.append(path)
        try:
            for line in read_lines(path, p["max_bytes_per_file"]):
                report.add_line(line, path)
        except (OSError, EOFError) as exc:
            module.fail_json(msg=f"paths: cannot read {path}: {exc}")
    module.exit_json(changed=False, files=files, skipped_files=skipped, **report.result(p["top"]))


if __name__ == "__main__":
    main()
