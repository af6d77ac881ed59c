"""Verify the container-host scenario (pytest-testinfra, through podman exec)."""
from __future__ import annotations

import json

import pytest
import testinfra

PROJECT = "myapp"


@pytest.fixture(scope="module")
def ct():
    return testinfra.get_host("podman://ct1")


def test_systemd_is_pid_1(ct):
    assert ct.file("/proc/1/comm").content_string.strip() == "systemd"


def test_nested_podman_uses_vfs(ct):
    assert ct.check_output("podman info --format '{{.Store.GraphDriverName}}'").strip() == "vfs"


def test_service_containers_running(ct):
    out = ct.check_output(f"podman ps --format json --filter label=io.podman.compose.project={PROJECT}")
    running = sorted(c["Labels"]["com.docker.compose.service"] for c in json.loads(out) if c["State"] == "running")
    assert running == ["app", "postgres", "redis", "worker"]


def test_pg_tools_run_inside_the_database_container(ct):
    out = ct.check_output(f"podman exec -u postgres {PROJECT}_postgres_1 pg_dump --schema-only myapp")
    assert "CREATE TABLE public.items" in out
    out = ct.check_output(
        f"podman exec -u postgres {PROJECT}_postgres_1 psql -d myapp -tAc 'SELECT name FROM myapp_schema_migrations'"
    )
    assert out.split() == ["001_items.sql"]


def test_health(ct):
    cmd = ct.run("curl -sS -w '\\n%{http_code}' http://127.0.0.1:8000/health")
    assert cmd.rc == 0, cmd.stderr
    body, code = cmd.stdout.rsplit("\n", 1)
    assert code == "200", body
    assert json.loads(body)["checks"] == {"postgres": "ok", "redis": "ok"}
