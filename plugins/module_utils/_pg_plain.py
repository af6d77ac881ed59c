# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading pg_dump's plain SQL dumps (uncompressed or gzip): for psql to restore, and their completion trailer."""

from __future__ import annotations

import gzip
import typing as t

from ansible_collections.runbook.ops.plugins.module_utils._pg_conn import PostgresError


def open_plain(path: str, compression: str) -> t.BinaryIO:
    if compression == "gzip":
        return gzip.open(path, "rb")
    if compression == "none":
        return open(path, "rb")
    raise PostgresError(f"reading plain dumps compressed with {compression} is not supported here")


PLAIN_TRAILER = b"-- PostgreSQL database dump complete"


def plain_dump_complete(path: str, compression: str) -> bool:
    """True when the plain dump ends with pg_dump's completion trailer."""
    tail = b""
    with open_plain(path, compression) as fh:
        while True:
            chunk = fh.read(1024 * 1024)
            if not chunk:
                break
            tail = (tail + chunk)[-4096:]
    return PLAIN_TRAILER in tail
