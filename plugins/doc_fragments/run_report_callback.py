# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # The options of the run report callbacks: runbook.ops.run_report (enabled in ansible.cfg) and the
    # copy the collection's playbooks load by themselves (playbooks/callback_plugins/runbook_ops_run_report.py).
    DOCUMENTATION = r"""
options:
  report_dir:
    description: Directory of the run reports on the controller.
    type: path
    default: /var/tmp/runbook-reports
    env:
      - name: RUNBOOK_REPORT_DIR
    ini:
      - section: callback_runbook_report
        key: report_dir
  metrics_dir:
    description: Directory of node_exporter's textfile collector; empty writes no metrics. Default C(<report_dir>/metrics).
    type: str
    env:
      - name: RUNBOOK_METRICS_DIR
    ini:
      - section: callback_runbook_report
        key: metrics_dir
  keep_last:
    description: Run reports of the same name to keep (C(0) keeps all).
    type: int
    default: 30
    env:
      - name: RUNBOOK_REPORT_KEEP_LAST
    ini:
      - section: callback_runbook_report
        key: keep_last
  name:
    description: Name of the run (first part of the file names); default the playbook's file name without C(.yml).
    type: str
    env:
      - name: RUNBOOK_REPORT_NAME
    ini:
      - section: callback_runbook_report
        key: name
  data_loss_rows_share:
    description: Warn when a table of a new PostgreSQL backup has lost more than this share of its rows.
    type: float
    default: 0.5
    env:
      - name: RUNBOOK_DATA_LOSS_ROWS_SHARE
    ini:
      - section: callback_runbook_report
        key: data_loss_rows_share
  data_loss_size_share:
    description: Warn when a new PostgreSQL backup is smaller than the previous verified one by more than this share.
    type: float
    default: 0.5
    env:
      - name: RUNBOOK_DATA_LOSS_SIZE_SHARE
    ini:
      - section: callback_runbook_report
        key: data_loss_size_share
  report_store:
    description:
      - A directory every slice of a sliced job can write to (for AWX job slicing, a volume every execution
        node mounts). When set, the run also puts its run report in C(<report_store>/<name>/<report_job>/slice-<slice>.json),
        the slice being O(report_slice) (default the variable C(awx_job_id)).
      - When the last of O(report_slice_count) slices has written its report, that slice merges them into one
        run report of the whole job beside them (every host once, the worst status, the slices that failed;
        C(runbook.ops.run_report_slices) and C(playbooks/merge_slices.yml) do the same at the end of a workflow,
        and also name the slices that never reported).
      - A store that cannot be written to makes a warning; the run's own report is written as before.
      - The variable C(runbook_report_store) overrides it.
    type: path
    env:
      - name: RUNBOOK_REPORT_STORE
    ini:
      - section: callback_runbook_report
        key: report_store
  report_slice_count:
    description:
      - How many slices the job has (the job template's C(job_slice_count)); 0 or 1 for an unsliced run, whose
        report is still stored when O(report_store) is set but never merged.
      - The variable C(runbook_report_slice_count) overrides it.
    type: int
    default: 0
    env:
      - name: RUNBOOK_REPORT_SLICE_COUNT
    ini:
      - section: callback_runbook_report
        key: report_slice_count
  report_job:
    description:
      - The key all slices of one job share, a simple name; default the variable C(awx_workflow_job_id) (AWX runs
        a sliced job as a workflow of its slices), else C(awx_job_id), else the run's stamp.
      - The variable C(runbook_report_job) overrides it.
    type: str
    env:
      - name: RUNBOOK_REPORT_JOB
    ini:
      - section: callback_runbook_report
        key: report_job
"""
