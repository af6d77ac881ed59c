#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: run_report_slices
short_description: Merge the run reports of a sliced job's slices into one run report of the whole job
version_added: 0.1.0
author: runbook.ops maintainers (@runbook-ops)
description:
  - An AWX job template with C(job_slice_count) N runs as N jobs, each on a slice of the inventory. With the callback
    option C(report_store) (variable C(runbook_report_store)) every slice puts its run report in
    C(<store>/<name>/<job>/slice-<slice>.json); this module merges them into one run report, in the same format as the
    report of one run (see M(runbook.ops.run_report)), plus C(slices).
  - Every host once. A host that two slice reports hold is counted once (the newer report wins) and named as a
    warning. Every host of O(expected_hosts) that no slice reported is C(not_reached), with the reason.
  - The run is C(critical) when a slice never reported (fewer slice reports than O(slice_count)), when a slice
    was interrupted, or when an expected host is in no slice report; the problems name them.
  - The merged report's stamp is the earliest slice's, so merging again (the last slice merges when it finishes,
    the workflow's merge step merges again with the whole inventory) rewrites the same files.
  - Runs on the controller; the playbook C(playbooks/merge_slices.yml) runs it at the end of a workflow.
  - In check mode the module reads and merges but writes nothing.
extends_documentation_fragment:
  - runbook.ops.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  store:
    description: The report store the slices wrote to (the callback's C(report_store)).
    type: path
    required: true
  name:
    description: The schedule's name (C(daily), ...), as in the slices' reports.
    type: str
    required: true
  job:
    description:
      - The key the slices of the job share (the callback's C(report_job); under AWX the sliced job's workflow job id).
      - Not set or empty, the job of O(name) whose slice reports are the newest in the store (the job that ran last, for a
        merge step that runs after the sliced job in a workflow and does not know its id).
    type: str
  slice_count:
    description: How many slices the job has (the job template's C(job_slice_count)).
    type: int
    required: true
  expected_hosts:
    description:
      - Every host the whole job targets (for example C(groups['all'])); those in no slice report are C(not_reached).
      - Empty, only the slice count tells a missing slice.
    type: list
    elements: str
    default: []
  report_dir:
    description: Where to write the merged report; default the job's directory in the store.
    type: path
  metrics_dir:
    description: Directory of node_exporter's textfile collector for the whole job's metrics; not set, none are written.
    type: path
seealso:
  - module: runbook.ops.run_report
  - plugin: runbook.ops.run_report
    plugin_type: callback
    description: Its options C(report_store), C(report_slice_count) and C(report_job) store each slice's report.
"""

EXAMPLES = r"""
- name: One report of the sliced daily job
  runbook.ops.run_report_slices:
    store: /mnt/runbook-reports
    name: daily
    job: "{{ runbook_report_job }}"
    slice_count: 3
    expected_hosts: "{{ groups['all'] }}"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
msg:
  description: What is wrong with the slices (never reported, interrupted, hosts missing), or C(every slice reported).
  returned: always
  type: str
json_path:
  description: The merged run report (JSON).
  returned: always
  type: str
  sample: /mnt/runbook-reports/daily/4711/daily-20261124T020000Z.json
html_path:
  description: The merged HTML report.
  returned: always
  type: str
url:
  description: C(file://) URL of the merged HTML report.
  returned: always
  type: str
metrics_path:
  description: The Prometheus textfile of the whole job, or null without O(metrics_dir).
  returned: always
  type: str
status:
  description: Worst status of the whole job.
  returned: always
  type: str
  sample: critical
slices:
  description: C(count), C(reported) (per slice C(slice), C(job), C(status), C(interrupted), C(hosts), C(stamp),
    C(finished_at)), C(failed) (slices interrupted or critical), C(never_reported), C(hosts_missing),
    C(hosts_in_two_slices).
  returned: always
  type: dict
summary:
  description: The compact run report of the whole job (see M(runbook.ops.run_report)).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.runbook.ops.plugins.module_utils._run_report import build_slices
from ansible_collections.runbook.ops.plugins.module_utils._run_report_common import RunReportError


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            store=dict(type="path", required=True),
            name=dict(type="str", required=True),
            job=dict(type="str"),
            slice_count=dict(type="int", required=True),
            expected_hosts=dict(type="list", elements="str", default=[]),
            report_dir=dict(type="path"),
            metrics_dir=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        result = build_slices(p["store"], p["name"], p["job"], p["slice_count"], p["expected_hosts"],
                              p["report_dir"], p["metrics_dir"], check_mode=module.check_mode)
    except RunReportError as exc:
        module.fail_json(msg=str(exc))
    problems = [x["message"] for x in result["summary"]["problems"] if x.get("where") == "slices"]
    module.exit_json(changed=not module.check_mode, msg="; ".join(problems) or "every slice reported", **result)


if __name__ == "__main__":
    main()
