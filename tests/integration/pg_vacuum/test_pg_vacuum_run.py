# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_vacuum against a real PostgreSQL: thresholds, idempotence, check mode, modes."""
from __future__ import annotations

import pytest

from pg_vacuum_helpers import tables_by_name

pytestmark = pytest.mark.integration


def test_vacuum_drops_dead_tuples_then_second_run_is_unchanged(vacdb, ansible_module):
    vacdb.make_table("busy", 6000, update=3000)
    vacdb.make_table("quiet", 6000, update=10)

    r = ansible_module("pg_vacuum", vacdb.module_args())
    assert not r.failed, r.result
    assert r.changed
    assert r["statements"] == ['VACUUM (ANALYZE) "public"."busy"']
    tables = tables_by_name(r)
    busy, quiet = tables["busy"], tables["quiet"]
    assert busy["action"] == "vacuum_analyze" and busy["changed"] and busy["skip_reason"] is None
    assert busy["dead_tuples_before"] == 3000 and busy["live_tuples_before"] == 6000
    assert busy["dead_ratio_before"] == pytest.approx(3000 / 9000, abs=1e-4)
    assert busy["dead_tuples_after"] == 0 and busy["mod_since_analyze_after"] == 0
    assert busy["last_vacuum"] and busy["last_analyze"]
    assert quiet["action"] == "skipped" and quiet["skip_reason"] == "below_threshold" and not quiet["changed"]
    assert "10 < min_dead_tuples 1000" in quiet["reason"]
    assert quiet["statement"] is None
    # what the module returns as "after" is what the server shows afterwards
    seen = vacdb.stats("busy")
    assert (seen["n_dead_tup"], seen["n_live_tup"]) == (busy["dead_tuples_after"], busy["live_tuples_after"]) == (0, 6000)
    assert seen["last_vacuum"] is not None
    assert r["totals"]["vacuumed"] == 1 and r["totals"]["skipped"] == 1
    assert r["totals"]["dead_tuples_before"] == 3010 and r["totals"]["dead_tuples_after"] == 10

    again = ansible_module("pg_vacuum", vacdb.module_args())
    assert not again.failed, again.result
    assert not again.changed
    assert again["statements"] == []
    assert {t["skip_reason"] for t in tables_by_name(again).values()} == {"below_threshold"}


def test_check_mode_predicts_statements_and_changed_and_changes_nothing(vacdb, ansible_module):
    vacdb.make_table("a", 5000, update=2000)
    vacdb.make_table("b", 5000, delete=1500)
    vacdb.make_table("c", 5000)
    before = {t: vacdb.stats(t) for t in "abc"}

    check = ansible_module("pg_vacuum", vacdb.module_args(), check=True)
    assert not check.failed, check.result
    assert check.changed
    assert check["statements"] == ['VACUUM (ANALYZE) "public"."a"', 'VACUUM (ANALYZE) "public"."b"']
    for t in "abc":
        now = vacdb.stats(t)
        assert now["n_dead_tup"] == before[t]["n_dead_tup"]
        assert now["last_vacuum"] == before[t]["last_vacuum"]
        assert now["last_analyze"] == before[t]["last_analyze"]

    real = ansible_module("pg_vacuum", vacdb.module_args())
    assert real.changed == check.changed
    assert real["statements"] == check["statements"]
    assert [(t["table"], t["action"]) for t in real["databases"][0]["tables"]] == \
        [(t["table"], t["action"]) for t in check["databases"][0]["tables"]]
    assert vacdb.stats("a")["n_dead_tup"] == 0 and vacdb.stats("b")["n_dead_tup"] == 0

    # and in the other direction: nothing to do is predicted as unchanged
    check2 = ansible_module("pg_vacuum", vacdb.module_args(), check=True)
    assert not check2.changed and check2["statements"] == []


def test_thresholds_select_exactly_the_right_tables(vacdb, ansible_module):
    vacdb.execute("CREATE SCHEMA other")
    vacdb.make_table("over", 4000, update=1200)          # 1200 dead, ratio 0.23 -> vacuum
    vacdb.make_table("few", 4000, update=900)            # ratio 0.18 but only 900 dead -> skip (count)
    vacdb.make_table("diluted", 20000, update=1500)      # 1500 dead but ratio 0.07 -> skip (ratio)
    vacdb.make_table("excluded", 4000, update=2000)      # over, but excluded
    vacdb.make_table("elsewhere", 4000, update=2000, schema="other")  # over, other schema

    analyzed_before = vacdb.stats("over")["last_analyze"]
    args = vacdb.module_args(mode="vacuum", min_dead_tuples=1000, min_dead_ratio=0.15,
                             schemas=["public"], exclude_tables=["public.excluded"])
    r = ansible_module("pg_vacuum", args)
    assert not r.failed, r.result
    tables = tables_by_name(r)
    assert sorted(tables) == ["diluted", "few", "over"]
    assert r["statements"] == ['VACUUM "public"."over"']
    assert tables["over"]["action"] == "vacuum" and tables["over"]["dead_tuples_after"] == 0
    assert tables["few"]["skip_reason"] == "below_threshold" and "min_dead_tuples 1000" in tables["few"]["reason"]
    assert tables["diluted"]["skip_reason"] == "below_threshold" and "min_dead_ratio 0.15" in tables["diluted"]["reason"]
    assert vacdb.stats("excluded")["n_dead_tup"] == 2000
    assert vacdb.stats("elsewhere", "other")["n_dead_tup"] == 2000
    # mode vacuum does not analyze
    assert vacdb.stats("over")["last_analyze"] == analyzed_before
    assert tables["over"]["mod_since_analyze_after"] == 1200

    # `tables` picks exactly the listed ones, unqualified names looked up across schemas
    args = vacdb.module_args(mode="vacuum", tables=["elsewhere", "public.few"], min_dead_tuples=0, min_dead_ratio=0)
    r = ansible_module("pg_vacuum", args)
    assert not r.failed, r.result
    assert r["statements"] == ['VACUUM "other"."elsewhere"', 'VACUUM "public"."few"']
    assert vacdb.stats("excluded")["n_dead_tup"] == 2000


