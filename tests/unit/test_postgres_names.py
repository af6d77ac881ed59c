# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils._pg_names import parse_qualified_name


@pytest.mark.parametrize(
    "text, expected",
    [
        ("orders", (None, "orders")),
        ("sales.orders", ("sales", "orders")),
        ('"my.schema"."Odd ""Name"""', ("my.schema", 'Odd "Name"')),
        ('public.x"; DROP TABLE y; --', ("public", 'x"; DROP TABLE y; --')),
        ('"MixedCase"', (None, "MixedCase")),
        ("public.a.b", ("public", "a.b")),
    ],
)
def test_parse_qualified_name(text, expected):
    assert parse_qualified_name(text) == expected


@pytest.mark.parametrize("text", ["", ".orders", "public.", '"unterminated', '"a"b'])
def test_parse_qualified_name_rejects(text):
    with pytest.raises(ValueError):
        parse_qualified_name(text)
