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
the same bound through ``PGCONNECT_TIMEOUT`` (``_pg_tools.tool_env``).

Once connected, every statement is bounded by ``statement_timeout`` (seconds, the
module's default unless set; 0 leaves the server's setting alone): the session's
``statement_timeout`` is set to it (or kept, when the server's own is lower), so the
server cancels a statement that runs long; and every wait on the connection runs
under a watchdog that shuts the socket down ``GRACE`` later, so a server that stops
answering (silent, or one byte a second) cannot hold the module either. Both say
``<module>: statement exceeded statement_timeout=Ns: ...``.
VACUUM-like work runs in :meth:`PostgresClient.bounded` under a bound of its own (pg_vacuum's
``maintenance_timeout``, same two guards, the message names that option) or, at 0, as long as
it needs under the server's own statement_timeout. A session of its own beside the cached
ones (pg_backup's snapshot row counts) comes from :meth:`PostgresClient.session`, bounded alike.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import traceback
import typing as t

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils._deadline import GRACE, DeadlineExceeded, Watchdog
from ansible_collections.runbook.ops.plugins.module_utils._module_run import run_and_exit
# the driver-free half of the layer, re-exported: modules import connection options and errors from here
from ansible_collections.runbook.ops.plugins.module_utils._pg_conn import (  # noqa: F401  pylint: disable=unused-import
    DATABASES_WHERE, SSL_MODES, PostgresError, connect_bound, connect_deadline_text, describe_target,
    explain_connect_text, postgres_argument_spec, resolve_databases, statement_bound, statement_timeout_text,
    version_string,
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

# the session's statement_timeout: ours, unless the server's own (role, database, server) is lower
_SET_STATEMENT_TIMEOUT = """
SELECT set_config('statement_timeout',
                  CASE WHEN s.setting::bigint > 0 AND s.setting::bigint < %(ms)s THEN s.setting ELSE %(ms)s::text END,
                  false) AS statement_timeout
  FROM pg_catalog.pg_settings s WHERE s.name = 'statement_timeout'
"""


class _Guard:
    """The client-side bound of every wait on one connection (see :class:`_BoundedConnection`)."""

    __slots__ = ("watchdog", "seconds", "module_name", "option")

    def __init__(self, watchdog: Watchdog, seconds: int, module_name: str, option: str = "statement_timeout") -> None:
        self.watchdog = watchdog
        self.seconds = seconds
        self.module_name = module_name
        self.option = option

    def text(self, detail: str) -> str:
        return statement_timeout_text(self.module_name, self.seconds, detail, self.option)


if HAS_PSYCOPG:
    class _BoundedConnection(psycopg.Connection):
        """A psycopg connection whose every wait (execute, fetch, commit) holds the statement bound.

        ``Connection.wait`` is where psycopg blocks on the socket once connected; the guard
        shuts the socket down ``GRACE`` after ``statement_timeout`` (the server should have
        cancelled the statement by then), so the blocked wait returns at once.
        """

        _rb_guard: _Guard | None = None

        def _rb_abort(self) -> None:
            try:
                fd = os.dup(self.pgconn.socket)
            except (OSError, psycopg.Error):
                return
            with socket.socket(fileno=fd) as sock:  # a duplicate: shutting it down shuts the connection down
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        def wait(self, gen, *args, **kwargs):
            guard = self._rb_guard
            if guard is None:
                return super().wait(gen, *args, **kwargs)
            started = time.monotonic()
            try:
                with guard.watchdog.armed(guard.seconds + GRACE, self._rb_abort):
                    return super().wait(gen, *args, **kwargs)
            except DeadlineExceeded as exc:
                raise psycopg.OperationalError(guard.text(str(exc))) from None
            except psycopg.errors.QueryCanceled as exc:
                if time.monotonic() - started < guard.seconds:
                    raise  # cancelled by someone else, or by the server's own lower statement_timeout
                detail = getattr(exc.diag, "message_primary", None) or str(exc)
                raise psycopg.errors.QueryCanceled(guard.text(detail)) from None


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
        try:
            self.statement_timeout = statement_bound(module.params)
        except PostgresError as exc:
            module.fail_json(msg=str(exc))
        name = str(getattr(module, "_name", "") or "")
        # runbook.ops.pg_report -> pg_report, for messages ("basic.py": AnsibleModule had no name to read)
        self.module_name = "" if name.endswith(".py") else name.rsplit(".", 1)[-1]
        self._watchdog = Watchdog()

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
        conn = self.session(dbname, autocommit)
        self._connections[dbname] = conn
        return conn

    def session(self, dbname: str, autocommit: bool = True):
        """A new connection to ``dbname`` under the module's statement bound, not cached: the caller closes it.
        With ``autocommit`` False its first statement opens the transaction (the bound is set before)."""
        try:
            conn = _BoundedConnection.connect(autocommit=True, row_factory=dict_row, **self._conn_kwargs(dbname))
        except psycopg.OperationalError as exc:
            if isinstance(exc, getattr(psycopg.errors, "ConnectionTimeout", ())):
                raise PostgresError(connect_deadline_text(self.module.params)) from exc
            raise PostgresError(self.explain_connect_error(exc, dbname)) from exc
        try:
            self._bound_session(conn)
            conn.autocommit = autocommit
        except BaseException:
            conn.close()
            raise
        return conn

    # -- the statement bound ------------------------------------------------
    def _bound_session(self, conn) -> None:
        """Give ``conn`` the module's statement bound: the session setting and the client's guard."""
        if not self.statement_timeout:
            return
        conn._rb_guard = _Guard(self._watchdog, self.statement_timeout, self.module_name)
        self.query(conn, _SET_STATEMENT_TIMEOUT, {"ms": self.statement_timeout * 1000})

    @contextlib.contextmanager
    def bounded(self, conn, seconds: int, option: str):
        """Statements in the block run under ``seconds`` of their own, named ``option`` in the failure
        (the session setting, a lower one of the server's own still applies, and the guard); at 0 under
        the server's own statement_timeout and no guard (work documented to take as long as it needs,
        like VACUUM). The module's statement bound is back afterwards."""
        before = getattr(conn, "_rb_guard", None)
        if before is None and not seconds:
            yield
            return
        self.execute(conn, "RESET statement_timeout")  # the server's own, so that a longer bound can be set
        if seconds:
            self.query(conn, _SET_STATEMENT_TIMEOUT, {"ms": seconds * 1000})
        conn._rb_guard = _Guard(self._watchdog, seconds, self.module_name, option) if seconds else None
        try:
            yield
        finally:
            conn._rb_guard = before
        if not conn.closed:
            self.execute(conn, "RESET statement_timeout")
            if before is not None:
                self.query(conn, _SET_STATEMENT_TIMEOUT, {"ms": self.statement_timeout * 1000})

    def explain_connect_error(self, exc: Exception, dbname: str) -> str:
        return explain_connect_text(str(exc), self.module.params, dbname)

    def close(self) -> None:
        for conn in self._connections.values():
            try:
                conn.close()
            except Exception:  # closing is best effort at the end of a run
                pass
        self._connections.clear()
        self._watchdog.close()

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
