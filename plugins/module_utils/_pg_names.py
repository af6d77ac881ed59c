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


def split_table_key(key: str) -> tuple[str, str] | None:
    """Inverse of :func:`table_key`; None when ``key`` is not exactly one key in that form."""
    parts: list[str] = []
    i, n = 0, len(key)
    while True:
        if i < n and key[i] == '"':
            i += 1
            buf = []
            while True:
                if i >= n:
                    return None
                if key[i] == '"':
                    if i + 1 < n and key[i + 1] == '"':
                        buf.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                buf.append(key[i])
                i += 1
            part = "".join(buf)
            if _PLAIN.match(part):
                return None  # table_key never quotes a plain part
        else:
            j = key.find(".", i)
            part = key[i:] if j < 0 else key[i:j]
            if not _PLAIN.match(part):
                return None
            i += len(part)
        parts.append(part)
        if len(parts) == 2:
            return (parts[0], parts[1]) if i == n else None
        if i >= n or key[i] != ".":
            return None
        i += 1


def legacy_key(key: str) -> str:
    """The key a manifest written before issue 15 used for the same table: ``schema.name`` unquoted."""
    parts = split_table_key(key)
    return f"{parts[0]}.{parts[1]}" if parts else key


def is_legacy_key_set(keys) -> bool:
    """True when a set of row-count keys comes from an old manifest: some key is not in
    :func:`table_key` form (old manifests wrote ``schema.name`` without quotes)."""
    return any(split_table_key(k) is None for k in keys)
