# SPDX-License-Identifier: GPL-3.0-or-later
"""The logs role through ansible-playbook (connection local) on temporary log directories."""
from __future__ import annotations

import gzip
import os
import shutil
import sys
import time

import pytest

PLAYBOOK = """
- name: Logs role
  hosts: localhost
  gather_facts: false
  roles:
    - role: runbook.ops.logs
  post_tasks:
    - name: Show results
      ansible.builtin.debug:
        var: logs_results
"""

DAY = 86400


@pytest.fixture
def tree(tmp_path):
    logs = tmp_path / "log"
    logs.mkdir()
    now = time.time()
    (logs / "app.log").write_text(
        "2026-11-20 10:00:00 INFO started\n"
        "2026-11-20 10:01:02 ERROR payment 1b4e28ba-2fa1-11d2-883f-0016d3cca427 failed after 311 ms\n"
        "2026-11-20 10:01:03 ERROR payment 9c4e28ba-2fa1-11d2-883f-0016d3cca427 failed after 12 ms\n"
        "2026-11-20 10:01:04 CRITICAL db connection lost to 10.0.0.5:5432\n")
    nginx = tmp_path / "nginx-error.log"
    nginx.write_text("2026/11/20 10:01:02 [error] 12#12: *5 connect() failed (111: Connection refused)\n")
    for name, age_days in (("app.log.1", 3), ("app.log.2", 1), ("app.log.3.gz", 40), ("app.log.4", 45)):
        path = logs / name
        if name.endswith(".gz"):
            with gzip.open(path, "wt") as handle:
                handle.write("ERROR old\n")
        else:
            path.write_text("ERROR rotated\n")
        os.utime(path, (now - age_days * DAY, now - age_days * DAY))
    outside = tmp_path / "other"
    outside.mkdir()
    (outside / "keep.log.9").write_text("x\n")
    os.utime(outside / "keep.log.9", (now - 90 * DAY, now - 90 * DAY))
    etc = tmp_path / "logrotate.d"
    etc.mkdir()
    return tmp_path


def role_vars(tree, **extra):
    values = {
        "ansible_python_interpreter": sys.executable,
        "runbook_app_name": "shop",
        "runbook_runtime": "systemd",
        "runbook_services": ["runbook-test-nonexistent.service"],
        "logs_logrotate_dir": str(tree / "logrotate.d"),
        "logs_logrotate_paths": [str(tree / "log" / "*.log")],
        "logs_logrotate_command": shutil.which("logrotate") or "/usr/sbin/logrotate",
        "logs_cleanup_dirs": [str(tree / "log")],
        "logs_summary_paths": [str(tree / "log" / "*.log"), str(tree / "nginx-error.log"), str(tree / "missing.log")],
    }
    values.update(extra)
    return values


def results(run):
    return run.task_results("Show results")[0]["logs_results"]


def test_logs_role_check_then_real_run_then_unchanged(tree, ansible_playbook, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    log = tree / "log"

    check = ansible_playbook(playbook, extra_vars=role_vars(tree), check=True)
    assert check.rc == 0, check.stdout[-3000:]
    preview = results(check)
    assert preview["logrotate"]["changed"] is True
    assert preview["compressed"] == [str(log / "app.log.1")]
    assert sorted(preview["deleted"]) == [str(log / "app.log.3.gz"), str(log / "app.log.4")]
    assert not (tree / "logrotate.d" / "shop").exists()
    assert sorted(p.name for p in log.iterdir()) == ["app.log", "app.log.1", "app.log.2", "app.log.3.gz", "app.log.4"]
    top = preview["summary"]["patterns"][0]
    assert top["pattern"] == "<ts> ERROR payment <uuid> failed after <n> ms" and top["count"] == 2
    assert any(p["pattern"].startswith("<ts> [error] <n>#<n>") for p in preview["summary"]["patterns"])
    assert preview["services"]["lines"] == {"runbook-test-nonexistent.service": []}

    run = ansible_playbook(playbook, extra_vars=role_vars(tree))
    assert run.rc == 0, run.stdout[-3000:]
    done = results(run)
    conf = (tree / "logrotate.d" / "shop").read_text()
    assert f"{log}/*.log" in conf and "rotate 14" in conf and "copytruncate" in conf
    assert sorted(p.name for p in log.iterdir()) == ["app.log", "app.log.1.gz", "app.log.2"]
    assert sorted(done["deleted"]) == sorted(preview["deleted"])
    assert (tree / "other" / "keep.log.9").exists()
    with gzip.open(log / "app.log.1.gz", "rt") as handle:
        assert handle.read() == "ERROR rotated\n"

    again = ansible_playbook(playbook, extra_vars=role_vars(tree))
    assert again.rc == 0, again.stdout[-3000:]
    assert again.stats["localhost"]["changed"] == 0, again.stdout[-3000:]


def test_logs_role_rejects_invalid_logrotate_config(tree, ansible_playbook, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    run = ansible_playbook(playbook, extra_vars=role_vars(tree, logs_logrotate_maxsize="lots"))
    assert run.rc != 0
    assert not (tree / "logrotate.d" / "shop").exists()


def test_logs_role_argument_specs_reject_wrong_types(tree, ansible_playbook, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    run = ansible_playbook(playbook, extra_vars=role_vars(tree, logs_logrotate_rotate="many",
                                                          logs_runtime="lxc"))
    assert run.rc != 0
    assert "logs_logrotate_rotate" in run.stdout
    assert "logs_runtime" in run.stdout
