# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checking and restoring a pg_dump backup: ``pg_restore --list``, a plain dump's trailer, a restore into a
scratch database with row counts compared (pg_backup's ``verify``), and :func:`restore_into` (pg_restore)."""

from __future__ import annotations

import os
import typing as t

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
from ansible_collections.runbook.ops.plugins.module_utils._pg_counts import compare_counts, counts_in_database
from ansible_collections.runbook.ops.plugins.module_utils._pg_plain import open_plain, plain_dump_complete
from ansible_collections.runbook.ops.plugins.module_utils._pg_tools import PgTools, conn_argv, pg_driver, raise_runtime
from ansible_collections.runbook.ops.plugins.module_utils._runtime import RuntimeFailure


def scratch_name(database: str, when) -> str:
    base = f"_verify_{B.stamp(when)}"
    return database[: 63 - len(base)] + base


def list_toc(tools: PgTools, path_in_runtime: str, env: dict, started=None) -> tuple[bool, str, int]:
    """``pg_restore --list``: (ok, error text, number of TOC entries). ``started``: that command already
    running on the host (:func:`start_list_toc`)."""
    if started is not None:
        rc, out, err = tools.runtime.collect(started)
    else:
        rc, out, err = tools.runtime.run([tools.find("pg_restore"), "--list", path_in_runtime], env=env)
    if rc != 0:
        return False, (err or out).strip(), 0
    entries = sum(1 for line in out.splitlines() if line and not line.startswith(";"))
    return True, "", entries


def start_list_toc(tools: PgTools, path: str, env: dict):
    """``pg_restore --list`` of a backup on the host, started (for :func:`list_toc`)."""
    return tools.runtime.start([tools.find("pg_restore"), "--list", path], env=env)


def _runtime_path(run, final: str) -> tuple[str, t.Callable[[], None]]:
    """The backup's path as the tools see it (copied into the container when needed) and a cleanup."""
    if not run.runtime.in_container:
        return final, (lambda: None)
    tmp = run.runtime.mktemp_dir()
    inside = f"{tmp}/{os.path.basename(final)}"
    try:
        run.runtime.copy_in(final, inside)
    except RuntimeFailure as exc:
        run.runtime.remove(tmp)
        raise_runtime(exc)
    return inside, (lambda: run.runtime.remove(tmp))


def verify_dump(run, manifest: dict, final: str, method: str, listing=None) -> tuple[list[str], dict]:
    """``list``: the TOC reads (pg_restore --list, ``listing`` when already started) or the plain dump
    is complete; ``restore``: restore into a scratch database, compare row counts, drop it."""
    pgm = manifest["postgres"]
    fmt = pgm["format"]
    extra: dict = {}
    if method == "list":
        if fmt == "plain":
            ok = plain_dump_complete(final, pgm["compression"])
            return ([] if ok else ["the plain dump lacks pg_dump's completion trailer"]), {"trailer": ok}
        inside, cleanup = (final, lambda: None) if listing is not None else _runtime_path(run, final)
        try:
            ok, err, entries = list_toc(run.tools, inside, run.env, listing)
        finally:
            cleanup()
        extra["toc_entries"] = entries
        return ([] if ok else [f"pg_restore --list failed: {err}"]), extra
    # restore into a scratch database
    scratch = scratch_name(pgm["database"], B.utcnow())
    extra["scratch_database"] = scratch
    sql = pg_driver().sql
    conn = run.client.connect()
    problems: list[str] = []
    try:
        run.client.execute(conn, sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(scratch)))
        rc, err = restore_into(run, final, fmt, pgm["compression"], scratch, jobs=max(1, run.p["jobs"]),
                               no_owner=True, clean=False, if_exists=False, single_transaction=run.p["jobs"] <= 1)
        if rc != 0:
            problems.append(f"restore into scratch database {scratch!r} failed: {err}")
        elif pgm.get("row_counts") is None:
            extra["row_counts"] = "not recorded (the backup was made with row_counts=false): restore checked only"
        else:
            actual = counts_in_database(run.client, scratch)
            diffs = compare_counts(pgm.get("row_counts") or {}, actual)
            extra["tables_compared"] = len(actual)
            extra["row_count_differences"] = diffs
            if diffs:
                problems.append(f"row counts differ from the manifest for {len(diffs)} table(s): "
                                + ", ".join(f"{d['table']} {d['expected']} != {d['actual']}" for d in diffs[:5]))
    finally:
        drop_database(run.client, scratch)
    return problems, extra


def drop_database(client, name: str) -> None:
    sql = pg_driver().sql
    stale = client._connections.pop(name, None)
    if stale is not None:
        try:
            stale.close()
        except Exception:  # best effort
            pass
    client.execute(client.connect(), sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def restore_into(run, final: str, fmt: str, compression: str, target: str, jobs: int = 1, no_owner: bool = False,
                 clean: bool = False, if_exists: bool = False, single_transaction: bool = True,
                 create: bool = False) -> tuple[int, str]:
    """Restore a backup file/dir into ``target``; (rc, error text). Plain SQL: psql with
    ON_ERROR_STOP=1 and --single-transaction; others: pg_restore --exit-on-error."""
    tools = run.tools
    if fmt == "plain":
        argv = [tools.find("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"]
        argv += conn_argv(run.module, target)
        run.result.setdefault("commands", []).append(run.runtime.argv(argv, ["PGPASSWORD"], interactive=True))
        with open_plain(final, compression) as src:
            rc, _out, err = run.runtime.run_from_file(argv, src, env=run.env)
        return rc, _last_lines(err)
    argv = [tools.find("pg_restore"), "--exit-on-error"]
    if jobs > 1:
        argv += ["-j", str(jobs)]
    elif single_transaction:
        argv.append("--single-transaction")
    if no_owner:
        argv.append("--no-owner")
    if clean:
        argv.append("--clean")
    if if_exists:
        argv.append("--if-exists")
    if create:
        argv.append("--create")
    argv += conn_argv(run.module, target)
    inside, cleanup = _runtime_path(run, final)
    try:
        full = argv + [inside]
        run.result.setdefault("commands", []).append(run.runtime.argv(full, ["PGPASSWORD"]))
        rc, out, err = run.runtime.run(full, env=run.env)
    finally:
        cleanup()
    return rc, _last_lines(err or out)


def _last_lines(text: str, n: int = 5) -> str:
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return " ".join(lines[-n:])
