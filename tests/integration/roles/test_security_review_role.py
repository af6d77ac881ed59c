# SPDX-License-Identifier: GPL-3.0-or-later
"""The security_review role (connection local): access logs, a real certificate file, argument specs."""
from __future__ import annotations

import subprocess
import sys

PLAYBOOK = """
- name: Security review role
  hosts: localhost
  gather_facts: false
  roles:
    - role: runbook.ops.security_review
  post_tasks:
    - name: Show results
      ansible.builtin.debug:
        var: security_review_results
"""

ACCESS = """\
203.0.113.9 - - [20/Nov/2026:10:00:00 +0000] "POST /login HTTP/1.1" 401 12 "-" "curl" 0.010
203.0.113.9 - - [20/Nov/2026:10:00:01 +0000] "POST /login HTTP/1.1" 401 12 "-" "curl" 0.012
203.0.113.9 - - [20/Nov/2026:10:00:02 +0000] "GET /admin HTTP/1.1" 403 12 "-" "curl" 0.020
198.51.100.7 - - [20/Nov/2026:10:00:03 +0000] "GET /items?id=1'%20OR%20'1'='1 HTTP/1.1" 500 5 "-" "x" 1.750
192.0.2.1 - - [20/Nov/2026:10:00:04 +0000] "GET / HTTP/1.1" 200 5 "-" "x" 0.002
"""


def make_cert(tmp_path, days):
    cert = tmp_path / f"cert{days}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(cert), "-days", str(days), "-subj", "/CN=test.example"],
                   check=True, capture_output=True)
    return cert


def role_vars(tmp_path, **extra):
    values = {
        "ansible_python_interpreter": sys.executable,
        "security_review_access_logs": [str(tmp_path / "access.log*")],
        "security_review_certificates": [{"name": "site", "path": str(make_cert(tmp_path, 5)), "warn": 30, "crit": 7}],
    }
    values.update(extra)
    return values


def test_security_review_check_and_real_run(ansible_playbook, tmp_path):
    (tmp_path / "access.log").write_text(ACCESS)
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    for check in (True, False):
        run = ansible_playbook(playbook, extra_vars=role_vars(tmp_path), check=check)
        assert run.rc == 0, run.stdout[-3000:]
        assert run.stats["localhost"]["changed"] == 0
        res = run.task_results("Show results")[0]["security_review_results"]
        access = res["access"]
        assert access["clients"][0] == {"ip": "203.0.113.9", "requests": 3, "status_401": 2, "status_403": 1,
                                        "status_5xx": 0, "suspicious": 0}
        assert access["totals"]["suspicious"] == 1
        assert access["suspicious_requests"][0]["ip"] == "198.51.100.7"
        assert access["suspicious_requests"][0]["categories"] == ["sql_injection"]
        assert access["slowest"][0]["request_time"] == 1.75
        assert res["certificates"][0]["status"] == "critical"
        assert res["pip_outdated"] is None and res["npm_audit"] is None


def test_security_review_fails_on_critical_certificate_when_asked(ansible_playbook, tmp_path):
    (tmp_path / "access.log").write_text(ACCESS)
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    run = ansible_playbook(playbook, extra_vars=role_vars(tmp_path, security_review_certificates_fail_on="critical"))
    assert run.rc != 0


def test_security_review_argument_specs_reject_wrong_types(ansible_playbook, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    run = ansible_playbook(playbook, extra_vars=role_vars(tmp_path, security_review_access_top="all",
                                                          security_review_certificates="site.pem"))
    assert run.rc != 0
    assert "security_review_access_top" in run.stdout
    assert "security_review_certificates" in run.stdout
