# SPDX-License-Identifier: GPL-3.0-or-later
"""Selection, thresholds and statement building of pg_vacuum (no server)."""
from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils._vacuum import (
    Decision,
    Scope,
    SelectionError,
    StatementOptions,
    Thresholds,
    classify_notice,
    dead_ratio,
    decide,
    display_name,
    lock_conflicts,
    missing_schemas,
    needs_analyze,
    needs_vacuum,
    normalize_lock_timeout,
    reindex_statement,
    resolve_names,
    select_tables,
    totals,
    vacuum_statement,
    validate_params,
    version_problems,
)

TH = Thresholds(min_dead_tuples=100, min_dead_ratio=0.2, min_mod_since_analyze=50)


def row(schema, name, dead=0, live=0, mod=0):
    return {"schemaname": schema, "relname": name, "n_dead_tup": dead, "n_live_tup": live, "n_mod_since_analyze": mod}


# -- thresholds ---------------------------------------------------------------

def test_dead_ratio():
    assert dead_ratio(0, 0) == 0.0
    assert dead_ratio(25, 75) == 0.25
    assert dead_ratio(10, 0) == 1.0


@pytest.mark.parametrize(
    "dead, live, expected",
    [
        (100, 400, True),     # exactly both thresholds (100, ratio 0.2)
        (99, 1, False),       # ratio high, count below
        (100, 401, False),    # count reached, ratio just below 0.2
        (0, 0, False),
        (5000, 100, True),
    ],
)
def test_needs_vacuum_boundaries(dead, live, expected):
    assert needs_vacuum(dead, live, TH)[0] is expected


def test_zero_thresholds_still_need_a_dead_tuple():
    zero = Thresholds(0, 0.0, 0)
    assert needs_vacuum(0, 100, zero)[0] is False
    assert needs_vacuum(1, 100, zero)[0] is True
    assert needs_analyze(0, zero)[0] is False
    assert needs_analyze(1, zero)[0] is True


def test_reasons_name_the_numbers_and_thresholds():
    ok, why = needs_vacuum(99, 1, TH)
    assert not ok and "99 < min_dead_tuples 100" in why
    ok, why = needs_vacuum(100, 1000, TH)
    assert not ok and "min_dead_ratio 0.2" in why
    ok, why = needs_analyze(10, TH)
    assert not ok and "10 < min_mod_since_analyze 50" in why


@pytest.mark.parametrize(
    "mode, dead, live, mod, action",
    [
        ("vacuum", 200, 200, 0, "vacuum"),
        ("vacuum", 200, 200, 500, "vacuum"),        # mode vacuum never analyzes
        ("vacuum", 10, 200, 500, "skipped"),
        ("analyze", 200, 200, 500, "analyze"),
        ("analyze", 200, 200, 10, "skipped"),       # analyze ignores dead tuples
        ("vacuum_analyze", 200, 200, 0, "vacuum_analyze"),
        ("vacuum_analyze", 10, 200, 500, "analyze"),
        ("vacuum_analyze", 10, 200, 10, "skipped"),
        ("full", 200, 200, 0, "vacuum_full_analyze"),
        ("full", 10, 200, 500, "analyze"),
        ("full", 10, 200, 10, "skipped"),
    ],
)
def test_decide(mode, dead, live, mod, action):
    d = decide(row("public", "t", dead, live, mod), mode, TH)
    assert d.action == action
    assert (d.skip_reason == "below_threshold") is (action == "skipped")


# -- scope ----------------------------------------------------------------------

ROWS = [
    row("public", "orders"), row("public", "users"), row("sales", "orders"),
    row("sales", "lines"), row("pg_temp_3", "scratch"), row("odd.schema", 'x"; DROP TABLE y; --'),
]


def names(rows):
    return [(r["schemaname"], r["relname"]) for r in rows]


def test_default_scope_is_all_non_system_schemas_sorted():
    assert names(select_tables(ROWS, Scope(), "db")) == [
        ("odd.schema", 'x"; DROP TABLE y; --'), ("public", "orders"), ("public", "users"),
        ("sales", "lines"), ("sales", "orders"),
    ]


