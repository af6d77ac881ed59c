# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers shared by the pg_backup and pg_restore integration tests."""
from __future__ import annotations

import itertools
import os

_seq = itertools.count()

SETUP_SQL = '''
CREATE SCHEMA "Sales";
CREATE TABLE public.items (id int PRIMARY KEY, label text);
CREATE TABLE "Sales"."Order ""Lines""" (id int, qty int);
CREATE TABLE public.empty_one (id int);
INSERT INTO public.items SELECT g, 'item ' || g FROM generate_series(1, 1000) g;
INSERT INTO "Sales"."Order ""Lines""" SELECT g, g % 7 FROM generate_series(1, 321) g;
'''


def make_db(pg, prefix: str = "bk", rows: int | None = None) -> str:
    name = f"{prefix}_{os.getpid()}_{next(_seq)}"
    pg.psql(f'CREATE DATABASE "{name}"')
    pg.psql(SETUP_SQL, database=name)
    if rows:
        pg.psql(f"CREATE TABLE big AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, {rows}) g", database=name)
    return name


def backup_args(pg, backup_dir, db, **extra):
    args = dict(pg.conn_args(), backup_dir=backup_dir, databases=[db])
    if not any(k in extra for k in ("pg_bin_dir", "pg_dump_path", "container")):
        args.update(pg.tool_args())  # another major's client tools (RUNBOOK_PG_MAJOR), as users set them
    args.update(extra)
    return args


def flip_byte(path, offset=None):
    size = os.path.getsize(path)
    pos = size // 2 if offset is None else offset
    with open(path, "r+b") as fh:
        fh.seek(pos)
        b = fh.read(1)
        fh.seek(pos)
        fh.write(bytes([b[0] ^ 0x01]))
