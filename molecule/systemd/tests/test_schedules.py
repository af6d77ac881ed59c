"""What the schedule playbooks did on the systemd hosts (converge ran them; see converge.yml)."""
from __future__ import annotations

import os
import sys

import pytest
import testinfra

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "shared", "tests"))
import schedule_checks as sc  # noqa: E402

DB, APP = "db1", "app1"


@pytest.fixture(scope="module")
def stack():
    return sc.Stack(
        db=testinfra.get_host(f"podman://{DB}"),
        psql="runuser -u postgres -- psql -X",
        redis_cli="REDISCLI_AUTH=redis-molecule-pw redis-cli",
        backup_dir="/var/backups/runbook",
        reports_by_host={
            "daily": [DB, APP], "weekly": [DB, APP], "monthly": [DB, APP],
            "backup": [DB], "quarterly": [DB], "restore": [DB],
        },
    )


@pytest.fixture(scope="module")
def app():
    return testinfra.get_host(f"podman://{APP}")


def test_every_schedule_wrote_its_reports(stack):
    sc.check_reports(stack)


def test_daily_probed_every_service_and_nothing_is_critical():
    sc.check_daily_health([DB, APP], {
        DB: ["postgres", "redis", "service postgresql@15-main", "service redis-server", "disk /"],
        APP: ["app health", "site health", "service myapp-backend", "service myapp-worker", "service nginx"],
    })


def test_backups_verified_with_matching_checksums_and_retention(stack):
    # daily.yml, backup.yml and quarterly.yml each made one; keep_last is 3
    sc.check_backups(stack, min_count=2, keep_last=3)


def test_redis_backup_with_checksum(stack):
    sc.check_redis_backups(stack)


def test_restore_drill_passed_and_restore_holds_the_data(stack):
    sc.check_drill_and_restore(stack, DB)


def test_retention_deleted_only_old_audit_rows(stack):
    sc.check_retention(stack)


def test_cache_purged_and_memory_policy_set(stack):
    sc.check_redis(stack)


def test_security_review_saw_the_scanner():
    sc.check_security_review(APP)


def test_logrotate_config_written_and_valid(app):
    conf = app.file("/etc/logrotate.d/myapp")
    assert conf.exists
    assert "/var/log/myapp/*.log" in conf.content_string
    cmd = app.run("logrotate -d /etc/logrotate.d/myapp")
    assert cmd.rc == 0, cmd.stderr


def test_old_logs_compressed_and_deleted(app):
    assert app.file("/var/log/myapp/myapp-backend.log.1.gz").exists
    assert not app.file("/var/log/myapp/myapp-backend.log.1").exists
    assert not app.file("/var/log/myapp/myapp-backend.log.9.gz").exists
    # the live logs are left alone
    assert app.file("/var/log/myapp/myapp-backend.log").exists


def test_services_running_after_the_monthly_updates(stack, app):
    for unit in ("postgresql@15-main", "redis-server"):
        assert stack.db.service(unit).is_running, unit
    for unit in ("myapp-backend", "myapp-worker", "nginx"):
        assert app.service(unit).is_running, unit
    updates = sc.latest_report("monthly", DB)["results"]["system_update"]
    assert updates, "monthly.yml did not run the system updates"


def test_on_host_backup_timer_makes_a_verified_backup(stack):
    """The role's nightly schedule on a booted systemd host: the timer waits, its service backs up."""
    db = stack.db
    timer = db.service("runbook-pg-backup.timer")
    assert timer.is_enabled and timer.is_running
    listed = db.check_output("systemctl list-timers --all --no-legend runbook-pg-backup.timer")
    assert "runbook-pg-backup.service" in listed, listed
    runner = db.file("/opt/runbook-ops/pg_backup/vars.yml")
    assert runner.mode == 0o600 and runner.user == "root"
    before = {m["id"] for m in sc.manifests(stack, stack.backup_dir)}
    # Exactly what the timer starts; a oneshot service, so this returns when the backup is done.
    start = db.run("systemctl start runbook-pg-backup.service")
    journal = db.run("journalctl -u runbook-pg-backup.service --no-pager -n 40").stdout
    assert start.rc == 0, start.stderr + journal
    assert db.check_output("systemctl show -p Result --value runbook-pg-backup.service") == "success", journal
    assert "runbook-molecule-pw" not in journal
    new = [m for m in sc.manifests(stack, stack.backup_dir) if m["id"] not in before]
    assert [(m["kind"], m["name"]) for m in new] == [("postgres", "myapp")], journal
    assert new[0]["verified"] == "passed", new[0]["verification"]
    assert new[0]["postgres"]["row_counts"], new[0]["postgres"]
    # retention ran too: the schedule's backups count toward the same keep_last
    sc.check_backups(stack, min_count=2, keep_last=3)


@pytest.mark.parametrize("playbook", ["daily.yml", "weekly.yml"])
def test_second_run_changes_nothing(playbook):
    changed = sc.rerun_changes(playbook)
    assert changed == {}, changed
