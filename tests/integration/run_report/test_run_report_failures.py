# SPDX-License-Identifier: GPL-3.0-or-later
"""The run report when things go wrong: the real schedule playbooks on a fleet inventory (aliases of
this machine through the local connection, plus hosts behind an SSH port where nothing listens),
against the test session's real PostgreSQL and Redis. Every host the run targeted must be in the
JSON, the HTML and the metrics with its true status."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit"))
from test_run_report import parse_exposition, parse_html  # noqa: E402
from test_run_report_browser import CHROMIUM, chromium  # noqa: E402

from harness.net import wait_until  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
DB = "run_report_faults"
LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}


@pytest.fixture(scope="module")
def fleet(pg, redis_server, closed_port, tmp_path_factory):
    base = tmp_path_factory.mktemp("rr_faults")
    pg.psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    pg.psql(f"CREATE DATABASE {DB}")
    pg.psql("CREATE TABLE orders (id int PRIMARY KEY, note text);"
            " INSERT INTO orders SELECT g, 'n' || g FROM generate_series(1, 20000) g;", database=DB)
    login = pg.login()
    down = {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": closed_port,
            "ansible_user": "nobody", "ansible_ssh_common_args": "-o ConnectTimeout=5 -o BatchMode=yes"}
    common = {
        "runbook_runtime": "systemd", "runbook_pg_login": login, "runbook_databases": [DB],
        "runbook_redis_login": redis_server.conn_args(), "runbook_report_dir": str(base / "reports"),
        "runbook_metrics_dir": str(base / "metrics"), "runbook_backup_dir": str(base / "backups"),
        "runbook_services": [], "health_disk_paths": [str(base)], "health_disk_warn": 99, "health_disk_crit": 100,
        "logs_logrotate_enabled": False, "logs_cleanup_dirs": [], "logs_summary_paths": [],
        "runbook_monthly_system_update": True, "db_admin_password": "s3cret-in-a-message",
    }

    def inventory(name: str, hosts: dict) -> str:
        """hosts: group -> {host: vars}; the first group's first host comes first in `all`."""
        path = base / f"{name}.yml"
        path.write_text(yaml.safe_dump({"all": {"vars": common, "children": {
            group: {"hosts": members} for group, members in hosts.items()}}}, sort_keys=False))
        return str(path)

    def run(playbook: str, inv: str, check: bool = False, extra: dict | None = None):
        from harness.ansible import run_playbook

        result = run_playbook(REPO / "playbooks" / playbook, inventory=inv, check=check, extra_vars=extra,
                              env={"ANSIBLE_SHOW_CUSTOM_STATS": "1"})
        summary = result.data.get("global_custom_stats", {}).get("runbook_run_report")
        assert summary, result.stdout[-3000:]
        report = json.loads(Path(summary["json"]).read_text())
        metrics = parse_exposition(Path(summary["metrics"]).read_text())
        return result, summary, report, metrics

    yield base, down, inventory, run
    pg.psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


def _hosts(report):
    return {h["host"]: (h["outcome"], h["status"]) for h in report["hosts"]}


def _metric(metrics, metric, schedule, **labels):
    key = tuple(sorted(dict(labels, schedule=schedule).items()))
    return metrics[(metric, key)]


@pytest.fixture(scope="module")
def daily_faults(fleet):
    """daily.yml: db1 healthy, db2 unreachable, db3 whose backup fails (its backup_dir is a file), app1 healthy."""
    base, down, inventory, run = fleet
    not_a_dir = base / "not-a-directory"
    not_a_dir.write_text("x")
    inv = inventory("daily", {"postgres": {"db1": LOCAL, "db2": down,
                                           "db3": dict(LOCAL, pg_backup_dir=str(not_a_dir))},
                              "app": {"app1": LOCAL}})
    return run("daily.yml", inv)


