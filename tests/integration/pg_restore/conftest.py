# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for pg_restore tests (helpers shared with tests/integration/pg_backup)."""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pg_backup"))

from pgbk_helpers import make_db  # noqa: E402


@pytest.fixture
def restore_db(pg):
    name = make_db(pg, prefix="rs")
    made = [name]
    yield name, made
    for db in made:
        pg.psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
