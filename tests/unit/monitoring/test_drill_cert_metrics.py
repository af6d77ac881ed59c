# SPDX-License-Identifier: GPL-3.0-or-later
"""The restore drill and certificate expiry metrics the alert rules and the dashboard use: what the run
report writes for a successful, a failed and a check-mode drill and for a certificate probe (numbers as
Prometheus prints them), and `promtool test rules` with the role's rules on those very lines: a drill
that succeeded and then failed still fires RunbookRestoreDrillOverdue once it is older than its quarter."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from ansible_collections.runbook.ops.plugins.module_utils import _run_report_merge as M
from ansible_collections.runbook.ops.plugins.module_utils import _run_report_metrics as PM

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_monitoring_rules import RULES_NAME, promtool, render, role_defaults  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_run_report import health, host_report, probe  # noqa: E402

DRILL_METRICS = ("runbook_restore_drill_last_success_timestamp_seconds", "runbook_restore_drill_duration_seconds")
CERT = "runbook_probe_cert_expiry_timestamp_seconds"


def drill(database, finished_at=None, duration=None, differences=()):
    """A pg_restore result as the pg_backup role registers it in its drill loop."""
    out = {"item": database, "changed": True, "source_database": database, "target_database": f"{database}_drill",
           "row_count_differences": list(differences)}
    if finished_at:
        out.update(finished_at=finished_at, duration_seconds=duration)
    if differences:
        out.update(failed=True, msg=f"row counts differ for {len(differences)} table(s)")
    return out


def cert_probe(name, not_after):
    p = probe(name, kind="certificate")
    p.update(value=20.5, unit="d", latency_ms=None, details={"not_after": "-", "not_after_timestamp": not_after})
    return p


def report(*drills, probes=(), schedule="quarterly", check_mode=False):
    hosts = [host_report("db1", check_mode=check_mode, pg_backup={"backup": None, "restore": None, "drill": list(drills)})]
    if probes:
        hosts.append(host_report("web1", health=health(*probes)))
    return M.merge(hosts, schedule, "20261201T020000Z")


def lines(text, *names):
    return [x for x in text.splitlines() if x.split("{")[0] in names]


def test_successful_drill_and_certificate_print_the_prometheus_way():
    text = PM.render_metrics(report(drill("shop", "2026-12-01T02:14:09.123456Z", 61.8),
                                    drill("crm", "2026-12-01T02:15:00.000000Z", 3601),
                                    probes=[cert_probe("shop tls", 1798761600), probe("db")]))
    assert lines(text, *DRILL_METRICS) == [
        'runbook_restore_drill_last_success_timestamp_seconds{schedule="quarterly",host="db1",kind="postgres",name="crm"} 1796091300',
        'runbook_restore_drill_last_success_timestamp_seconds{schedule="quarterly",host="db1",kind="postgres",name="shop"} 1796091249.123456',
        'runbook_restore_drill_duration_seconds{schedule="quarterly",host="db1",kind="postgres",name="crm"} 3601',
        'runbook_restore_drill_duration_seconds{schedule="quarterly",host="db1",kind="postgres",name="shop"} 61.8',
    ]
    # one sample, of the certificate probe only (the tcp probe has no certificate)
    assert lines(text, CERT) == [
        f'{CERT}{{schedule="quarterly",host="web1",probe="shop tls",kind="certificate"}} 1798761600']
    for name in DRILL_METRICS + (CERT,):
        assert f"# TYPE {name} gauge" in text
    proc = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_failed_and_check_mode_drills_emit_no_success():
    """A drill whose row counts differ failed: no new success time, no duration (the problem is in the
    report); a check-mode drill restored nothing."""
    rep = report(drill("shop", "2026-12-01T02:14:09.000000Z", 12.0, differences=[{"table": "public.t"}]))
    assert rep["status"] == "critical" and rep["drills"] == []
    assert lines(PM.render_metrics(rep), *DRILL_METRICS) == []
    rep = report(drill("shop"), check_mode=True)
    assert rep["drills"][0]["finished_at"] is None
    assert lines(PM.render_metrics(rep), *DRILL_METRICS) == []


def test_a_probe_without_a_certificate_timestamp_emits_none():
    text = PM.render_metrics(report(probes=[cert_probe("expired", None)]))
    assert lines(text, CERT) == []
    assert lines(text, "runbook_probe_status")  # the probe itself is still there


def _series(*texts):
    """promtool input_series from the metrics of runs one day apart: a series a run did not write is
    absent ('_') that day, as when the textfile is rewritten or the Pushgateway group replaced."""
    runs = [dict(x.rsplit(" ", 1) for x in t.splitlines() if not x.startswith("#")) for t in texts]
    names = sorted(set().union(*runs))
    return [{"series": n, "values": " ".join(r.get(n, "_") for r in runs)} for n in names]


def test_promtool_fires_the_rules_on_the_written_metrics(tmp_path):
    """Day 0: a drill succeeds (finished at 0, 3601 s: over the 3600 s RTO) and a certificate expires in 6 days.
    Days 1-100: the drill fails every day (no success sample). The success of day 0 is kept by the rule's
    last_over_time: RunbookRestoreDrillOverdue fires after 95 days, not before."""
    ok = PM.render_metrics(report(drill("shop", "1970-01-01T00:00:00.000000Z", 3601),
                                  probes=[cert_probe("shop tls", 6 * 86400)]))
    failed = PM.render_metrics(report(drill("shop", "1970-01-02T00:00:00.000000Z", 5, differences=[{"table": "t"}])))
    assert lines(failed, *DRILL_METRICS) == []
    render(tmp_path)
    url = role_defaults()["monitoring_runbook_url"]

    def alert(name, labels, summary):
        return {"exp_labels": dict(labels, severity=labels.get("severity", "warning")),
                "exp_annotations": {"summary": summary, "runbook_url": f"{url}#alert-{name.lower()}"}}

    shop = {"host": "db1", "kind": "postgres", "name": "shop"}
    tls = {"host": "web1", "probe": "shop tls"}
    cases = [
        {"eval_time": "0m", "alertname": "RunbookRestoreDrillSlow", "exp_alerts": [
            alert("RunbookRestoreDrillSlow", shop, "The restore drill of shop on db1 took 1h 0m 1s, over the RTO of 3600 s")]},
        {"eval_time": "0m", "alertname": "RunbookCertificateExpiring", "exp_alerts": [
            alert("RunbookCertificateExpiring", dict(tls, severity="critical"),
                  "The certificate of probe shop tls on web1 expires in 6d 0h 0m 0s"),
            alert("RunbookCertificateExpiring", dict(tls, severity="warning"),
                  "The certificate of probe shop tls on web1 expires in 6d 0h 0m 0s")]},
        {"eval_time": "0m", "alertname": "RunbookRestoreDrillOverdue", "exp_alerts": []},
        {"eval_time": "94d", "alertname": "RunbookRestoreDrillOverdue", "exp_alerts": []},
        {"eval_time": "96d", "alertname": "RunbookRestoreDrillOverdue", "exp_alerts": [
            alert("RunbookRestoreDrillOverdue", shop, "The last successful restore drill of shop on db1 was 96d 0h 0m 0s ago")]},
        {"eval_time": "96d", "alertname": "RunbookRestoreDrillSlow", "exp_alerts": []},
    ]
    doc = {"rule_files": [RULES_NAME], "evaluation_interval": "1d",
           "tests": [{"interval": "1d", "input_series": _series(ok, *[failed] * 100), "alert_rule_test": cases}]}
    (tmp_path / "drill_test.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    proc = subprocess.run([promtool(), "test", "rules", "drill_test.yml"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # and the test can fail: without the day-0 success nothing fires at day 96
    doc["tests"][0]["input_series"] = _series(failed, *[failed] * 100)
    (tmp_path / "drill_test.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    proc = subprocess.run([promtool(), "test", "rules", "drill_test.yml"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode != 0 and "RunbookRestoreDrillOverdue" in proc.stdout + proc.stderr