def test_schemas_and_excludes():
    got = select_tables(ROWS, Scope(schemas=["sales", "public"], exclude_tables=["public.users", "lines"]), "db")
    assert names(got) == [("public", "orders"), ("sales", "orders")]
    # an unqualified exclusion removes the name in every schema; unknown exclusions are ignored
    got = select_tables(ROWS, Scope(exclude_tables=["orders", "nope.nothing"]), "db")
    assert ("public", "orders") not in names(got) and ("sales", "orders") not in names(got)


def test_tables_qualified_unqualified_and_quoted():
    got = select_tables(ROWS, Scope(tables=["sales.orders", "users", '"odd.schema"."x""; DROP TABLE y; --"']), "db")
    assert names(got) == [("odd.schema", 'x"; DROP TABLE y; --'), ("public", "users"), ("sales", "orders")]
    # schemas narrows the lookup of unqualified names
    got = select_tables(ROWS, Scope(schemas=["sales"], tables=["orders"]), "db")
    assert names(got) == [("sales", "orders")]


def test_unknown_table_names_table_and_database():
    with pytest.raises(SelectionError) as err:
        select_tables(ROWS, Scope(tables=["public.nope"]), "appdb")
    assert "tables" in str(err.value) and "'public.nope'" in str(err.value) and "'appdb'" in str(err.value)


def test_ambiguous_unqualified_name_is_an_error():
    with pytest.raises(SelectionError, match="ambiguous.*public.orders, sales.orders"):
        select_tables(ROWS, Scope(tables=["orders"]), "db")


def test_temp_schemas_only_when_qualified():
    with pytest.raises(SelectionError):
        resolve_names(["scratch"], ROWS, "tables", "db", None)
    assert names(resolve_names(["pg_temp_3.scratch"], ROWS, "tables", "db", None)) == [("pg_temp_3", "scratch")]


def test_missing_schemas():
    assert missing_schemas(["public", "nope"], ["public", "sales"]) == ["nope"]
    assert missing_schemas(None, ["public"]) == []


def test_display_name():
    assert display_name("public", "orders") == "public.orders"
    assert display_name("public", "Orders") == 'public."Orders"'
    assert display_name("a.b", 'x"y') == '"a.b"."x""y"'


# -- validation -------------------------------------------------------------------

def base(**kw):
    p = dict(min_dead_tuples=0, min_dead_ratio=0.5, min_mod_since_analyze=0, parallel=None, mode="vacuum",
             freeze=False, lock_timeout=None, tables=None, exclude_tables=[], reindex_tables=[], reindex_indexes=[])
    p.update(kw)
    return p


@pytest.mark.parametrize(
    "kw, option",
    [
        ({"min_dead_tuples": -1}, "min_dead_tuples"),
        ({"min_mod_since_analyze": -5}, "min_mod_since_analyze"),
        ({"min_dead_ratio": 1.5}, "min_dead_ratio"),
        ({"min_dead_ratio": -0.1}, "min_dead_ratio"),
        ({"parallel": -1}, "parallel"),
        ({"parallel": 2, "mode": "full"}, "parallel"),
        ({"parallel": 2, "mode": "analyze"}, "parallel"),
        ({"freeze": True, "mode": "analyze"}, "freeze"),
        ({"lock_timeout": "soon"}, "lock_timeout"),
        ({"lock_timeout": "-5s"}, "lock_timeout"),
        ({"maintenance_timeout": -1}, "maintenance_timeout"),
        ({"tables": ['"unterminated']}, "tables"),
        ({"reindex_indexes": ["public."]}, "reindex_indexes"),
    ],
)
def test_validate_names_the_option(kw, option):
    errors = validate_params(base(**kw))
    assert len(errors) == 1 and errors[0].startswith(option)


