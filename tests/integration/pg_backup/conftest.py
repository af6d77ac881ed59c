# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for pg_backup tests: a fresh database with odd table names per test."""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pgbk_helpers import make_db  # noqa: E402


@pytest.fixture
def backup_db(pg):
    name = make_db(pg)
    yield name
    pg.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