def test_unreachable_and_failed_hosts_are_reported_and_the_others_maintained(daily_faults):
    result, summary, report, metrics = daily_faults
    assert result.rc != 0
    hosts = _hosts(report)
    assert hosts.pop("db2") == ("unreachable", "critical") and hosts.pop("db3") == ("failed", "critical")
    assert {h: status for h, (_outcome, status) in hosts.items()} == {"db1": "ok", "app1": "ok"}
    assert report["status"] == "critical"
    # failed and unreachable first
    assert [h["host"] for h in report["hosts"]][:2] in (["db2", "db3"], ["db3", "db2"])
    db3 = next(h for h in report["hosts"] if h["host"] == "db3")
    first = db3["failures"][0]
    assert first["play"] == "Daily - PostgreSQL backup with verification and retention"
    assert first["role"] == "runbook.ops.pg_backup" and first["task"] and first["message"]
    # the healthy hosts were still maintained: db3's later play and app1's logs play ran
    steps = {h["host"]: h["steps"] for h in report["hosts"]}
    assert "logs" in steps["app1"] and "pg_backup" in steps["db1"] and "pg_maintenance" in steps["db3"]
    assert _metric(metrics, "runbook_run_status", "daily") == 2
    assert _metric(metrics, "runbook_host_unreachable", "daily", host="db2") == 1
    assert _metric(metrics, "runbook_host_unreachable", "daily", host="db3") == 0
    assert _metric(metrics, "runbook_host_outcome", "daily", host="db3", outcome="failed") == 1
    assert _metric(metrics, "runbook_backup_last_failure_timestamp_seconds", "daily",
                   host="db3", kind="postgres", name=DB) > 0
    assert _metric(metrics, "runbook_backup_last_failure_timestamp_seconds", "daily",
                   host="db1", kind="postgres", name=DB) == 0
    assert _metric(metrics, "runbook_backup_last_success_timestamp_seconds", "daily",
                   host="db1", kind="postgres", name=DB) > 0
    assert sorted(summary["failed_hosts"]) == ["db2", "db3"]
    assert "s3cret-in-a-message" not in Path(summary["json"]).read_text()


@pytest.mark.skipif(CHROMIUM is None, reason="SKIPPED: Debian's chromium is not installed")
def test_html_of_a_failed_run_in_chromium_shows_the_failures_first(daily_faults, tmp_path):
    _result, summary, report, _metrics = daily_faults
    dom, requests = chromium(Path(summary["html"]), tmp_path / "dom", "--dump-dom")
    assert [r["url"] for r in requests if not r["url"].startswith(("file:", "data:"))] == []
    parsed = parse_html(dom)
    text = " ".join(parsed.text)
    hosts_section = text.split("Hosts", 2)[-1]
    # the first host sections are the unreachable and the failed host, open, with the reason
    assert hosts_section.index("db2") < hosts_section.index("db1")
    assert hosts_section.index("db3") < hosts_section.index("app1")
    assert "unreachable" in text and "Connection refused" in text
    rows = [a for t, a in parsed.tags if t == "details" and "host" in a.get("class", "").split()]
    assert len(rows) == len(report["hosts"])
    assert {a["class"] for a in rows[:2]} == {"host host-unreachable", "host host-failed"}
    assert [("open" in a) for a in rows] == [True, True] + [False] * (len(rows) - 2)
    # the counts at the top agree with the table
    cards = dom.split('class="cards"')[1].split("</section>")[0]
    assert "Failed / unreachable<b>1 / 1</b>" in cards and f"Hosts<b>{len(report['hosts'])}</b>" in cards


def test_every_host_failing_and_check_mode_still_report(fleet):
    _base, down, inventory, run = fleet
    inv = inventory("all_down", {"postgres": {"db2": down}, "redis": {"cache2": down}})
    result, summary, report, metrics = run("daily.yml", inv, check=True)
    assert result.rc != 0 and report["check_mode"] is True and summary["check_mode"] is True
    assert _hosts(report) == {"db2": ("unreachable", "critical"), "cache2": ("unreachable", "critical")}
    assert _metric(metrics, "runbook_run_check_mode", "daily") == 1
    assert _metric(metrics, "runbook_host_status", "daily", host="cache2") == 2


