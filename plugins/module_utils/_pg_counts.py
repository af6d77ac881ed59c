# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Row counts of every user table: in an exported snapshot while pg_dump runs, in a restored database,
and their comparison with a manifest's counts. Counting in the archive pg_dump writes is ``_pg_archive``.
"""

from __future__ import annotations

import threading

from ansible_collections.runbook.ops.plugins.module_utils import _pg_names
from ansible_collections.runbook.ops.plugins.module_utils._pg_conn import PostgresError
from ansible_collections.runbook.ops.plugins.module_utils._pg_tools import pg_driver

# user tables whose rows pg_dump dumps: ordinary tables, not system, not extension members
TABLES_SQL = """
SELECT n.nspname AS schema, c.relname AS name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp\\_%%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""


def archive_countable(fmt: str, compression: str) -> bool:
    """Whether rows can be counted in what pg_dump writes (see BackupRun._count_method)."""
    return (fmt == "custom" and compression == "gzip") or (fmt == "directory" and compression in ("gzip", "none"))


def count_rows(conn) -> dict[str, int]:
    """Exact ``count(*)`` of every user table, keyed ``schema.table`` (quoted like psql when needed)."""
    sql = pg_driver().sql
    counts = {}
    with conn.cursor() as cur:
        cur.execute(TABLES_SQL)
        tables = [(r[0], r[1]) if not isinstance(r, dict) else (r["schema"], r["name"]) for r in cur.fetchall()]
        for schema, name in tables:
            cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name)))
            row = cur.fetchone()
            counts[table_key(schema, name)] = int(row[0] if not isinstance(row, dict) else list(row.values())[0])
    return counts


def table_key(schema: str, name: str) -> str:
    """The row-count key of a table: ``schema.name``, each part double-quoted (``"`` doubled) only when
    it is not plain lower-case ASCII letters, digits and ``_`` - PostgreSQL's ``quote_ident`` without
    keyword quoting. ``public.orders`` stays ``public.orders``; ``a."b.c"`` and ``"a.b".c`` differ."""
    return _pg_names.table_key(schema, name)


class SnapshotCounter:
    """A REPEATABLE READ transaction that exports its snapshot, counts rows in it (in a thread)
    and stays open until :meth:`close`, so ``pg_dump --snapshot`` sees exactly the counted data.

    Its session is the client's (:meth:`PostgresClient.session`): every count holds the module's
    ``statement_timeout`` + 1 s like the module's other statements. psycopg is imported only here,
    when a snapshot is counted (pg_backup's start path does not pay for it)."""

    def __init__(self, client, database: str) -> None:
        self.client = client
        self.database = database
        self.conn = None
        self.snapshot: str | None = None
        self.counts: dict[str, int] | None = None
        self.error: str | None = None
        self._thread: threading.Thread | None = None

    def open(self) -> str:
        psycopg = pg_driver().psycopg
        self.conn = self.client.session(self.database, autocommit=False)  # a failed connection is worded there
        try:
            with self.conn.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cur.execute("SELECT pg_export_snapshot() AS snapshot")
                row = cur.fetchone()
                self.snapshot = row["snapshot"] if isinstance(row, dict) else row[0]
        except psycopg.Error as exc:
            raise PostgresError(f"cannot export a snapshot of database {self.database!r}: {exc}") from exc
        return self.snapshot

    def start_counting(self) -> None:
        def work() -> None:
            try:
                self.counts = count_rows(self.conn)
            except Exception as exc:  # reported by wait()
                self.error = f"counting rows of database {self.database!r} failed: {exc}"

        self._thread = threading.Thread(target=work, daemon=True)
        self._thread.start()

    def wait(self) -> dict[str, int]:
        if self._thread is not None:
            self._thread.join()
        if self.error:
            raise PostgresError(self.error)
        return self.counts or {}

    def close(self) -> None:
        if self._thread is not None:
            self._thread.join()
        if self.conn is not None:
            try:
                self.conn.rollback()
                self.conn.close()
            except Exception:  # closing is best effort
                pass
            self.conn = None


def counts_in_database(client, database: str) -> dict[str, int]:
    conn = client.connect(database)
    return count_rows_dict(client, conn)


def count_rows_dict(client, conn) -> dict[str, int]:
    sql = pg_driver().sql
    counts = {}
    for row in client.query(conn, TABLES_SQL):
        n = client.query(conn, sql.SQL("SELECT count(*) AS n FROM {}").format(sql.Identifier(row["schema"], row["name"])))
        counts[table_key(row["schema"], row["name"])] = int(n[0]["n"])
    return counts


def compare_counts(expected: dict[str, int], actual: dict[str, int]) -> list[dict]:
    """Differences between two ``{table: rows}`` maps (missing tables count as None).

    ``actual`` is keyed by :func:`table_key`. A manifest written before keys were quoted
    (some key not in :func:`table_key` form, e.g. ``Sales.Order "Lines"``) is compared in its
    own unquoted form; row counts of tables whose old keys collide are summed, so a table
    lost in the restore still shows as a difference.
    """
    if _pg_names.is_legacy_key_set(expected):
        legacy: dict[str, int] = {}
        for key, rows in actual.items():
            old = _pg_names.legacy_key(key)
            legacy[old] = legacy.get(old, 0) + rows
        actual = legacy
    diffs = []
    for key in sorted(set(expected) | set(actual)):
        e, a = expected.get(key), actual.get(key)
        if e != a:
            diffs.append({"table": key, "expected": e, "actual": a})
    return diffs
