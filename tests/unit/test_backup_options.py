# SPDX-License-Identifier: GPL-3.0-or-later
"""Selection options taken whole (issue 15, class 4): module_utils/_options.py."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.runbook.ops.plugins.module_utils._options import OptionError, whole_list


def test_lists_taken_element_by_element():
    assert whole_list(["report:2026,11:*", "b"], "patterns") == ["report:2026,11:*", "b"]
    assert whole_list([], "patterns") == [] and whole_list(None, "patterns") == []
    assert whole_list("cache:*", "patterns") == ["cache:*"]
    assert whole_list([5, "x"], "databases") == ["5", "x"]


def test_comma_string_refused_naming_the_option():
    with pytest.raises(OptionError) as exc:
        whole_list("report:2026,11:*", "patterns", "pattern")
    msg = str(exc.value)
    assert msg.startswith("patterns: ") and "['report:2026', '11:*']" in msg and "pattern: 'report:2026,11:*'" in msg


@pytest.mark.parametrize("value", [{"a": 1}, True, [None], [["x"]], [{"a": 1}], [True]])
def test_other_shapes_refused(value):
    with pytest.raises(OptionError):
        whole_list(value, "exclude")


def test_paths_expanded(monkeypatch):
    monkeypatch.setenv("HD_DIR", "/srv/x")
    assert whole_list(["$HD_DIR/a"], "paths", path=True) == ["/srv/x/a"]


@given(st.lists(st.text(max_size=10), max_size=5))
def test_never_split(items):
    assert whole_list(items, "x") == items