def test_a_stopped_rolling_update_says_where_and_which_hosts_were_not_updated(fleet):
    """monthly.yml with its first host unreachable: the serial system update stops the whole run."""
    _base, down, inventory, run = fleet
    inv = inventory("monthly", {"postgres": {"db2": down, "db1": LOCAL}, "redis": {"cache1": LOCAL}})
    result, summary, report, metrics = run("monthly.yml", inv)
    assert result.rc != 0
    assert _hosts(report) == {"db2": ("unreachable", "critical"), "db1": ("not_reached", "warning"),
                              "cache1": ("not_reached", "warning")}
    stopped = report["run"]["stopped"]
    assert stopped["play"].startswith("Monthly - system updates") and stopped["serial"] is True
    assert stopped["failed"] == ["db2"] and stopped["not_reached"] == ["cache1", "db1"]
    assert sorted(summary["not_reached"]) == ["cache1", "db1"]
    assert _metric(metrics, "runbook_host_outcome", "monthly", host="db1", outcome="not_reached") == 1
    html = Path(summary["html"]).read_text()
    assert "The run stopped" in html and "Not reached (not updated): cache1, db1" in html


def test_data_loss_warning_when_a_table_loses_rows_and_none_when_it_grows(fleet, pg):
    _base, _down, inventory, run = fleet
    inv = inventory("backup", {"postgres": {"db1": LOCAL}})
    run("backup.yml", inv)
    pg.psql("INSERT INTO orders SELECT g, 'n' FROM generate_series(20001, 30000) g", database=DB)
    _r, _s, grown, metrics = run("backup.yml", inv)
    assert grown["data_loss"] == []
    assert _metric(metrics, "runbook_backup_data_loss_warnings", "backup", host="db1", kind="postgres", name=DB) == 0
    pg.psql("DELETE FROM orders WHERE id > 2000", database=DB)
    _r, summary, lost, metrics = run("backup.yml", inv)
    warnings = [w for w in lost["data_loss"] if w["table"]]
    assert [(w["table"], w["before"], w["after"]) for w in warnings] == [("public.orders", 30000, 2000)]
    since = grown["backup_history"][-1]["finished_at"][:10]
    assert warnings[0]["message"] == f"public.orders: 30,000 -> 2,000 rows (-93%) since the backup of {since}"
    assert lost["status"] == "warning" and warnings[0]["message"] in summary["data_loss"]
    assert _metric(metrics, "runbook_backup_data_loss_warnings", "backup", host="db1", kind="postgres", name=DB) >= 1
    assert "public.orders: 30,000 -&gt; 2,000 rows (-93%)" in Path(summary["html"]).read_text()


