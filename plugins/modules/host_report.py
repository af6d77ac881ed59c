#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: host_report
short_description: Write one host's JSON report of a schedule run on the controller
version_added: 0.1.0
author: runbook.ops maintainers (@runbook-ops)
description:
  - Writes C(<report_dir>/<name>-<host>-<stamp>.json) on the controller, with the schedule, the host, the stamp, check
    mode, the results of the steps, the steps that failed and why, and the backups read on the host. The role
    runbook.ops.report runs it once per host; M(runbook.ops.run_report) (or the callback runbook.ops.run_report)
    merges these files into the run report.
  - An action plugin. It runs in Ansible's worker on the controller and writes the file itself, with no module run and
    no connection to the host. One task per host replaces a copy to the controller, two facts and a C(set_stats).
  - Sets the fact C(report_file) (the path written) and publishes C(runbook_reports.<host>) (the file, the schedule,
    check mode, the steps that ran and the steps that failed) for AWX, like ansible.builtin.set_stats with
    C(aggregate=true), C(per_host=false).
  - The report directory is created (mode 0750) when it does not exist; the file is written atomically, mode 0640.
  - Writes in check mode too, since the report of a check run says what the run would have done.
extends_documentation_fragment:
  - runbook.ops.attributes
attributes:
  action:
    description: Runs on the controller as an action plugin.
    support: full
  check_mode:
    support: full
    details: Writes the report in check mode too; the host is not touched either way.
  diff_mode:
    support: none
options:
  report_dir:
    description: The directory on the controller the host reports go to.
    type: path
    required: true
  name:
    description: The schedule's name (C(daily), C(backup), ...); the first part of the file name.
    type: str
    required: true
  stamp:
    description: The run's time stamp (C(YYYYMMDDTHHMMSSZ)), the same for every host of the run.
    type: str
    required: true
  results:
    description: The results of the steps, by step name. A step that did not run is null (or an empty string) and is not
      listed under the published C(steps).
    type: dict
    default: {}
  failed_steps:
    description: The steps that failed on this host (the fact C(runbook_failed_steps) of runbook.ops.step).
    type: list
    elements: str
    default: []
  step_failures:
    description: Where and why each step failed (the fact C(runbook_step_failures) of runbook.ops.step).
    type: list
    elements: dict
    default: []
  backup_history:
    description: The backups on the host, as M(runbook.ops.backup_history) returns them.
    type: list
    elements: dict
    default: []
seealso:
  - module: runbook.ops.run_report
  - module: runbook.ops.backup_history
"""

EXAMPLES = r"""
- name: Write the host's report of the daily run
  runbook.ops.host_report:
    report_dir: /var/tmp/runbook-reports
    name: daily
    stamp: "{{ _report_stamp }}"
    results:
      health: "{{ health_results | default(None) }}"
    failed_steps: "{{ runbook_failed_steps | default([]) }}"
"""

RETURN = r"""
path:
  description: The report file written on the controller.
  returned: always
  type: str
  sample: /var/tmp/runbook-reports/daily-db1-20261203T020000Z.json
steps:
  description: The steps that ran (those of O(results) that are not null).
  returned: always
  type: list
  elements: str
  sample: [health, pg_backup]
"""
