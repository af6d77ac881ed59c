# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""runbook.ops.host_report: a host's JSON report written by the worker on the controller.

Why an action plugin: the report role ran a copy delegated to localhost (a module run, a Python start
on the controller per host), two set_facts and a set_stats for each host; on a fleet each of those is a
worker fork in the controller's one busy process. Here it is one task, and no module runs.
"""
from __future__ import annotations

import json
import os
import re

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.parsing.ajson import AnsibleJSONEncoder
from ansible.plugins.action import ActionBase

from ansible_collections.runbook.ops.plugins.module_utils._run_report_files import write_atomic

# the stamp and the schedule name become part of a file name
_STAMP = re.compile(r"^\d{8}T\d{6}Z$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

ARGUMENT_SPEC = {
    "report_dir": {"type": "path", "required": True},
    "name": {"type": "str", "required": True},
    "stamp": {"type": "str", "required": True},
    "results": {"type": "dict", "default": {}},
    "failed_steps": {"type": "list", "elements": "str", "default": []},
    "step_failures": {"type": "list", "elements": "dict", "default": []},
    "backup_history": {"type": "list", "elements": "dict", "default": []},
}


def _ran(value) -> bool:
    # a step that did not run is null; before ansible-core 2.19, default(None) in a template gives ""
    return value is not None and value != ""


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        if not _STAMP.match(args["stamp"]):
            raise AnsibleActionFail(f"stamp: {args['stamp']!r} is not a run stamp (YYYYMMDDTHHMMSSZ)")
        if not _NAME.match(args["name"]):
            raise AnsibleActionFail(f"name: {args['name']!r} must be letters, digits, '.', '_' or '-' (it names a file)")
        task_vars = task_vars or {}
        host = to_text(task_vars["inventory_hostname"])
        report = {
            "schedule": args["name"], "host": host, "stamp": args["stamp"],
            "check_mode": bool(task_vars.get("ansible_check_mode", False)),
            "results": args["results"], "failed_steps": args["failed_steps"], "step_failures": args["step_failures"],
            "backup_history": args["backup_history"],
        }
        path = os.path.join(args["report_dir"], f"{args['name']}-{host}-{args['stamp']}.json")
        try:
            os.makedirs(args["report_dir"], mode=0o750, exist_ok=True)
            write_atomic(path, json.dumps(report, cls=AnsibleJSONEncoder, indent=2, sort_keys=True) + "\n")
        except OSError as exc:
            raise AnsibleActionFail(f"report_dir: cannot write the host report {path}: {exc.strerror or exc}") from exc
        steps = [k for k, v in args["results"].items() if _ran(v)]
        result.update(changed=True, path=path, steps=steps, ansible_facts={"report_file": path}, ansible_stats={
            "data": {"runbook_reports": {host: {"file": path, "schedule": args["name"], "check_mode": report["check_mode"],
                                                "steps": steps, "failed_steps": args["failed_steps"]}}},
            "per_host": False, "aggregate": True})
        return result
