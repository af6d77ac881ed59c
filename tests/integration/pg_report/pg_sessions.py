# SPDX-License-Identifier: GPL-3.0-or-later
"""Real background sessions for the pg_report and pg_activity tests.

A BackgroundSession is a psycopg connection of its own: it can run a blocking
statement in a thread (a long query, a lock wait) or sit idle in a transaction.
Readiness is always polled from pg_stat_activity, never slept for.
"""
from __future__ import annotations

import threading

import psycopg

from harness.net import wait_until


def connect(pg, database: str = "postgres", user: str = "postgres", password: str | None = None,
            application_name: str = "pytest", autocommit: bool = True):
    dsn = pg.dsn(database=database, user=user)
    if password is not None:
        dsn = f"host=127.0.0.1 port={pg.port} user={user} password={password} dbname={database}"
    return psycopg.connect(dsn, autocommit=autocommit, application_name=application_name)


def activity(pg, pid: int) -> dict | None:
    """The pg_stat_activity row of ``pid`` (as seen by a superuser), or None once it is gone."""
    with connect(pg, application_name="pytest-poll") as conn:
        row = conn.execute(
            "SELECT pid, state, query, wait_event_type, datname FROM pg_stat_activity WHERE pid = %s", [pid]
        ).fetchone()
    if row is None:
        return None
    return dict(zip(("pid", "state", "query", "wait_event_type", "database"), row))


def wait_state(pg, pid: int, state: str | None, query_contains: str = "", wait_event_type: str | None = None,
               timeout: float = 30) -> None:
    """Poll until ``pid`` is in ``state`` (None: until it is gone)."""
    def ready() -> bool:
        row = activity(pg, pid)
        if state is None:
            return row is None
        return (row is not None and row["state"] == state and query_contains in (row["query"] or "")
                and (wait_event_type is None or row["wait_event_type"] == wait_event_type))
    wait_until(ready, timeout, f"pid {pid} in state {state!r}", interval=0.05)


class BackgroundSession:
    """One connection under test control; ``close()`` undoes whatever it is doing."""

    def __init__(self, pg, database: str, user: str = "postgres", password: str | None = None,
                 application_name: str = "pytest-bg"):
        self.pg = pg
        self.conn = connect(pg, database, user, password, application_name, autocommit=False)
        self.pid = self.conn.info.backend_pid
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def run_blocking(self, statement: str, state: str = "active", wait_event_type: str | None = None):
        """Run ``statement`` in a thread and wait until the server shows it running."""
        def body():
            try:
                self.conn.execute(statement)
            except BaseException as exc:  # cancelled or terminated by the test: recorded for asserts
                self.error = exc
        self.thread = threading.Thread(target=body, daemon=True)
        self.thread.start()
        wait_state(self.pg, self.pid, state, statement[:30], wait_event_type)
        return self

    def idle_in_transaction(self, statement: str = "SELECT 1"):
        self.conn.execute(statement)
        wait_state(self.pg, self.pid, "idle in transaction", statement[:30])
        return self

    def join(self, timeout: float = 30) -> None:
        if self.thread is not None:
            self.thread.join(timeout)

    def close(self) -> None:
        if self.thread is not None and self.thread.is_alive():
            try:
                self.conn.cancel_safe()
            except Exception:
                pass
            self.thread.join(30)
        try:
            self.conn.rollback()
        except Exception:
            pass
        try:
            self.conn.close()
        except Exception:
            pass


class Sessions:
    """Factory fixture: every session it opened is closed at teardown."""

    def __init__(self, pg):
        self.pg = pg
        self.opened: list[BackgroundSession] = []

    def open(self, database: str, **kw) -> BackgroundSession:
        s = BackgroundSession(self.pg, database, **kw)
        self.opened.append(s)
        return s

    def close_all(self) -> None:
        for s in reversed(self.opened):
            s.close()
        self.opened.clear()
