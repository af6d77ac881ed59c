# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of the pg_vacuum tests: a scratch database with helpers that
make dead tuples with real UPDATE/DELETE and wait until the server's
cumulative statistics show them (PostgreSQL 15 reports them asynchronously)."""
from __future__ import annotations

import psycopg
from psycopg import sql

from harness.net import wait_until

STAT_COLUMNS = ("n_live_tup", "n_dead_tup", "n_mod_since_analyze", "n_tup_ins", "n_tup_upd", "n_tup_del",
                "last_vacuum", "last_analyze", "relfilenode")


class VacDB:
    """One scratch database on the session server."""

    def __init__(self, pg, name: str) -> None:
        self.pg = pg
        self.name = name

    def connect(self, user: str = "postgres", autocommit: bool = True):
        return psycopg.connect(self.pg.dsn(database=self.name, user=user), autocommit=autocommit)

    def execute(self, statement, params=None) -> None:
        with self.connect() as conn:
            conn.execute(statement, params)

    def module_args(self, user: str = "postgres", **kw) -> dict:
        args = self.pg.conn_args(user=user)
        args["databases"] = [self.name]
        args.update(kw)
        return args

    def stats(self, table: str, schema: str = "public") -> dict:
        """Current pg_stat_user_tables row of a table, read on a fresh connection."""
        with self.connect() as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            cur = conn.execute(
                "SELECT s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze, s.n_tup_ins, s.n_tup_upd, s.n_tup_del,"
                " s.last_vacuum, s.last_analyze, c.relfilenode"
                " FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
                " WHERE s.schemaname = %s AND s.relname = %s", [schema, table])
            got = cur.fetchone()
        assert got is not None, f"{schema}.{table} not in pg_stat_user_tables of {self.name}"
        return dict(zip(STAT_COLUMNS, got))

    def wait_stats(self, table: str, schema: str = "public", **expected) -> dict:
        """Poll until the table's statistics show ``expected`` (e.g. n_tup_upd=500)."""
        box = {}

        def check():
            box["s"] = self.stats(table, schema)
            return all(box["s"][k] == v for k, v in expected.items())

        try:
            wait_until(check, 20, f"statistics {expected} of {schema}.{table}")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; last seen {box.get('s')}") from exc
        return box["s"]

    def make_table(self, table: str, rows: int, update: int = 0, delete: int = 0, schema: str = "public",
                   owner: str | None = None) -> dict:
        """A table of ``rows`` rows, analyzed, vacuumed clean, then ``update`` rows
        updated and ``delete`` rows deleted (update + delete dead tuples)."""
        ident = sql.Identifier(schema, table)
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, payload text NOT NULL)").format(ident))
            conn.execute(sql.SQL("INSERT INTO {} SELECT g, md5(g::text) FROM generate_series(1, %s) g").format(ident),
                         [rows])
            if owner:
                conn.execute(sql.SQL("ALTER TABLE {} OWNER TO {}").format(ident, sql.Identifier(owner)))
        self.wait_stats(table, schema, n_tup_ins=rows)
        self.execute(sql.SQL("VACUUM (ANALYZE) {}").format(ident))
        self.wait_stats(table, schema, n_mod_since_analyze=0, n_dead_tup=0)
        return self.churn(table, update, delete, schema)

    def churn(self, table: str, update: int = 0, delete: int = 0, schema: str = "public") -> dict:
        """UPDATE the first ``update`` rows, DELETE the last ``delete``; wait for the statistics."""
        before = self.stats(table, schema)
        ident = sql.Identifier(schema, table)
        with self.connect() as conn:
            if update:
                conn.execute(sql.SQL("UPDATE {} SET payload = payload || 'u' WHERE id <= %s").format(ident), [update])
            if delete:
                conn.execute(sql.SQL("DELETE FROM {} WHERE id > (SELECT max(id) FROM {}) - %s").format(ident, ident),
                             [delete])
        # n_dead_tup is reported together with n_tup_upd / n_tup_del (one pending entry)
        return self.wait_stats(table, schema, n_tup_upd=before["n_tup_upd"] + update,
                               n_tup_del=before["n_tup_del"] + delete)


def tables_by_name(result) -> dict:
    """{table: per-table result} of a single-database pg_vacuum result."""
    (db,) = result["databases"]
    return {t["table"]: t for t in db["tables"]}
