# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PostgreSQL connection options and their error wording, without a driver.

The parts of the PostgreSQL client layer that do not need psycopg: the shared
argument spec, the error type, the connect and statement bounds, and the words for a
failed connection, a statement cut at its bound or an unknown database. ``_postgres.py`` (psycopg) and the client
tools of ``_pg_tools.py`` (psql, pg_dump) both speak through these, so a wrong
password reads the same whichever client met it. Importing this file costs
nothing: pg_backup loads psycopg (about 80 ms) only when it needs a session of
its own.
"""

from __future__ import annotations

from ansible_collections.runbook.ops.plugins.module_utils._deadline import deadline_message

SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

# every database that accepts connections, templates excluded (what "all databases" means)
DATABASES_WHERE = "NOT datistemplate AND datallowconn"


# seconds one statement may run when a module does not say otherwise (doc fragment runbook.ops.postgres)
STATEMENT_TIMEOUT = 300


def postgres_argument_spec(statement_timeout: int = STATEMENT_TIMEOUT) -> dict:
    """Connection options shared by every PostgreSQL module (doc fragment runbook.ops.postgres).

    ``statement_timeout`` is the module's default bound of one statement (its documentation says it).
    """
    return dict(
        login_host=dict(type="str", default="", aliases=["host"]),
        login_port=dict(type="int", default=5432, aliases=["port"]),
        login_unix_socket=dict(type="str", default="", aliases=["unix_socket"]),
        login_user=dict(type="str", default="postgres", aliases=["user"]),
        login_password=dict(type="str", default="", no_log=True, aliases=["password"]),
        login_db=dict(type="str", default="postgres", aliases=["maintenance_db"]),
        ssl_mode=dict(type="str", default="prefer", choices=SSL_MODES),
        ca_cert=dict(type="path", aliases=["ssl_rootcert"]),
        ssl_cert=dict(type="path"),
        ssl_key=dict(type="path", no_log=False),
        connect_timeout=dict(type="int", default=10),
        statement_timeout=dict(type="int", default=statement_timeout),
    )


class PostgresError(Exception):
    """A failure already worded for the user; modules turn it into fail_json."""


def connect_bound(params: dict) -> float:
    """Seconds connecting may take in total (libpq's rule: at least 2; 0 or less is libpq's default of 130)."""
    value = int(params.get("connect_timeout") or 0)
    if value <= 0:
        return 130.0
    return float(max(2, value))


def statement_bound(params: dict, option: str = "statement_timeout") -> int:
    """Seconds one statement may run (0: no bound of the module's own); a negative value fails naming the option.

    ``option`` is the option that holds the bound (pg_vacuum's ``maintenance_timeout`` too)."""
    value = params.get(option)
    if value is None:
        return 0
    if value < 0:
        raise PostgresError(f"{option} must be 0 (no limit) or more seconds, got {value}")
    return int(value)


def statement_timeout_text(module_name: str, seconds: int, detail: str, option: str = "statement_timeout") -> str:
    """The words for a statement cut at its bound (``option``), by the server or by the client's guard."""
    prefix = f"{module_name}: " if module_name else ""
    return f"{prefix}statement exceeded {option}={seconds}s: {detail}"


def connect_deadline_text(params: dict) -> str:
    """The words for a connection that did not complete within connect_timeout (either client)."""
    return f"cannot connect to PostgreSQL at {describe_target(params)}: {deadline_message(connect_bound(params))} (connect_timeout)"


def describe_target(params: dict) -> str:
    where = params["login_unix_socket"] or params["login_host"] or "the default socket"
    return f"{where}:{params['login_port']}"


def explain_connect_text(text: str, params: dict, dbname: str) -> str:
    """A failed connection in words, from the client's message (psycopg's or libpq's via a tool)."""
    text = text.strip()
    user = params["login_user"]
    target = describe_target(params)
    lowered = text.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return f"authentication failed for user {user!r} at {target} (check login_user / login_password)"
    if "does not exist" in lowered and "database" in lowered:
        return f"database {dbname!r} does not exist on {target}"
    if "role" in lowered and "does not exist" in lowered:
        return f"role {user!r} does not exist on {target} (check login_user)"
    if "connection refused" in lowered or "could not connect" in lowered or "timeout" in lowered:
        return f"cannot connect to PostgreSQL at {target}: {text.splitlines()[-1].strip()}"
    return f"cannot connect to database {dbname!r} at {target}: {text}"


def version_string(server_version_num: int) -> str:
    """``150018`` -> ``15.18``; ``90624`` -> ``9.6.24``."""
    v = server_version_num
    return f"{v // 10000}.{v % 10000}" if v >= 100000 else f"{v // 10000}.{(v // 100) % 100}.{v % 100}"


def resolve_databases(existing: list[str], wanted: list[str] | None, target: str, option: str = "databases") -> list[str]:
    """``wanted`` checked against ``existing`` (unknown ones fail naming ``option``), or all of ``existing``."""
    if not wanted:
        return list(existing)
    missing = [d for d in wanted if d not in existing]
    if missing:
        raise PostgresError(
            f"{option}: database(s) {', '.join(repr(m) for m in missing)} not found on {target}"
            f" (existing: {', '.join(existing)})"
        )
    return list(wanted)
