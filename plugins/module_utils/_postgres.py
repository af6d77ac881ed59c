# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one PostgreSQL client layer of runbook.ops.

Every PostgreSQL module builds its connection here: the psycopg import guard,
connecting with clear error messages, the server version, database listing and
table-name parsing. The driver-free half (argument spec, errors and their
wording) is ``_pg_conn.py``, re-exported here. Modules never open their own
connections and never build SQL from strings: identifiers go through
``psycopg.sql``; values are always query parameters.

Time bound: psycopg holds ``connect_timeout`` (at least 2 s, libpq's rule) as one
deadline over the whole connection (TCP, TLS handshake, startup,
authentication), however the server drips or stalls; missing it is reported as
``no complete answer within N s (deadline)``. pg_dump / pg_restore children get
the same bound through ``PGCONNECT_TIMEOUT`` (``_pg_dump.tool_env``).
"""

from __future__ import annotations

import traceback
import typing as t

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils._module_run import run_and_exit
# the driver-free half of the layer, re-exported: modules import connection options and errors from here
from ansible_collections.runbook.ops.plugins.module_utils._pg_conn import (  # noqa: F401  pylint: disable=unused-import
    DATABASES_WHERE, SSL_MODES, PostgresError, connect_bound, connect_deadline_text, describe_target,
    explain_connect_text, postgres_argument_spec, resolve_databases, version_string,
)

PSYCOPG_IMP_ERR = None
try:
    import psycopg
    from psycopg import sql
    from psycopg.rows import dict_row

    HAS_PSYCOPG = True
except ImportError:  # pragma: no cover - exercised by the missing-library test
    psycopg = None
    sql = None
    dict_row = None
    HAS_PSYCOPG = False
    PSYCOPG_IMP_ERR = traceback.format_exc()


class PostgresClient:
    """Connections and catalog helpers for one module run.

    ``module`` is an AnsibleModule whose argument spec includes
    ``postgres_argument_spec()``.
    """

    def __init__(self, module) -> None:
        self.module = module
        if not HAS_PSYCOPG:
            module.fail_json(msg=missing_required_lib("psycopg (psycopg 3)"), exception=PSYCOPG_IMP_ERR)
        self._connections: dict[str, t.Any] = {}
        self._server_version: int | None = None

    # -- connecting -----------------------------------------------------
    def _conn_kwargs(self, dbname: str) -> dict:
        p = self.module.params
        kw: dict[str, t.Any] = {
            "dbname": dbname,
            "user": p["login_user"],
            "connect_timeout": p["connect_timeout"],
            "sslmode": p["ssl_mode"],
            "application_name": "runbook.ops",
        }
        host = p["login_unix_socket"] or p["login_host"]
        if host:
            kw["host"] = host
        kw["port"] = p["login_port"]
        if p["login_password"]:
            kw["password"] = p["login_password"]
        for opt, key in (("ca_cert", "sslrootcert"), ("ssl_cert", "sslcert"), ("ssl_key", "sslkey")):
            if p.get(opt):
                kw[key] = p[opt]
        return kw

    def describe_target(self) -> str:
        return describe_target(self.module.params)

    def connect(self, dbname: str | None = None, autocommit: bool = True):
        """A cached connection to ``dbname`` (default: login_db); errors fail the module clearly."""
        dbname = dbname or self.module.params["login_db"]
        conn = self._connections.get(dbname)
        if conn is not None and not conn.closed:
            return conn
        try:
            conn = psycopg.connect(autocommit=autocommit, row_factory=dict_row, **self._conn_kwargs(dbname))
        except psycopg.OperationalError as exc:
            if isinstance(exc, getattr(psycopg.errors, "ConnectionTimeout", ())):
                raise PostgresError(connect_deadline_text(self.module.params)) from exc
            raise PostgresError(self.explain_connect_error(exc, dbname)) from exc
        self._connections[dbname] = conn
        return conn

    def explain_connect_error(self, exc: Exception, dbname: str) -> str:
        return explain_connect_text(str(exc), self.module.params, dbname)

    def close(self) -> None:
        for conn in self._connections.values():
            try:
                conn.close()
            except Exception:  # closing is best effort at the end of a run
                pass
        self._connections.clear()

    # -- queries ----------------------------------------------------------
    def query(self, conn, query, params: t.Sequence | dict | None = None) -> list[dict]:
        """Rows as dicts; database errors become PostgresError with the server's message."""
        try:
            with conn.cursor() as cur:
                cur.execute(query, params)
                if cur.description is None:
                    return []
                return list(cur.fetchall())
        except psycopg.errors.InsufficientPrivilege as exc:
            raise PostgresError(f"permission denied for user {self.module.params['login_user']!r}: {exc.diag.message_primary or exc}") from exc
        except psycopg.Error as exc:
            primary = getattr(exc.diag, "message_primary", None) or str(exc)
            raise PostgresError(primary) from exc

    def execute(self, conn, query, params=None) -> None:
        self.query(conn, query, params)

    @property
    def server_version(self) -> int:
        """server_version_num of the server, e.g. 150018."""
        if self._server_version is None:
            conn = self.connect()
            self._server_version = conn.info.server_version
        return self._server_version

    def server_version_string(self) -> str:
        return version_string(self.server_version)

    def list_databases(self) -> list[str]:
        """Every database that accepts connections, templates excluded, by name."""
        rows = self.query(self.connect(), f"SELECT datname FROM pg_database WHERE {DATABASES_WHERE} ORDER BY datname")
        return [r["datname"] for r in rows]

    def resolve_databases(self, wanted: list[str] | None, option: str = "databases") -> list[str]:
        """``wanted`` checked against the server (unknown ones fail naming ``option``), or all databases."""
        return resolve_databases(self.list_databases(), wanted, self.describe_target(), option)


def run_with_client(module, body: t.Callable[["PostgresClient"], dict]) -> None:
    """Run ``body(client)`` and exit the module: its dict via exit_json, a PostgresError via fail_json."""
    run_and_exit(module, PostgresClient(module), PostgresError, body)


def qualified(schema: str, name: str):
    """A schema-qualified identifier for psycopg.sql composition."""
    return sql.Identifier(schema, name)
