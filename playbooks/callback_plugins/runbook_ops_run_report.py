# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: runbook_ops_run_report
type: aggregate
short_description: The run report of the collection's playbooks, without any configuration
version_added: 0.1.0
author: runbook.ops maintainers (@runbook-ops)
description:
  - The callback plugin C(runbook.ops.run_report), which Ansible loads by itself for the collection's playbooks
    (a C(callback_plugins) directory next to a playbook is loaded, and a callback that does not need enabling runs).
    So C(ansible-playbook runbook.ops.daily) writes the full run report, with every host the run targeted and its
    outcome and messages, whatever the user's C(ansible.cfg) says.
  - Steps aside when C(runbook.ops.run_report) is enabled (C(callbacks_enabled) or C(ANSIBLE_CALLBACKS_ENABLED)),
    which then writes the report itself.
  - With O(auto=false) it does nothing but print, at the start of the run, how to enable the callback; the role
    C(runbook.ops.report) then writes a partial report.
options:
  auto:
    description: Write the run report when C(runbook.ops.run_report) is not enabled.
    type: bool
    default: true
    env:
      - name: RUNBOOK_RUN_REPORT_AUTO
    ini:
      - section: callback_runbook_report
        key: auto
extends_documentation_fragment:
  - runbook.ops.run_report_callback
  - runbook.ops.run_report_alerts
"""

from ansible import constants as C
from ansible_collections.runbook.ops.plugins.callback.run_report import CallbackModule as RunReport
from ansible_collections.runbook.ops.plugins.module_utils._run_report_partial import ENABLE_HINT

ENABLED_NAME = "runbook.ops.run_report"


class CallbackModule(RunReport):
    CALLBACK_NAME = "runbook_ops_run_report"
    CALLBACK_NEEDS_ENABLED = False

    def v2_playbook_on_start(self, playbook):
        if ENABLED_NAME in (C.CALLBACKS_ENABLED or []):
            return  # runbook.ops.run_report itself writes the report
        if not self.get_option("auto"):
            self._display.display(f"runbook.ops: the run report callback is off (auto = false): the report play writes "
                                  f"a partial run report. {ENABLE_HINT}")
            return
        super().v2_playbook_on_start(playbook)