def test_validate_accepts_edges():
    assert validate_params(base(min_dead_ratio=0)) == []
    assert validate_params(base(min_dead_ratio=1, parallel=0, lock_timeout="1min", freeze=True)) == []
    assert validate_params(base(maintenance_timeout=0)) == validate_params(base(maintenance_timeout=3600)) == []


@pytest.mark.parametrize("value, expected", [("500", "500ms"), ("5s", "5s"), (" 2 min ", "2min"), ("0", "0ms"), (None, None)])
def test_normalize_lock_timeout(value, expected):
    assert normalize_lock_timeout(value) == expected


def test_version_problems():
    assert version_problems({"parallel": 2, "skip_locked": True}, 110000) == [
        "parallel needs PostgreSQL 13 or later (VACUUM (PARALLEL n))", "skip_locked needs PostgreSQL 12 or later"]
    assert version_problems({"parallel": 2, "skip_locked": True}, 150000) == []


# -- statements ---------------------------------------------------------------------

def render(stmt):
    return stmt.as_string(None)


def test_vacuum_statements():
    t = ("public", "orders")
    assert render(vacuum_statement(*t, Decision(vacuum=True), StatementOptions())) == 'VACUUM "public"."orders"'
    assert render(vacuum_statement(*t, Decision(vacuum=True, analyze=True), StatementOptions(
        freeze=True, skip_locked=True, parallel=3))) == 'VACUUM (FREEZE, ANALYZE, SKIP_LOCKED, PARALLEL 3) "public"."orders"'
    # FULL never gets PARALLEL
    assert render(vacuum_statement(*t, Decision(vacuum=True, analyze=True, full=True), StatementOptions(
        parallel=2))) == 'VACUUM (FULL, ANALYZE) "public"."orders"'
    assert render(vacuum_statement(*t, Decision(analyze=True), StatementOptions(skip_locked=True, freeze=True))) == \
        'ANALYZE (SKIP_LOCKED) "public"."orders"'
    assert render(vacuum_statement(*t, Decision(analyze=True), StatementOptions())) == 'ANALYZE "public"."orders"'
    assert vacuum_statement(*t, Decision(), StatementOptions()) is None


def test_injection_name_is_one_quoted_identifier():
    stmt = vacuum_statement("public", 'x"; DROP TABLE y; --', Decision(vacuum=True), StatementOptions())
    assert render(stmt) == 'VACUUM "public"."x""; DROP TABLE y; --"'


def test_reindex_statements():
    assert render(reindex_statement("TABLE", "public", "orders", True)) == 'REINDEX TABLE CONCURRENTLY "public"."orders"'
    assert render(reindex_statement("INDEX", "s", "i", False)) == 'REINDEX INDEX "s"."i"'
    with pytest.raises(ValueError):
        reindex_statement("DATABASE", "s", "i", False)


def test_lock_conflicts():
    assert "AccessShareLock" not in lock_conflicts(False)
    assert "AccessShareLock" in lock_conflicts(True)
    assert "ShareUpdateExclusiveLock" in lock_conflicts(False)


def test_classify_notice():
    assert classify_notice("55P03", 'skipping vacuum of "t" --- lock not available') == "locked"
    assert classify_notice("01000", 'skipping "t" --- only table or database owner can vacuum it') == "insufficient_privilege"
    assert classify_notice("00000", "table has no indexes") is None


def test_totals():
    tables = [
        {"changed": True, "action": "vacuum_analyze", "dead_tuples_before": 10, "dead_tuples_after": 0, "duration": 0.5},
        {"changed": True, "action": "analyze", "dead_tuples_before": 3, "dead_tuples_after": 3, "duration": 0.25},
        {"changed": False, "action": "skipped", "dead_tuples_before": 1, "dead_tuples_after": 1, "duration": 0},
    ]
    assert totals(tables, [{"changed": True, "duration": 0.25}]) == {
        "tables": 3, "vacuumed": 1, "analyzed": 2, "skipped": 1, "reindexed": 1,
        "dead_tuples_before": 14, "dead_tuples_after": 4, "duration": 1.0,
    }
