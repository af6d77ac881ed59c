# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_vacuum failure modes: each one a clear message naming the option or object, no traceback."""
from __future__ import annotations

import pytest

from pg_vacuum_helpers import tables_by_name
from harness.net import free_port

pytestmark = pytest.mark.integration


def assert_clean_failure(r, *needles):
    assert r.failed, r.result
    msg = r["msg"]
    assert "Traceback" not in msg
    for needle in needles:
        assert needle in msg, msg
    return msg


def test_unknown_database(pg, ansible_module):
    args = pg.conn_args()
    args["databases"] = ["no_such_db_vac"]
    r = ansible_module("pg_vacuum", args)
    assert_clean_failure(r, "databases", "'no_such_db_vac'", "not found")


def test_unknown_table_names_table_and_database(vacdb, ansible_module):
    vacdb.make_table("known", 100)
    r = ansible_module("pg_vacuum", vacdb.module_args(tables=["known", "public.nope"]))
    assert_clean_failure(r, "tables", "'public.nope'", repr(vacdb.name))
    assert r["statements"] == []


def test_unknown_schema_and_reindex_target(vacdb, ansible_module):
    vacdb.make_table("known", 100)
    r = ansible_module("pg_vacuum", vacdb.module_args(schemas=["public", "ghost"]))
    assert_clean_failure(r, "schemas", "'ghost'", repr(vacdb.name))
    r = ansible_module("pg_vacuum", vacdb.module_args(reindex_indexes=["public.ghost_idx"]))
    assert_clean_failure(r, "reindex_indexes", "'public.ghost_idx'", repr(vacdb.name))


def test_unreachable_server(pg, ansible_module):
    args = pg.conn_args()
    args["login_port"] = free_port()
    args["connect_timeout"] = 5
    r = ansible_module("pg_vacuum", args)
    assert_clean_failure(r, "cannot connect", str(args["login_port"]))


def test_wrong_password(pg, ansible_module):
    args = pg.conn_args()
    args["login_password"] = "wrong-password"
    r = ansible_module("pg_vacuum", args)
    assert_clean_failure(r, "authentication failed", "'postgres'")
    assert "wrong-password" not in r.stdout


@pytest.mark.parametrize(
    "option, value",
    [
        ("min_dead_tuples", -1),
        ("min_dead_ratio", 1.5),
        ("min_dead_ratio", -0.5),
        ("min_mod_since_analyze", -10),
        ("parallel", -2),
        ("lock_timeout", "whenever"),
        ("maintenance_timeout", -1),
    ],
)
def test_nonsense_options_fail_before_connecting(pg, ansible_module, option, value):
    args = pg.conn_args()
    args["login_port"] = free_port()  # nothing listens: a connection attempt would fail differently
    args[option] = value
    r = ansible_module("pg_vacuum", args)
    msg = assert_clean_failure(r, option)
    assert "connect" not in msg


def test_app_user_on_a_table_it_does_not_own_is_skipped_with_reason(vacdb, ansible_module):
    vacdb.make_table("theirs", 3000, update=1500)                     # owned by postgres
    vacdb.make_table("mine", 3000, update=1500, owner="app_user")

    args = vacdb.module_args(user="app_user")
    check = ansible_module("pg_vacuum", args, check=True)
    r = ansible_module("pg_vacuum", args)
    for res in (check, r):
        assert not res.failed, res.result
        assert res.changed
        assert res["statements"] == ['VACUUM (ANALYZE) "public"."mine"']
        theirs = tables_by_name(res)["theirs"]
        assert theirs["skip_reason"] == "insufficient_privilege" and not theirs["changed"]
        assert theirs["statement"] is None
        assert "'app_user'" in theirs["reason"] and "owner" in theirs["reason"]
    assert vacdb.stats("theirs")["n_dead_tup"] == 1500
    assert vacdb.stats("mine")["n_dead_tup"] == 0

    # explicitly asking for it: still skipped, reported, and a warning; nothing changed
    r = ansible_module("pg_vacuum", vacdb.module_args(user="app_user", tables=["theirs"]))
    assert not r.failed and not r.changed
    assert any("theirs" in w for w in r.get("warnings", [])), r.result
    assert vacdb.stats("theirs")["n_dead_tup"] == 1500


def test_app_user_cannot_reindex_a_table_it_does_not_own(vacdb, ansible_module):
    vacdb.make_table("theirs", 100)
    r = ansible_module("pg_vacuum", vacdb.module_args(user="app_user", reindex_tables=["theirs"]))
    assert_clean_failure(r, "reindex_tables", "'app_user'", "public.theirs", repr(vacdb.name))
