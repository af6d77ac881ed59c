# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/upgrade.yml with the app_upgrade role (connection local) against the harness's real PostgreSQL.

Releases are directories under a temporary releases dir with a ``current`` symlink; the SQL migrations of
each release are applied by the role with psql (in order, exactly once, recorded, one transaction). The
health gate is a real ``command`` probe of runbook.ops.health_probe (the release must have a HEALTHY file).
No systemd units here (the molecule ``upgrade`` scenario covers units, git and the app's own migrate command).
"""
from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pytest

PLAYBOOK = Path(__file__).resolve().parents[3] / "playbooks" / "upgrade.yml"

RELEASES = {
    "r1": {"001_items.sql": "CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL);"},
    "r2": {"001_items.sql": "CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL);",
           "002_items_note.sql": "ALTER TABLE items ADD COLUMN note text;\nINSERT INTO items (name) VALUES ('50% off');"},
    # 003 is fine, 004 is not: neither may be applied (one transaction).
    "r3-badsql": {"001_items.sql": "CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL);",
                  "002_items_note.sql": "ALTER TABLE items ADD COLUMN note text;",
                  "003_items_tags.sql": "ALTER TABLE items ADD COLUMN tags text[];",
                  "004_broken.sql": "ALTER TABLE no_such_table ADD COLUMN x int;"},
    # Migrations are fine, but the release is unhealthy (no HEALTHY file): the gate fails.
    "r4-unhealthy": {"001_items.sql": "CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL);",
                     "002_items_note.sql": "ALTER TABLE items ADD COLUMN note text;",
                     "003_items_tags.sql": "ALTER TABLE items ADD COLUMN tags text[];"},
}


@pytest.fixture
def app(tmp_path, pg):
    """Release directories (r1 current), a fresh database, an inventory for playbooks/upgrade.yml."""
    base = tmp_path / "app"
    for name, files in RELEASES.items():
        rel = base / "releases" / name
        (rel / "migrations").mkdir(parents=True)
        (rel / "VERSION").write_text(name + "\n")
        if name != "r4-unhealthy":
            (rel / "HEALTHY").write_text("yes\n")
        for fname, sql in files.items():
            (rel / "migrations" / fname).write_text(sql + "\n")
    (base / "current").symlink_to(base / "releases" / "r1")
    db = "upg_" + uuid.uuid4().hex[:10]
    pg.psql(f"CREATE DATABASE {db}")
    # Release r1 was deployed before the role was adopted: "items" exists and 001 is recorded by hand.
    pg.psql("CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL)", database=db)
    pg.psql("CREATE TABLE runbook_schema_migrations (name text PRIMARY KEY, sha256 text NOT NULL, version text,"
            " applied_at timestamptz NOT NULL DEFAULT now());"
            " INSERT INTO runbook_schema_migrations (name, sha256) VALUES ('001_items.sql', 'adopted')", database=db)
    login = pg.conn_args()
    host_vars = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "runbook_runtime": "systemd",
        "runbook_report_dir": str(tmp_path / "reports"),
        "app_upgrade_name": "testapp",
        "app_upgrade_releases_dir": str(base / "releases"),
        "app_upgrade_current_link": str(base / "current"),
        "app_upgrade_previous_link": str(base / "previous"),
        "app_upgrade_state_dir": str(tmp_path / "state"),
        "app_upgrade_units": [],
        "app_upgrade_database": db,
        "app_upgrade_pg_login": login,
        "app_upgrade_backup_dir": str(tmp_path / "backups"),
        "app_upgrade_sql_migrations_dir": "migrations",
        "app_upgrade_health_retries": 1,
        "app_upgrade_health_delay": 1,
        "app_upgrade_health_extra_probes": [
            {"name": "release is healthy", "kind": "command", "argv": ["test", "-f", str(base / "current" / "HEALTHY")]},
        ],
    }
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"app": {"hosts": {"localhost": host_vars}}}))
    try:
        yield {"base": base, "db": db, "inventory": str(inventory), "reports": tmp_path / "reports", "tmp": tmp_path}
    finally:
        pg.psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def run(ansible_playbook, app, version: str, check: bool = False, **extra):
    res = ansible_playbook(PLAYBOOK, inventory=app["inventory"], check=check,
                           extra_vars={"app_upgrade_version": version, **extra})
    reports = sorted(app["reports"].glob("upgrade-localhost-*.json"), key=lambda p: p.stat().st_mtime)
    assert reports, res.stdout[-3000:]
    report = json.loads(reports[-1].read_text())
    reports[-1].unlink()  # the next run's report is then the only one
    return res, report["results"]["app_upgrade"], report


def applied(pg, app) -> list[str]:
    out = pg.psql("SELECT name FROM runbook_schema_migrations ORDER BY name", database=app["db"])
    return out.splitlines()


def columns(pg, app) -> list[str]:
    return pg.psql("SELECT column_name FROM information_schema.columns WHERE table_name = 'items' ORDER BY 1",
                   database=app["db"]).splitlines()


def current(app) -> str:
    return (app["base"] / "current").resolve().name


def test_check_mode_then_upgrade_applies_each_file_once(pg, ansible_playbook, app):
    res, result, report = run(ansible_playbook, app, "r2", check=True)
    assert res.rc == 0, res.stdout[-3000:]
    assert report["check_mode"] is True
    assert result["status"] == "planned"
    assert any("apply pending SQL files of migrations" in step for step in result["plan"])
    assert result["migrations"]["applied"] == ["002_items_note.sql"]  # what a real run would apply
    assert current(app) == "r1" and applied(pg, app) == ["001_items.sql"]  # nothing changed

    res, result, _report = run(ansible_playbook, app, "r2")
    assert res.rc == 0, res.stdout[-3000:]
    assert result["status"] == "upgraded"
    assert result["from"]["release"] == "r1" and result["to"]["version"] == "r2"
    assert result["migrations"]["applied"] == ["002_items_note.sql"]
    assert result["gate"]["status"] == "ok"
    assert Path(result["backup"]).is_file()  # the pre-upgrade backup (pg_backup)
    assert current(app) == "r2"
    assert (app["base"] / "previous").resolve().name == "r1"
    assert applied(pg, app) == ["001_items.sql", "002_items_note.sql"]
    assert columns(pg, app) == ["id", "name", "note"]
    assert pg.psql("SELECT name FROM items", database=app["db"]) == "50% off"  # '%' reaches PostgreSQL as is
    state = json.loads((app["tmp"] / "state" / "testapp.json").read_text())
    assert state["status"] == "upgraded" and state["from"]["release"] == "r1"

    # Same version: nothing to do (health gate only).
    res, result, _report = run(ansible_playbook, app, "r2")
    assert res.rc == 0 and result["status"] == "unchanged", res.stdout[-3000:]

    # Forced: every step runs again, but no file is applied twice.
    res, result, _report = run(ansible_playbook, app, "r2", app_upgrade_force=True, app_upgrade_backup_enabled=False)
    assert res.rc == 0, res.stdout[-3000:]
    assert result["status"] == "upgraded" and result["migrations"]["applied"] == []
    assert applied(pg, app) == ["001_items.sql", "002_items_note.sql"]
    assert pg.psql("SELECT count(*) FROM items", database=app["db"]) == "1"


def test_failing_sql_file_applies_nothing_and_rolls_back_the_code(pg, ansible_playbook, app):
    res, result, _report = run(ansible_playbook, app, "r2")
    assert res.rc == 0 and current(app) == "r2", res.stdout[-3000:]

    res, result, report = run(ansible_playbook, app, "r3-badsql")
    assert res.rc != 0
    assert "ROLLED BACK: upgrade of testapp from r2 (r2) to r3-badsql" in res.stdout
    assert result["status"] == "rolled_back"
    assert "Run the migration script" in result["failed_step"]
    assert "no_such_table" in result["failure"]
    assert result["rollback"] == {"code": str(app["base"] / "releases" / "r2"), "database": None,
                                  "health": "ok", "critical": []}
    assert result["error"]["failed"] is True  # the run report shows the host as critical
    assert current(app) == "r2"
    # 003 was fine, but it ran in the same transaction as the broken 004: nothing applied, nothing recorded.
    assert applied(pg, app) == ["001_items.sql", "002_items_note.sql"]
    assert "tags" not in columns(pg, app)
    assert report["results"]["containers"] is None


def test_failed_health_gate_rolls_back_code_and_database(pg, ansible_playbook, app):
    res, _result, _report = run(ansible_playbook, app, "r2")
    assert res.rc == 0, res.stdout[-3000:]

    res, result, _report = run(ansible_playbook, app, "r4-unhealthy", app_upgrade_rollback_database=True)
    assert res.rc != 0
    assert result["status"] == "rolled_back", res.stdout[-3000:]
    assert result["migrations"]["applied"] == ["003_items_tags.sql"]  # applied, then undone by the restore
    assert result["gate"]["status"] == "critical"
    assert result["gate"]["critical"][0].startswith("release is healthy")
    assert result["rollback"]["database"] == result["backup"]
    assert result["rollback"]["health"] == "ok"
    assert "database restored from" in result["error"]["msg"]
    assert current(app) == "r2"
    assert applied(pg, app) == ["001_items.sql", "002_items_note.sql"]
    assert "tags" not in columns(pg, app)
    state = json.loads((app["tmp"] / "state" / "testapp.json").read_text())
    assert state["status"] == "rolled_back"


def test_no_rollback_when_disabled(pg, ansible_playbook, app):
    res, result, _report = run(ansible_playbook, app, "r4-unhealthy", app_upgrade_rollback_enabled=False,
                               app_upgrade_backup_enabled=False)
    assert res.rc != 0
    assert result["status"] == "failed"
    assert "UPGRADE FAILED, NOT ROLLED BACK" in res.stdout
    assert current(app) == "r4-unhealthy"  # left as it is, as asked


def test_argument_specs_reject_wrong_types(ansible_playbook, app):
    res = ansible_playbook(PLAYBOOK, inventory=app["inventory"],
                           extra_vars={"app_upgrade_version": "r2", "app_upgrade_health_retries": "many",
                                       "app_upgrade_units": {"not": "a list"}})
    assert res.rc != 0
    assert "app_upgrade_health_retries" in res.stdout and "app_upgrade_units" in res.stdout
    assert current(app) == "r1"
