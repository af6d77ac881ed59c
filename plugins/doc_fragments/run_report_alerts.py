# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Options of the run_report callback that tell someone: the Pushgateway push (module_utils/_run_report_push.py).
    DOCUMENTATION = r"""
options:
  pushgateway_url:
    description:
      - Base URL of a Prometheus Pushgateway (for example C(http://pushgateway:9091)); empty pushes nothing.
      - At the end of every run (failed and interrupted runs too) the run's metrics replace the group
        C(job=runbook_ops), C(schedule=<name>) (and C(slice=<n>), see O(report_slice)).
      - A Pushgateway that is down or slow never fails the run; it delays it by at most O(pushgateway_timeout)
        and a warning says the metrics were not pushed.
      - The variable C(runbook_pushgateway_url) overrides it.
    type: str
    env:
      - name: RUNBOOK_PUSHGATEWAY_URL
    ini:
      - section: callback_runbook_report
        key: pushgateway_url
  pushgateway_timeout:
    description: Seconds the whole push may take (connect, send, answer). The variable C(runbook_pushgateway_timeout) overrides it.
    type: float
    default: 10
    env:
      - name: RUNBOOK_PUSHGATEWAY_TIMEOUT
    ini:
      - section: callback_runbook_report
        key: pushgateway_timeout
  report_slice:
    description:
      - The slice of a sliced job this run is (AWX job slicing), added to the Pushgateway group as C(slice),
        so that the slices of one schedule do not replace each other's metrics. Empty for an unsliced run.
      - The variable C(runbook_report_slice) overrides it.
    type: str
    env:
      - name: RUNBOOK_REPORT_SLICE
    ini:
      - section: callback_runbook_report
        key: report_slice
"""
