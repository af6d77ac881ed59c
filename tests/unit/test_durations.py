# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils._durations import parse_duration


@pytest.mark.parametrize("value, seconds", [
    (90, 90 * 86400), ("90", 90 * 86400), ("90d", 90 * 86400), ("12h", 12 * 3600),
    ("30m", 1800), ("45s", 45), ("2w", 14 * 86400), ("1w 2d", 9 * 86400), ("1.5h", 5400),
])
def test_parse_duration(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "abc", "10x", "d", "-5d", "0", 0, -1, "5d junk", True])
def test_parse_duration_rejects(value):
    with pytest.raises(ValueError):
        parse_duration(value)