def test_an_interrupted_run_writes_what_it_saw(fleet, tmp_path):
    """SIGINT (Ctrl-C) while a task runs: the report is still written, marked interrupted."""
    from harness.ansible import ansible_env

    base, _down, inventory, _run = fleet
    inv = inventory("interrupt", {"app": {"app1": LOCAL, "app2": LOCAL}})
    playbook = tmp_path / "slow.yml"
    marker = tmp_path / "started"
    playbook.write_text(yaml.safe_dump([{"name": "Slow", "hosts": "app", "gather_facts": False, "tasks": [
        {"name": "Say it started", "ansible.builtin.file": {"path": str(marker), "state": "touch", "mode": "0600"},
         "run_once": True},
        {"name": "Wait", "ansible.builtin.command": "sleep 118", "changed_when": False}]}]))
    env = ansible_env({"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"})
    proc = subprocess.Popen([str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", inv, str(playbook)], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(marker.exists, 120, "the playbook's first task")
        # Ctrl-C while the slow task runs (its sleep exists), where an operator would press it: the main
        # process then waits on the workers' results, not in the middle of starting one
        wait_until(lambda: subprocess.run(["pgrep", "-f", "^sleep 118$"], capture_output=True,
                                          check=False).returncode == 0, 120, "the slow task")
        proc.send_signal(signal.SIGINT)
        out, _err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    reports = sorted((base / "reports").glob("slow-*.json"))
    assert len(reports) == 1, out[-3000:]
    report = json.loads(reports[0].read_text())
    assert report["run"]["interrupted"] is True and report["status"] == "warning"
    assert {h["host"] for h in report["hosts"]} == {"app1", "app2"}
    assert all("interrupted" in h["reason"] for h in report["hosts"] if h["outcome"] == "not_reached")


def test_failure_messages_are_redacted(fleet, tmp_path):
    from harness.ansible import run_playbook

    base, _down, inventory, _run = fleet
    inv = inventory("redact", {"app": {"app1": dict(LOCAL, runbook_api={"token": "tok-1234567"})}})
    playbook = tmp_path / "leaky.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Leaky", "hosts": "app", "gather_facts": False, "tasks": [
        {"name": "Fail with secrets in the message", "ansible.builtin.fail": {
            "msg": "login {{ runbook_pg_login.login_password }} / {{ db_admin_password }} / {{ runbook_api.token }}"
                   " refused"}}]}]))
    result = run_playbook(playbook, inventory=inv, env={"ANSIBLE_SHOW_CUSTOM_STATS": "1"})
    summary = result.data["global_custom_stats"]["runbook_run_report"]
    secrets = [yaml.safe_load(Path(inv).read_text())["all"]["vars"]["runbook_pg_login"]["login_password"],
               "s3cret-in-a-message", "tok-1234567"]
    assert all(s in json.dumps(result.data) for s in secrets)  # Ansible's own output shows them: the test is real
    for path in (summary["json"], summary["html"], summary["metrics"]):
        text = Path(path).read_text()
        assert not [s for s in secrets if s in text], path
    assert "login ******** / ******** / ******** refused" in Path(summary["json"]).read_text()
    assert (base / "reports").is_dir()


def test_the_installed_collection_run_by_name_writes_the_report(fleet, tmp_path):
    """ansible-galaxy collection build + install, then `ansible-playbook runbook.ops.daily` from elsewhere,
    with the callback enabled through the environment only (an empty ansible.cfg)."""
    base, down, inventory, _run = fleet
    bin_dir = REPO / ".venv" / "bin"
    subprocess.run([str(bin_dir / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path), "--force"],
                   cwd=REPO, check=True, capture_output=True)
    (tmp_path / "ansible.cfg").write_text("")
    env = dict(os.environ, ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "installed"), ANSIBLE_HOST_KEY_CHECKING="False",
               ANSIBLE_CALLBACKS_ENABLED="runbook.ops.run_report", PATH=f"{bin_dir}:{os.environ['PATH']}")
    tarball = next(tmp_path.glob("runbook-ops-*.tar.gz"))
    subprocess.run([str(bin_dir / "ansible-galaxy"), "collection", "install", "--offline", "-p",
                    str(tmp_path / "installed"), str(tarball)], cwd=tmp_path, env=env, check=True, capture_output=True)
    inv = inventory("installed", {"postgres": {"db2": down}, "redis": {"cache1": LOCAL}})
    proc = subprocess.run([str(bin_dir / "ansible-playbook"), "-i", inv, "runbook.ops.daily"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode != 0
    link = re.search(r"Run report \(critical\): file://(\S+\.html)", proc.stdout)
    assert link, proc.stdout[-3000:] + proc.stderr[-2000:]
    report = json.loads(Path(link[1]).with_suffix(".json").read_text())
    assert Path(link[1]).parent == base / "reports" and report["schedule"] == "daily"
    hosts = _hosts(report)
    assert hosts["db2"] == ("unreachable", "critical") and hosts["cache1"][1] == "ok" and len(hosts) == 2


def test_an_ad_hoc_command_writes_no_run_report(tmp_path):
    from harness.ansible import ansible_env

    env = ansible_env({"RUNBOOK_REPORT_DIR": str(tmp_path / "reports")})
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "ansible"), "localhost", "-m", "ansible.builtin.ping"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0 and '"ping": "pong"' in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert not (tmp_path / "reports").exists()
