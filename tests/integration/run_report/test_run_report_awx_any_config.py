# SPDX-License-Identifier: GPL-3.0-or-later
"""The AWX job artifacts (set_stats) of daily.yml whose only database host's backup fails, run as AWX runs it
(ansible-runner, tests/integration/awx/awx_job.py) from a project whose ansible.cfg does not enable the callback:
the playbooks' own callback gives the full summary; with it turned off (``auto = false``), the report role's
partial one. Neither says ok."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "awx"))
from awx_job import checkout, run_job  # noqa: E402

from ansible_collections.runbook.ops.plugins.module_utils import _run_report_partial as P  # noqa: E402

DB = "rr_awx_any_config"


def _project(dest: Path, auto: bool) -> Path:
    """A checkout whose ansible.cfg is the user's own: no callbacks_enabled line; auto off when asked."""
    project = checkout(dest)
    cfg = project / "ansible.cfg"
    lines = [line for line in cfg.read_text().splitlines() if not line.startswith("callbacks_enabled")]
    assert len(lines) == len(cfg.read_text().splitlines()) - 1
    if not auto:
        lines += ["", "[callback_runbook_report]", "auto = false"]
    cfg.write_text("\n".join(lines) + "\n")
    return project


@pytest.fixture(scope="module")
def stack(pg, redis_auth_server, tmp_path_factory):
    base = tmp_path_factory.mktemp("rr_awx")
    pg.psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    pg.psql(f"CREATE DATABASE {DB}")
    login, redis = pg.conn_args(), redis_auth_server.conn_args()
    credentials = {
        "postgres": {"host": login["login_host"], "port": str(login["login_port"]), "username": login["login_user"],
                     "password": login["login_password"]},
        "redis": {"host": redis["login_host"], "port": str(redis["login_port"]), "password": redis["login_password"],
                  "tls": False},
    }
    (base / "not-a-directory").write_text("x")
    inventory_vars = {
        "runbook_runtime": "systemd", "runbook_databases": [DB], "runbook_report_dir": str(base / "reports"),
        "runbook_backup_dir": str(base / "backups"), "pg_backup_dir": str(base / "not-a-directory"),
        "runbook_services": [], "logs_logrotate_enabled": False, "logs_cleanup_dirs": [], "logs_summary_paths": [],
        "health_disk_paths": [str(base)], "health_disk_warn": 99, "health_disk_crit": 100,
    }
    yield base, inventory_vars, credentials
    pg.psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


@pytest.mark.parametrize("auto", [True, False], ids=["playbooks-callback", "no-callback"])
def test_artifacts_of_a_failed_backup_say_critical(stack, tmp_path_factory, auto):
    base, inventory_vars, credentials = stack
    project = _project(tmp_path_factory.mktemp("scm") / "runbook", auto)
    job = run_job(base, project, "daily", inventory_vars=inventory_vars, groups=["postgres", "redis"],
                  credentials=credentials, job_id=21 if auto else 22)
    assert job.status == "failed" and job.rc != 0
    summary = job.artifacts["runbook_run_report"]
    assert summary["status"] == "critical" and summary["failed_hosts"] == ["localhost"], summary
    assert summary["outcomes"] == {"localhost": "failed"} and summary["hosts"] == {"localhost": "critical"}
    report = json.loads(Path(summary["json"]).read_text())
    assert report["hosts"][0]["failures"] and report["status"] == "critical"
    if auto:
        assert summary["partial"] is None
    else:
        assert summary["partial"] == P.PARTIAL
        assert job.artifacts["runbook_reports"]["localhost"]["failed_steps"] == ["pg_backup"]
        assert "the run report callback is off" in job.stdout
    assert [(s["host"], s["name"]) for s in report["backup_series"] if s["last_failure"]] == [("localhost", DB)]