def test_mode_analyze_updates_last_analyze_only(vacdb, ansible_module):
    vacdb.make_table("facts", 5000, update=2500)
    vacdb.make_table("dims", 5000, update=20)
    before = vacdb.stats("facts")

    r = ansible_module("pg_vacuum", vacdb.module_args(mode="analyze", min_mod_since_analyze=1000))
    assert not r.failed, r.result
    assert r.changed
    assert r["statements"] == ['ANALYZE "public"."facts"']
    facts = tables_by_name(r)["facts"]
    assert facts["action"] == "analyze" and facts["mod_since_analyze_before"] == 2500
    assert facts["mod_since_analyze_after"] == 0
    after = vacdb.stats("facts")
    assert after["last_analyze"] > before["last_analyze"]
    assert after["last_vacuum"] == before["last_vacuum"]
    assert tables_by_name(r)["dims"]["skip_reason"] == "below_threshold"


def test_vacuum_analyze_only_analyzes_tables_with_modifications(vacdb, ansible_module):
    vacdb.make_table("t", 5000)
    vacdb.execute("INSERT INTO t SELECT g, 'n' FROM generate_series(5001, 8000) g")
    vacdb.wait_stats("t", n_tup_ins=8000)
    r = ansible_module("pg_vacuum", vacdb.module_args())
    assert r.changed and r["statements"] == ['ANALYZE "public"."t"']
    assert tables_by_name(r)["t"]["action"] == "analyze"


def test_injection_named_table_is_vacuumed_safely(vacdb, ansible_module):
    evil = 'x"; DROP TABLE y; --'
    vacdb.execute("CREATE TABLE y (id int)")
    vacdb.make_table(evil, 3000, update=1500)

    r = ansible_module("pg_vacuum", vacdb.module_args(tables=[f"public.{evil}"]))
    assert not r.failed, r.result
    assert r.changed
    assert r["statements"] == ['VACUUM (ANALYZE) "public"."x""; DROP TABLE y; --"']
    assert tables_by_name(r)[evil]["dead_tuples_after"] == 0
    assert vacdb.stats(evil)["n_dead_tup"] == 0
    with vacdb.connect() as conn:
        assert conn.execute("SELECT to_regclass('public.y')").fetchone()[0] is not None


def test_freeze_parallel_full_and_reindex(vacdb, ansible_module):
    vacdb.make_table("p", 5000, update=2000)
    vacdb.execute("CREATE INDEX p_payload_idx ON p (payload)")
    r = ansible_module("pg_vacuum", vacdb.module_args(mode="vacuum", freeze=True, parallel=2))
    assert not r.failed, r.result
    assert r["statements"] == ['VACUUM (FREEZE, PARALLEL 2) "public"."p"']
    assert vacdb.stats("p")["n_dead_tup"] == 0

    # FULL rewrites the table (new relfilenode); REINDEX CONCURRENTLY builds new index files
    vacdb.churn("p", update=2000)
    heap_before = vacdb.stats("p")["relfilenode"]
    with vacdb.connect() as conn:
        idx_before = conn.execute("SELECT relfilenode FROM pg_class WHERE relname = 'p_payload_idx'").fetchone()[0]
    args = vacdb.module_args(mode="full", reindex_indexes=["p_payload_idx"], reindex_tables=["public.p"])
    check = ansible_module("pg_vacuum", args, check=True)
    expected = ['VACUUM (FULL, ANALYZE) "public"."p"', 'REINDEX TABLE CONCURRENTLY "public"."p"',
                'REINDEX INDEX CONCURRENTLY "public"."p_payload_idx"']
    assert check.changed and check["statements"] == expected
    assert vacdb.stats("p")["relfilenode"] == heap_before
    r = ansible_module("pg_vacuum", args)
    assert not r.failed, r.result
    assert r.changed and r["statements"] == expected
    assert [x["changed"] for x in r["databases"][0]["reindex"]] == [True, True]
    assert r["totals"]["reindexed"] == 2
    assert vacdb.stats("p")["relfilenode"] != heap_before
    with vacdb.connect() as conn:
        assert conn.execute("SELECT relfilenode FROM pg_class WHERE relname = 'p_payload_idx'").fetchone()[0] != idx_before
    assert tables_by_name(r)["p"]["action"] == "vacuum_full_analyze"


def test_all_databases_when_omitted_excludes_templates(vacdb, ansible_module):
    vacdb.make_table("t", 3000, update=1500)
    args = vacdb.module_args()
    del args["databases"]
    r = ansible_module("pg_vacuum", args, check=True)  # check mode: other areas' databases are left alone
    assert not r.failed, r.result
    names = [d["database"] for d in r["databases"]]
    assert vacdb.name in names and "postgres" in names
    assert "template0" not in names and "template1" not in names
    assert 'VACUUM (ANALYZE) "public"."t"' in r["statements"]
