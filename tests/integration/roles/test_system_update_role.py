# SPDX-License-Identifier: GPL-3.0-or-later
"""The system_update role and playbook (connection local) on this Debian machine.

The upgrade itself runs in check mode only (a real upgrade of the test machine is not a test
side effect); the real run detects the reboot requirement without upgrading.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]


def inventory(tmp_path, **extra):
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    values = {"runbook_report_dir": str(tmp_path / "reports"), "system_update_apt_cache_valid_time": 86400 * 30}
    values.update(extra)
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": host}, "vars": values}}))
    return str(path)


def report(tmp_path):
    files = sorted((tmp_path / "reports").glob("system_update-localhost-*.json"))
    assert len(files) == 1, files
    return json.loads(files[0].read_text())["results"]["system_update"]


def test_system_update_check_mode_lists_upgrades(ansible_playbook, tmp_path):
    run = ansible_playbook(REPO / "playbooks" / "system_update.yml", inventory=inventory(tmp_path), check=True)
    assert run.rc == 0, run.stdout[-3000:]
    res = report(tmp_path)
    assert res["pkg_mgr"] == "apt"
    assert isinstance(res["packages"], list)
    assert res["rebooted"] is False


def test_system_update_real_run_detects_reboot_requirement(ansible_playbook, tmp_path):
    flag = Path("/var/run/reboot-required")
    existed = flag.exists()
    if not existed:
        flag.write_text("*** System restart required ***\n")
    try:
        run = ansible_playbook(REPO / "playbooks" / "system_update.yml",
                               inventory=inventory(tmp_path, system_update_upgrade_enabled=False))
        assert run.rc == 0, run.stdout[-3000:]
        res = report(tmp_path)
        assert res["reboot_required"] is True and res["rebooted"] is False and res["upgrade"] is None
        changed = [t["task"]["name"] for play in run.data["plays"] for t in play["tasks"]
                   if t["hosts"].get("localhost", {}).get("changed") and "runbook.ops.report" not in t["task"]["name"]]
        assert changed == []
    finally:
        if not existed:
            flag.unlink()


def test_system_update_argument_specs_reject_wrong_types(ansible_playbook, tmp_path):
    run = ansible_playbook(REPO / "playbooks" / "system_update.yml",
                           inventory=inventory(tmp_path, system_update_reboot="maybe", system_update_apt_upgrade="all"))
    assert run.rc != 0
    assert "system_update_reboot" in run.stdout
    assert "system_update_apt_upgrade" in run.stdout
