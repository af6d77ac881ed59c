# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/monitoring's alert rules: rendered by Ansible's template module with the role's defaults and with
every threshold changed (thresholds.yml), then `promtool check rules` and `promtool test rules` (Debian's
prometheus package: scripts/setup_monitoring.sh) on the promtool test files next to this one."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from harness.ansible import run_module  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
ROLE = REPO / "roles" / "monitoring"
RULES_NAME = "runbook-ops.rules.yml"
SEVERITIES = {"critical", "warning", "info"}


def promtool() -> str:
    path = shutil.which("promtool")
    if not path:
        pytest.fail("promtool not found: run scripts/setup_monitoring.sh (Debian's prometheus package)")
    return path


def role_defaults() -> dict:
    return yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())


def render(dest: Path, overrides: dict | None = None) -> Path:
    """The rules file as the role writes it: ansible.builtin.template with the role's variables."""
    variables = dict(role_defaults(), **(overrides or {}))
    res = run_module("ansible.builtin.template", {"src": str(ROLE / "templates" / f"{RULES_NAME}.j2"),
                                                  "dest": str(dest / RULES_NAME)}, extra_vars=variables)
    assert not res.failed, res.result
    return dest / RULES_NAME


def rules_of(path: Path) -> list[dict]:
    return [r for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]


def promtool_test(workdir: Path, test_file: str, runbook_url: str) -> subprocess.CompletedProcess:
    """Copy a promtool test file next to the rendered rules, with each expected alert's runbook_url
    (the URL plus the alert's README anchor) filled in, and run `promtool test rules` on it."""
    doc = yaml.safe_load((HERE / test_file).read_text())
    for case in doc["tests"]:
        for check in case["alert_rule_test"]:
            for alert in check.get("exp_alerts", []):
                alert.setdefault("exp_annotations", {})["runbook_url"] = f"{runbook_url}#alert-{check['alertname'].lower()}"
    (workdir / test_file).write_text(yaml.safe_dump(doc, sort_keys=False))
    return subprocess.run([promtool(), "test", "rules", test_file], cwd=workdir, capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.fixture(scope="module")
def default_rules(tmp_path_factory) -> Path:
    return render(tmp_path_factory.mktemp("rules-default"))


@pytest.fixture(scope="module")
def changed_rules(tmp_path_factory) -> Path:
    return render(tmp_path_factory.mktemp("rules-changed"), yaml.safe_load((HERE / "thresholds.yml").read_text()))


@pytest.mark.parametrize("fixture", ["default_rules", "changed_rules"])
def test_promtool_check_rules(request, fixture):
    path = request.getfixturevalue(fixture)
    proc = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"SUCCESS: \d+ rules found", proc.stdout)


@pytest.mark.parametrize("test_file", ["rules_test.yml", "rules_deadman_test.yml"])
def test_promtool_default_thresholds(default_rules, test_file):
    proc = promtool_test(default_rules.parent, test_file, role_defaults()["monitoring_runbook_url"])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_changed_thresholds(changed_rules):
    url = yaml.safe_load((HERE / "thresholds.yml").read_text())["monitoring_runbook_url"]
    proc = promtool_test(changed_rules.parent, "rules_thresholds_test.yml", url)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_changed_thresholds_fail_against_defaults(default_rules, tmp_path):
    """The threshold tests hold only with the changed variables: against the defaults they fail."""
    shutil.copy(default_rules, tmp_path / RULES_NAME)
    proc = promtool_test(tmp_path, "rules_thresholds_test.yml", role_defaults()["monitoring_runbook_url"])
    assert proc.returncode != 0
    for alert in ("RunbookScheduleLate", "RunbookBackupTooOld", "HighErrorRate", "HighCPU", "DiskAlmostFull"):
        assert f"alertname: {alert}," in proc.stdout + proc.stderr, alert


def test_every_rule_tested_and_documented(default_rules):
    """Each alert has a tier, a runbook_url whose anchor the README's Alerts section has, and at least one
    promtool case where it fires."""
    readme = (REPO / "README.md").read_text()
    tested = set()
    for name in ("rules_test.yml", "rules_deadman_test.yml"):
        for case in yaml.safe_load((HERE / name).read_text())["tests"]:
            tested |= {c["alertname"] for c in case["alert_rule_test"] if c.get("exp_alerts")}
    rules = rules_of(default_rules)
    assert len(rules) >= 30
    for rule in rules:
        name = rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, name
        assert rule["annotations"]["runbook_url"].endswith(f"#alert-{name.lower()}"), name
        assert f'<a id="alert-{name.lower()}"></a>' in readme, f"README has no anchor for {name}"
        assert name in tested, f"no promtool case fires {name}"
    assert {r["labels"]["severity"] for r in rules} == SEVERITIES


def test_invalid_threshold_is_refused_by_promtool(tmp_path):
    """What the role's validation step relies on: a broken variable makes `promtool check rules` fail."""
    path = render(tmp_path, {"monitoring_lookback": "a fortnight"})
    proc = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode != 0
    assert "a fortnight" in proc.stdout + proc.stderr or "parse error" in (proc.stdout + proc.stderr).lower()
