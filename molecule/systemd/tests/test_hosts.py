"""Verify the systemd scenario's hosts (pytest-testinfra, through podman exec)."""
from __future__ import annotations

import json
import time

import pytest
import testinfra

# The molecule instances are podman containers named like the platforms.
DB = "db1"
APP = "app1"


@pytest.fixture(scope="module")
def db():
    return testinfra.get_host(f"podman://{DB}")


@pytest.fixture(scope="module")
def app():
    return testinfra.get_host(f"podman://{APP}")


def test_systemd_is_pid_1(db, app):
    for h in (db, app):
        assert h.file("/proc/1/comm").content_string.strip() == "systemd"


@pytest.mark.parametrize("unit", ["postgresql@15-main", "redis-server"])
def test_db_services_active(db, unit):
    svc = db.service(unit)
    assert svc.is_running
    assert svc.is_enabled


@pytest.mark.parametrize("unit", ["nginx", "myapp-backend", "myapp-worker"])
def test_app_services_active(app, unit):
    svc = app.service(unit)
    assert svc.is_running
    assert svc.is_enabled


def test_postgres_listens_and_has_the_app_database(db):
    assert db.socket("tcp://0.0.0.0:5432").is_listening
    out = db.check_output("runuser -u postgres -- psql -tAc \"SELECT 1 FROM pg_database WHERE datname = 'myapp'\"")
    assert out.strip() == "1"


def test_migrations_recorded_once(db):
    out = db.check_output(
        "runuser -u postgres -- psql -d myapp -tAc 'SELECT name, count(*) FROM myapp_schema_migrations GROUP BY name ORDER BY name'"
    )
    assert out.splitlines() == ["001_items.sql|1"]


def test_health_through_nginx(app):
    cmd = app.run("curl -sS -w '\\n%{http_code}' http://127.0.0.1/health")
    assert cmd.rc == 0, cmd.stderr
    body, code = cmd.stdout.rsplit("\n", 1)
    assert code == "200", body
    health = json.loads(body)
    assert health["status"] == "ok"
    assert health["checks"] == {"postgres": "ok", "redis": "ok"}


def test_version(app):
    out = app.check_output("curl -sS http://127.0.0.1:8000/version")
    assert json.loads(out)["version"] == "1.0.0"
    assert app.file("/opt/myapp/current").linked_to == "/opt/myapp/releases/v1"


def test_worker_processes_a_job(app):
    myapp = "runuser -u myapp -- bash -c 'set -a; . /etc/myapp/myapp.env; exec python3 /opt/myapp/current/myapp.py {}'"
    app.check_output(myapp.format("enqueue molecule-job"))
    deadline = time.monotonic() + 15
    while True:  # poll: the worker pushes "<version>:<payload>" to myapp:done
        results = json.loads(app.check_output(myapp.format("done")))
        if "1.0.0:molecule-job" in results or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "1.0.0:molecule-job" in results


def test_logrotate_config_valid(db, app):
    for h in (db, app):
        cmd = h.run("logrotate --debug /etc/logrotate.conf")
        assert cmd.rc == 0, cmd.stderr
