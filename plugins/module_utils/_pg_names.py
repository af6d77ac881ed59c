# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unambiguous keys for PostgreSQL identifiers (issue 15): one rule for every place that turns
a schema and a table name into one string - manifests' row counts, restore comparisons, pg_vacuum,
pg_report and pg_data_retention results, messages.

A part is written as is when it is made of lower-case ASCII letters, digits and ``_`` and does not
start with a digit; otherwise it is double-quoted with ``"`` doubled - PostgreSQL's ``quote_ident``,
except that keywords are not quoted (a key is not SQL, and keys of old manifests keep comparing).
So ``public.orders`` stays ``public.orders``, while ``a."b.c"`` and ``"a.b".c`` stay two keys.
No import beyond the standard library: this file is copied to hosts by the pg_backup schedule.
"""

from __future__ import annotations

import re

_PLAIN = re.compile(r"[a-z_][a-z0-9_]*\Z")


def quote_ident(part: str) -> str:
    """``part`` as is when it needs no quotes, else ``"part"`` with ``"`` doubled."""
    if _PLAIN.match(part):
        return part
    return '"' + part.replace('"', '""') + '"'


def table_key(schema: str, name: str) -> str:
    """``schema.name`` with each part quoted only when needed (see the module docstring)."""
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def parse_qualified_name(name: str) -> tuple[str | None, str]:
    """Split ``schema.table`` (identifiers may be double-quoted, "" escapes a quote).

    ``orders`` -> (None, "orders"); ``sales.orders`` -> ("sales", "orders");
    ``"my.schema"."Odd ""Name"`` -> ("my.schema", 'Odd "Name').
    Unquoted parts are taken as written (no case folding), since users copy
    names from \\dt output.
    """
    parts: list[str] = []
    buf: list[str] = []
    i, n = 0, len(name)
    quoted_part = False
    while i < n:
        ch = name[i]
        if ch == '"' and not buf and not quoted_part:
            # a quoted identifier: read to the closing quote
            i += 1
            while True:
                if i >= n:
                    raise ValueError(f"unterminated quote in {name!r}")
                if name[i] == '"':
                    if i + 1 < n and name[i + 1] == '"':
                        buf.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                buf.append(name[i])
                i += 1
            quoted_part = True
            continue
        if ch == "." and len(parts) == 0:
            parts.append("".join(buf))
            buf, quoted_part = [], False
            i += 1
            continue
        if quoted_part:
            raise ValueError(f"unexpected {ch!r} after a quoted identifier in {name!r}")
        buf.append(ch)
        i += 1
    parts.append("".join(buf))
    if any(p == "" for p in parts):
        raise ValueError(f"empty identifier in {name!r}")
    if len(parts) == 1:
        return None, parts[0]
    return parts[0], parts[1]


def split_table_key(key: str) -> tuple[str, str] | None:
    """Inverse of :func:`table_key`; None when ``key`` is not exactly one key in that form."""
    try:
        schema, name = parse_qualified_name(key)
    except ValueError:
        return None
    if schema is None or table_key(schema, name) != key:
        return None
    return schema, name


def legacy_key(key: str) -> str:
    """The key a manifest written before issue 15 used for the same table: ``schema.name`` unquoted."""
    parts = split_table_key(key)
    return f"{parts[0]}.{parts[1]}" if parts else key


def is_legacy_key_set(keys) -> bool:
    """True when a set of row-count keys comes from an old manifest: some key is not in
    :func:`table_key` form (old manifests wrote ``schema.name`` without quotes)."""
    return any(split_table_key(k) is None for k in keys)
