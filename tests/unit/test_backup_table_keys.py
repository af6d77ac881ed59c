# SPDX-License-Identifier: GPL-3.0-or-later
"""Row-count keys of tables (issue 15, names that collide): module_utils/_pg_names.py and its
use by pg_backup / pg_restore (``table_key``, ``compare_counts`` in _pg_counts)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.runbook.ops.plugins.module_utils import _pg_names as N
from ansible_collections.runbook.ops.plugins.module_utils._pg_counts import compare_counts, table_key


@pytest.mark.parametrize("schema, name, key", [
    ("public", "orders", "public.orders"),
    ("a", "b.c", 'a."b.c"'),
    ("a.b", "c", '"a.b".c'),
    ("Sales", 'Order "Lines"', '"Sales"."Order ""Lines"""'),
    ("public", "café", 'public."café"'),
    ("public", "a b/c", 'public."a b/c"'),
    ("s1", "2024_logs", 's1."2024_logs"'),
    ("public", "user", "public.user"),  # keywords are not quoted (a key is not SQL)
    ("public", "a$b", 'public."a$b"'),  # quote_ident quotes $
])
def test_table_key(schema, name, key):
    assert table_key(schema, name) == key
    assert N.split_table_key(key) == (schema, name)


def test_the_issue_collision_gives_two_entries():
    counts = {table_key("a", "b.c"): 3, table_key("a.b", "c"): 7}
    assert counts == {'a."b.c"': 3, '"a.b".c': 7}
    # a restore that lost one of them fails the comparison
    assert compare_counts(counts, {'"a.b".c': 7}) == [{"table": 'a."b.c"', "expected": 3, "actual": None}]
    assert compare_counts(counts, dict(counts)) == []


def test_old_manifests_keep_comparing():
    # before issue 15 keys were written unquoted; simple names are the same in both forms
    old = {"public.items": 1000, 'Sales.Order "Lines"': 321}
    actual = {"public.items": 1000, '"Sales"."Order ""Lines"""': 321}
    assert compare_counts(old, actual) == []
    assert compare_counts({"public.items": 5}, {"public.items": 5}) == []
    # an old manifest's colliding key cannot vouch for two tables: the sum differs
    assert compare_counts({"a.b.c": 7}, {'a."b.c"': 3, '"a.b".c': 7}) == [{"table": "a.b.c", "expected": 7, "actual": 10}]


identifiers = st.text(min_size=1, max_size=12).filter(lambda s: "\x00" not in s)


@settings(max_examples=500, deadline=None)
@given(identifiers, identifiers, identifiers, identifiers)
def test_keys_are_unambiguous(s1, n1, s2, n2):
    k1, k2 = table_key(s1, n1), table_key(s2, n2)
    assert N.split_table_key(k1) == (s1, n1)
    assert (k1 == k2) == ((s1, n1) == (s2, n2))
