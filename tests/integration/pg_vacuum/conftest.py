# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the pg_vacuum tests: a fresh database per test (helpers in pg_vacuum_helpers.py)."""
from __future__ import annotations

import uuid

import pytest

from pg_vacuum_helpers import VacDB


@pytest.fixture
def vacdb(pg):
    """A dedicated database for one test (unique name), dropped afterwards."""
    name = f"vac_{uuid.uuid4().hex[:10]}"
    pg.psql(f'CREATE DATABASE "{name}"')
    try:
        yield VacDB(pg, name)
    finally:
        pg.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
