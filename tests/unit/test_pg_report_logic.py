# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure logic of pg_report: size formatting, percentages, bloat estimate,
pg_stat_statements column naming, option validation."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from ansible_collections.runbook.ops.plugins.module_utils._pg_report import (
    NUMERIC_OPTIONS,
    SECTIONS,
    bloat_estimate,
    cut,
    percent,
    pgss_columns,
    pretty_size,
    validate_params,
)


@pytest.mark.parametrize("size, text", [
    # values checked against PostgreSQL 15's pg_size_pretty(bigint) (and 300 random ones, all equal)
    (0, "0 bytes"),
    (8192, "8192 bytes"),
    (10239, "10239 bytes"),
    (10240, "10 kB"),
    (10752, "11 kB"),
    (1048576, "1024 kB"),
    (20971519, "20 MB"),
    (20971520, "20 MB"),
    (10 * 1024 ** 3, "10 GB"),
    (20 * 1024 ** 3, "20 GB"),
    (1024 ** 5 * 30, "30 PB"),
    (1024 ** 5 * 5000, "5000 PB"),
    (2 ** 63 - 1, "8192 PB"),
    (-10239, "-10239 bytes"),
    (-20971520, "-20 MB"),
    (-10240, "-10 kB"),
    (None, None),
])
def test_pretty_size(size, text):
    assert pretty_size(size) == text


@given(st.integers(min_value=0, max_value=2 ** 62))
def test_pretty_size_units_and_magnitude(n):
    number, unit = pretty_size(n).split(" ")
    factor = {"bytes": 1, "kB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4, "PB": 1024 ** 5}[unit]
    # rounded to the unit: within half a unit of the real value
    assert abs(int(number) * factor - n) <= factor // 2 + 1


def test_percent():
    assert percent(1, 4) == 25.0
    assert percent(1, 3, 1) == 33.3
    assert percent(5, 0) is None
    assert percent(None, 10) is None


def test_bloat_estimate():
    assert bloat_estimate(1000, 75, 25) == (25.0, 250)
    assert bloat_estimate(1000, 0, 0) == (None, None)
    assert bloat_estimate(None, 1, 1) == (50.0, None)
    assert bloat_estimate(4096, None, 10) == (100.0, 4096)


def test_pgss_columns_both_namings():
    assert pgss_columns(["queryid", "total_exec_time", "mean_exec_time", "max_exec_time", "total_plan_time"]) == {
        "total": "total_exec_time", "mean": "mean_exec_time", "max": "max_exec_time"}
    assert pgss_columns(["queryid", "total_time", "mean_time", "max_time"]) == {
        "total": "total_time", "mean": "mean_time", "max": "max_time"}
    with pytest.raises(ValueError, match="mean_exec_time or mean_time"):
        pgss_columns(["total_time", "max_time"])


def test_validate_params_names_each_option():
    good = {name: 1 for name in NUMERIC_OPTIONS}
    assert validate_params(good) == []
    bad = dict(good, limit=0, long_running_seconds=-1, query_max_length=-3, dead_tuples_min=0)
    errors = validate_params(bad)
    assert "limit must be at least 1, got 0" in errors
    assert "long_running_seconds must be 0 or more, got -1" in errors
    assert "query_max_length must be at least 1, got -3" in errors
    assert len(errors) == 3


def test_cut_merges_databases_then_limits():
    rows = [{"db": "a", "n": 1}, {"db": "b", "n": 5}, {"db": "a", "n": 3}]
    assert [r["n"] for r in cut(rows, lambda r: r["n"], 2)] == [5, 3]
    assert [r["n"] for r in cut(rows, lambda r: r["n"], 5, reverse=False)] == [1, 3, 5]


def test_sections_list_is_complete():
    assert len(SECTIONS) == len(set(SECTIONS)) == 12
