# SPDX-License-Identifier: GPL-3.0-or-later
"""The statement bound of the PostgreSQL client layer: its option and its words."""
from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils._pg_conn import (
    STATEMENT_TIMEOUT,
    PostgresError,
    postgres_argument_spec,
    statement_bound,
    statement_timeout_text,
)


def test_default_and_per_module_default():
    assert postgres_argument_spec()["statement_timeout"] == {"type": "int", "default": STATEMENT_TIMEOUT}
    assert postgres_argument_spec(statement_timeout=60)["statement_timeout"]["default"] == 60


@pytest.mark.parametrize("value, bound", [(None, 0), (0, 0), (1, 1), (300, 300)])
def test_statement_bound(value, bound):
    assert statement_bound({"statement_timeout": value}) == bound


def test_statement_bound_absent_is_none():
    # clients built from other options (health_probe's postgres kind) set their own bound
    assert statement_bound({}) == 0


def test_negative_statement_timeout_names_the_option():
    with pytest.raises(PostgresError, match=r"statement_timeout must be 0 \(no limit\) or more seconds, got -5"):
        statement_bound({"statement_timeout": -5})


def test_words():
    assert statement_timeout_text("pg_report", 30, "canceling statement due to statement timeout") == (
        "pg_report: statement exceeded statement_timeout=30s: canceling statement due to statement timeout")
    assert statement_timeout_text("", 2, "x") == "statement exceeded statement_timeout=2s: x"


def test_another_option_holds_the_bound_and_is_named():
    # pg_vacuum's maintenance_timeout: the same rule and words, its own name
    assert statement_bound({"maintenance_timeout": 3600}, "maintenance_timeout") == 3600
    assert statement_bound({}, "maintenance_timeout") == 0
    with pytest.raises(PostgresError, match=r"^maintenance_timeout must be 0 \(no limit\) or more seconds, got -1$"):
        statement_bound({"maintenance_timeout": -1}, "maintenance_timeout")
    assert statement_timeout_text("pg_vacuum", 2, "x", "maintenance_timeout") == (
        "pg_vacuum: statement exceeded maintenance_timeout=2s: x")
