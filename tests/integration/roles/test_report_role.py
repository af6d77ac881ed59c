# SPDX-License-Identifier: GPL-3.0-or-later
"""The report role: per-host JSON file (also in check mode), set_stats, argument specs."""
from __future__ import annotations

import json
import sys

PLAYBOOK = """
- name: Report role
  hosts: localhost
  gather_facts: false
  roles:
    - role: runbook.ops.report
"""


def test_report_written_in_check_mode_and_published(ansible_playbook, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    extra = {"ansible_python_interpreter": sys.executable, "runbook_report_dir": str(tmp_path / "out"),
             "report_name": "nightly", "report_results": {"a": {"x": 1}, "b": None}}
    run = ansible_playbook(playbook, extra_vars=extra, check=True)
    assert run.rc == 0, run.stdout[-3000:]
    files = list((tmp_path / "out").glob("nightly-localhost-*.json"))
    assert len(files) == 1
    data = json.loads(files[0].read_text())
    assert data["check_mode"] is True and data["results"] == {"a": {"x": 1}, "b": None}
    stats = run.task_results("runbook.ops.report : Write the JSON report of the host")[0]["ansible_stats"]
    assert stats["per_host"] is False
    assert stats["data"]["runbook_reports"]["localhost"]["steps"] == ["a"]


def test_report_argument_specs_reject_wrong_types(ansible_playbook, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    run = ansible_playbook(playbook, extra_vars={"ansible_python_interpreter": sys.executable,
                                                 "report_dir": str(tmp_path), "report_results": "everything"})
    assert run.rc != 0
    assert "report_results" in run.stdout
    assert not list(tmp_path.glob("*.json"))
