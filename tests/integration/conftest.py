# SPDX-License-Identifier: GPL-3.0-or-later
"""Integration fixtures for the PostgreSQL major matrix.

The session's ``pg`` server (tests/conftest.py) is Debian's PostgreSQL by default;
``RUNBOOK_PG_MAJOR=17`` (or 18) runs the same tests against that major's server
(tests/harness/postgres.py). Then pg_backup and pg_restore need that major's
client tools, and a user of a fleet with several majors names them with the
module option ``pg_bin_dir``: ``ansible_module`` adds it here to every call of
those two modules that does not choose its tools itself (pg_bin_dir,
pg_dump_path, or a container). With the default server nothing is added.
"""
from __future__ import annotations

import os

import pytest

from harness.ansible import run_module
from harness.postgres import PostgresServer, major_bindir
from integration.pg_report.pg_sessions import Sessions

TOOL_MODULES = ("pg_backup", "pg_restore")
TOOL_OPTIONS = ("pg_bin_dir", "pg_dump_path", "container")


def with_tool_args(pg_server: PostgresServer, module: str, args: dict) -> dict:
    """`args` plus the server's client-tool options when the module takes them and they are unset."""
    short = module.rsplit(".", 1)[-1]
    if short not in TOOL_MODULES or any(args.get(k) for k in TOOL_OPTIONS):
        return args
    extra = pg_server.tool_args()
    if not extra or args.get("login_port") != pg_server.port:
        return args
    return dict(args, **extra)


@pytest.fixture
def ansible_module(request):
    """Call a runbook.ops module through Ansible: ansible_module('pg_report', {...}).
    With a non-default PostgreSQL major, pg_backup/pg_restore calls on that server get
    ``pg_bin_dir`` (see the module docstring)."""
    if "pg" not in request.fixturenames:
        return run_module
    pg_server = request.getfixturevalue("pg")

    def call(module: str, args: dict, *a, **kw):
        return run_module(module, with_tool_args(pg_server, module, args), *a, **kw)

    return call


@pytest.fixture(scope="session")
def pg_major(pg) -> int:
    """The major version of the session's PostgreSQL server."""
    return pg.version


@pytest.fixture(scope="session")
def pg_of_major(pg):
    """Factory: ``pg_of_major(17)`` is a running server of that major (the session's ``pg``
    when it is that major, else one started on first use and stopped at the end of the
    session). Skips when that major's binaries are not installed (scripts/setup_pg_majors.sh),
    except under CI, where that is an error."""
    servers: dict[int, PostgresServer] = {}

    def get(major: int) -> PostgresServer:
        if pg.version == major:
            return pg
        if major not in servers:
            try:
                bindir = major_bindir(major)
            except RuntimeError as exc:
                if os.environ.get("CI"):  # CI's setup installs them: missing is a failure there
                    raise
                pytest.skip(str(exc))
            servers[major] = PostgresServer(bindir=bindir)
            servers[major].start()
        return servers[major]

    try:
        yield get
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture
def sessions(pg):
    """Background PostgreSQL sessions (pg_report, pg_activity, hostile_data), closed at teardown."""
    factory = Sessions(pg)
    try:
        yield factory
    finally:
        factory.close_all()


@pytest.fixture
def backup_dir(tmp_path):
    """A backup directory under the test's tmp_path, not made yet (the modules create it)."""
    return str(tmp_path / "backups")
