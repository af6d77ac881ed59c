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
"""
