"""What the schedule playbooks did on the container host (converge ran them; see converge.yml)."""
from __future__ import annotations

import os
import sys

import pytest
import testinfra

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "shared", "tests"))
import schedule_checks as sc  # noqa: E402

CT = "ct1"
PG, REDIS = "myapp_postgres_1", "myapp_redis_1"


@pytest.fixture(scope="module")
def stack():
    return sc.Stack(
        db=testinfra.get_host(f"podman://{CT}"),
        psql=f"podman exec -u postgres {PG} psql -X",
        redis_cli=f"REDISCLI_AUTH=redis-molecule-pw podman exec -e REDISCLI_AUTH {REDIS} redis-cli",
        backup_dir="/var/backups/runbook",
        reports_by_host={s: [CT] for s in sc.SCHEDULES},
    )


def test_every_schedule_wrote_its_reports(stack):
    sc.check_reports(stack)


def test_daily_probed_every_container_and_nothing_is_critical():
    sc.check_daily_health([CT], {CT: [
        "postgres", "redis", "app health", "disk /",
        f"service {PG}", f"service {REDIS}", "service myapp_app_1", "service myapp_worker_1",
    ]})


def test_backups_verified_with_matching_checksums_and_retention(stack):
    sc.check_backups(stack, min_count=2, keep_last=3)


def test_backups_were_dumped_inside_the_database_container():
    backup = sc.latest_report("backup", CT)["results"]["pg_backup"]["backup"]
    # every pg_dump ran as "<podman> exec ... myapp_postgres_1 pg_dump ..."
    dumps = [c for c in backup["commands"] if "pg_dump" in " ".join(c)]
    assert dumps, backup["commands"]
    for argv in dumps:
        assert os.path.basename(argv[0]) == "podman" and argv[1] == "exec", argv
        assert PG in argv and argv.index(PG) < [os.path.basename(a) for a in argv].index("pg_dump"), argv


def test_redis_backup_copied_out_of_its_container(stack):
    sc.check_redis_backups(stack)


def test_restore_drill_passed_and_restore_holds_the_data(stack):
    sc.check_drill_and_restore(stack, CT)


def test_retention_deleted_only_old_audit_rows(stack):
    sc.check_retention(stack)


def test_cache_purged_and_memory_policy_set(stack):
    sc.check_redis(stack)


def test_logrotate_config_written_and_valid(stack):
    conf = stack.db.file("/etc/logrotate.d/myapp")
    assert "/srv/myapp/logs/*.log" in conf.content_string
    cmd = stack.db.run("logrotate -d /etc/logrotate.d/myapp")
    assert cmd.rc == 0, cmd.stderr


def test_old_logs_compressed_and_deleted(stack):
    h = stack.db
    assert h.file("/srv/myapp/logs/app.log.1.gz").exists
    assert not h.file("/srv/myapp/logs/app.log.9.gz").exists
    assert h.file("/srv/myapp/logs/app.log").exists


def test_container_output_read_by_the_logs_role():
    services = sc.latest_report("daily", CT)["results"]["logs"]["services"]
    assert services, "daily.yml read no container output"


def test_containers_running_after_the_monthly_updates(stack):
    import json
    out = stack.db.check_output("podman ps --format json --filter label=io.podman.compose.project=myapp")
    running = sorted(c["Names"][0] for c in json.loads(out) if c["State"] == "running")
    assert running == sorted(["myapp_app_1", PG, REDIS, "myapp_worker_1"])
    assert sc.latest_report("monthly", CT)["results"]["system_update"]


@pytest.mark.parametrize("playbook", ["daily.yml", "weekly.yml"])
def test_second_run_changes_nothing(playbook):
    changed = sc.rerun_changes(playbook)
    assert changed == {}, changed
