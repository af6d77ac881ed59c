#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: log_summary
short_description: Most frequent error lines of log files, normalised into patterns
version_added: 0.1.0
author: runbook.ops maintainers (@runbook-ops)
description:
  - Reads application and nginx logs (plain or gzip-compressed) and inline texts (for example the
    output of C(journalctl) or C(podman logs)), keeps the lines that match O(error_patterns) and counts
    them after normalising their variable parts, so that lines differing only in timestamps, numbers,
    UUIDs, hexadecimal ids, IP addresses or quoted values count as one pattern.
  - Returns the most frequent patterns with a real example line, and per-source line counts.
  - Never changes anything; runs identically in check mode.
extends_documentation_fragment:
  - runbook.ops.attributes
  - runbook.ops.attributes.READ_ONLY
seealso:
  - module: runbook.ops.nginx_log_report
options:
  paths:
    description:
      - Log files or glob patterns. Files ending in C(.gz) are decompressed while reading.
      - A path without glob characters that does not exist fails the task unless O(missing_ok=true);
        a glob that matches nothing is not an error.
    type: list
    elements: path
    default: []
  texts:
    description:
      - Inline log texts to summarise, as a mapping of a source label to the text (a string, or a list of lines).
    type: dict
    default: {}
  missing_ok:
    description: Ignore O(paths) entries that do not exist.
    type: bool
    default: false
  error_patterns:
    description:
      - Regular expressions (Python syntax); a line matching any of them is an error line.
      - Default matches the words error, critical, fatal, emerg, alert, crit, exception, traceback and
        panic, case-insensitively.
    type: list
    elements: str
    default: []
  exclude_patterns:
    description: Regular expressions; matching lines are never counted.
    type: list
    elements: str
    default: []
  top:
    description: How many patterns to return, most frequent first. At least 1.
    type: int
    default: 20
  max_bytes_per_file:
    description:
      - Read only the last this many bytes of each uncompressed file; C(0) reads whole files.
    type: int
    default: 0
  max_age:
    description:
      - Skip files last modified longer ago than this duration (V(7d), V(12h), V(30m); a bare number is days).
      - Default reads every matching file.
    type: str
"""

EXAMPLES = r"""
- name: Most frequent errors of the app and nginx in the last week's files
  runbook.ops.log_summary:
    paths:
      - /var/log/myapp/*.log
      - /var/log/myapp/*.log.*.gz
      - /var/log/nginx/error.log
    max_age: 7d
    top: 10
  register: errors

- name: Summarise a container's recent output
  runbook.ops.log_summary:
    texts:
      backend: "{{ backend_logs.stdout }}"
"""

RETURN = r"""
patterns:
  description: The most frequent normalised error lines, most frequent first.
  returned: always
  type: list
  elements: dict
  contains:
    pattern:
      description: The normalised line (C(<ts>), C(<n>), C(<uuid>), C(<hex>), C(<ip>), C(<str>) masks).
      type: str
    count:
      description: Lines that normalised to this pattern.
      type: int
    example:
      description: The first real line seen for this pattern.
      type: str
    sources:
      description: Files or text labels where the pattern occurs.
      type: list
      elements: str
  sample:
    - pattern: "<ts> ERROR payment <uuid> failed after <n> ms"
      count: 42
      example: "2026-11-20 10:01:02 ERROR payment 1b4e28ba-2fa1-11d2-883f-0016d3cca427 failed after 311 ms"
      sources: [/var/log/myapp/app.log]
distinct_patterns:
  description: Number of distinct patterns before the O(top) cut.
  returned: always
  type: int
sources:
  description: Per file or text label, the lines read and the error lines among them.
  returned: always
  type: list
  elements: dict
  sample: [{source: /var/log/myapp/app.log, lines: 1200, error_lines: 57}]
skipped_files:
  description: Files skipped by O(max_age) or missing with O(missing_ok=true), with the reason.
  returned: always
  type: list
  elements: dict
total_lines:
  description: Lines read over all sources.
  returned: always
  type: int
error_lines:
  description: Error lines over all sources.
  returned: always
  type: int
"""

import os
import re
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.runbook.ops.plugins.module_utils._durations import parse_duration
from ansible_collections.runbook.ops.plugins.module_utils._logs import ErrorSummary, expand_paths, read_lines


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type="list", elements="path", default=[]),
            texts=dict(type="dict", default={}),
            missing_ok=dict(type="bool", default=False),
            error_patterns=dict(type="list", elements="str", default=[]),
            exclude_patterns=dict(type="list", elements="str", default=[]),
            top=dict(type="int", default=20),
            max_bytes_per_file=dict(type="int", default=0),
            max_age=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["top"] < 1:
        module.fail_json(msg=f"top must be at least 1, got {p['top']}")
    if p["max_bytes_per_file"] < 0:
        module.fail_json(msg="max_bytes_per_file must be 0 (whole files) or positive")
    if not p["paths"] and not p["texts"]:
        module.fail_json(msg="give at least one of paths or texts")
    max_age = None
    if p["max_age"] is not None:
        try:
            max_age = parse_duration(p["max_age"])
        except ValueError as exc:
            module.fail_json(msg=f"max_age: {exc}")
    for option in ("error_patterns", "exclude_patterns"):
        for pattern in p[option]:
            try:
                re.compile(pattern)
            except re.error as exc:
                module.fail_json(msg=f"{option}: invalid regular expression {pattern!r}: {exc}")

    summary = ErrorSummary(p["error_patterns"], p["exclude_patterns"])
    skipped = []
    for path in p["paths"]:
        if not any(c in path for c in "*?[") and not os.path.exists(path):
            if not p["missing_ok"]:
                module.fail_json(msg=f"paths: {path} does not exist (set missing_ok=true to ignore it)")
            skipped.append({"path": path, "reason": "missing"})
    now = time.time()
    for path in expand_paths(p["paths"]):
        if max_age is not None and now - os.path.getmtime(path) > max_age:
            skipped.append({"path": path, "reason": "older than max_age"})
            continue
        try:
            summary.add_lines(path, read_lines(path, p["max_bytes_per_file"]))
        except (OSError, EOFError) as exc:
            module.fail_json(msg=f"paths: cannot read {path}: {exc}")
    for label, text in p["texts"].items():
        lines = [str(line) for line in text] if isinstance(text, list) else str(text or "").splitlines()
        summary.add_lines(str(label), lines)
    module.exit_json(changed=False, skipped_files=skipped, **summary.result(p["top"]))


if __name__ == "__main__":
    main()
