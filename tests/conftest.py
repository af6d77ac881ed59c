# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures shared by all test suites: real servers, started once per session
and stopped at the end, also when tests fail."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.ansible import run_module, run_playbook  # noqa: E402
from harness.postgres import PostgresServer  # noqa: E402
from harness.redis import RedisServer  # noqa: E402
from harness.monitoring import Pushgateway  # noqa: E402

REDIS_PASSWORD = "redis-secret-pw"


@pytest.fixture(scope="session")
def pg():
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_auth_server():
    server = RedisServer(password=REDIS_PASSWORD).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ansible_module():
    """Call a runbook.ops module through Ansible: ansible_module('pg_report', {...})."""
    return run_module


@pytest.fixture
def ansible_playbook():
    return run_playbook


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """Debian's prometheus-pushgateway on a free loopback port, for the tests of one module."""
    server = Pushgateway(tmp_path_factory.mktemp("pushgateway"))
    try:
        yield server
    finally:
        server.stop()
