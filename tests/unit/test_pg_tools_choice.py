# SPDX-License-Identifier: GPL-3.0-or-later
"""Which pg_dump pg_backup may start before the server has said its version
(``PgTools.server_independent``), and which psql asks it (``find_psql``), on fake tool trees."""
from __future__ import annotations

import os

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import _pg_tools as D
from ansible_collections.runbook.ops.plugins.module_utils._pg_conn import PostgresError
from ansible_collections.runbook.ops.plugins.module_utils._pg_facts import find_psql
from ansible_collections.runbook.ops.plugins.module_utils._runtime import Runtime


class FakeModule:
    def __init__(self, **params):
        self.params = {"pg_bin_dir": None, "pg_dump_path": None, "container": None, **params}

    def get_bin_path(self, name):
        return None


def _tool(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("#!/bin/sh\necho 'pg_dump (PostgreSQL) 15.1'\n")
    os.chmod(path, 0o755)
    return str(path)


@pytest.fixture
def lib(tmp_path, monkeypatch):
    root = tmp_path / "postgresql"
    root.mkdir()
    monkeypatch.setattr(D, "PG_LIB_DIR", str(root))
    return root


def test_one_installed_major_is_the_guess(lib):
    _tool(lib / "15" / "bin" / "pg_dump")
    module = FakeModule()
    tools = D.PgTools.server_independent(module, Runtime(module))
    assert tools is not None and tools.server_major == 15
    assert tools._candidates_dirs() == [str(lib / "15" / "bin")]


def test_several_installed_majors_wait_for_the_server(lib):
    _tool(lib / "15" / "bin" / "pg_dump")
    _tool(lib / "17" / "bin" / "pg_dump")
    module = FakeModule()
    assert D.PgTools.server_independent(module, Runtime(module)) is None


def test_named_tools_do_not_depend_on_the_server(lib, tmp_path):
    _tool(lib / "15" / "bin" / "pg_dump")
    _tool(lib / "17" / "bin" / "pg_dump")
    own = _tool(tmp_path / "own" / "pg_dump")
    for params in ({"pg_bin_dir": os.path.dirname(own)}, {"pg_dump_path": own}):
        module = FakeModule(**params)
        tools = D.PgTools.server_independent(module, Runtime(module))
        assert tools is not None and tools._candidates_dirs() == [os.path.dirname(own)]


def test_psql_is_taken_from_the_named_directory_then_the_newest_major(lib, tmp_path):
    _tool(lib / "15" / "bin" / "psql")
    _tool(lib / "17" / "bin" / "psql")
    module = FakeModule()
    assert find_psql(module, Runtime(module)) == str(lib / "17" / "bin" / "psql")
    own = _tool(tmp_path / "own" / "psql")
    module = FakeModule(pg_bin_dir=os.path.dirname(own))
    assert find_psql(module, Runtime(module)) == own


def test_no_psql_anywhere_is_a_clear_error(lib):
    module = FakeModule()
    with pytest.raises(PostgresError, match="psql not found"):
        find_psql(module, Runtime(module))
