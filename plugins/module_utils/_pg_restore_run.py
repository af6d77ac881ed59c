# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One pg_restore run (:class:`RestoreRun`): find the backup, check its checksums, restore, compare row counts."""

from __future__ import annotations

import os

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
from ansible_collections.runbook.ops.plugins.module_utils._pg_conn import PostgresError
from ansible_collections.runbook.ops.plugins.module_utils._pg_counts import compare_counts, counts_in_database
from ansible_collections.runbook.ops.plugins.module_utils._pg_tools import FORMATS, PgTools, pg_driver, tool_env, tool_runtime
from ansible_collections.runbook.ops.plugins.module_utils._pg_verify import drop_database, restore_into


class RestoreRun:
    """One pg_restore run: find the backup, verify checksums, restore, compare row counts."""

    def __init__(self, module, client) -> None:
        self.module = module
        self.client = client
        self.p = module.params
        self.check = module.check_mode
        self.runtime = tool_runtime(module)
        self.env = tool_env(module)
        self.tools: PgTools | None = None
        self.result: dict = {"changed": False, "commands": []}

    def find_backup(self) -> B.BackupRecord:
        p = self.p
        if p["backup"] == "latest":
            if not p["backup_dir"] or not p["database"]:
                raise PostgresError("backup=latest needs backup_dir and database (the backed-up database's name)")
            records = B.read_manifests(p["backup_dir"], "postgres", p["database"])
            rec, warnings = B.pick_latest(records)
            for warning in warnings:
                self.module.warn(warning)
            if rec is None:
                raise PostgresError(
                    f"backup=latest: no trustworthy backup of database {p['database']!r} in {p['backup_dir']}"
                    f" ({len(records)} backup(s) with a manifest, none complete, verified and dated in the past"
                    + (f"; {len(warnings)} verified one(s) dated in the future, give its path as backup to restore it"
                       if warnings else "") + ")"
                )
            return rec
        path = os.path.abspath(p["backup"])
        mpath = path if path.endswith(B.MANIFEST_SUFFIX) else B.manifest_path_for(path)
        if not os.path.exists(mpath):
            raise PostgresError(f"backup: no manifest {mpath} next to {path}; only backups made by pg_backup can be restored")
        try:
            manifest = B.load_manifest(mpath)
            rec = B.record_from_manifest(mpath, manifest)
        except B.BackupError as exc:
            raise PostgresError(f"backup: {exc}") from exc
        except (KeyError, ValueError, TypeError) as exc:
            raise PostgresError(f"backup: manifest {mpath} is damaged: {exc}") from exc
        if rec.kind != "postgres":
            raise PostgresError(f"backup: {path} is a {rec.kind!r} backup, not a PostgreSQL one")
        return rec

    def run(self) -> dict:
        p = self.p
        if p["jobs"] < 1:
            raise PostgresError("jobs: must be at least 1")
        rec = self.find_backup()
        pgm = rec.manifest.get("postgres", {})
        if pgm.get("globals"):
            raise PostgresError("backup: this is a globals (roles/tablespaces) dump; apply it with psql as a superuser "
                                "after reviewing it, pg_restore restores databases only")
        fmt = pgm.get("format")
        if fmt not in FORMATS:
            raise PostgresError(f"backup: unknown format {fmt!r} in manifest {rec.manifest_path}")
        if p["jobs"] > 1 and fmt not in ("custom", "directory"):
            raise PostgresError(f"jobs: parallel restore needs a custom or directory backup (this one is {fmt})")
        target = p["target_database"] or pgm.get("database")
        self.result.update(backup=rec.path, manifest=rec.manifest_path, format=fmt, target_database=target,
                           source_database=pgm.get("database"), backup_finished_at=rec.manifest.get("finished_at"),
                           backup_verified=rec.manifest.get("verified"))
        if not rec.complete:
            raise PostgresError(f"backup: {rec.path} is incomplete (files missing or truncated); refusing to restore it")
        problems = B.verify_files(rec)
        self.result["checksum"] = "ok" if not problems else "mismatch"
        if problems:
            raise PostgresError(f"backup: checksum verification of {rec.path} failed, refusing to restore it: "
                                + "; ".join(problems))
        self.tools = PgTools(self.module, self.runtime, self.client.server_version)
        self.tools.find("psql" if fmt == "plain" else "pg_restore")
        exists = target in self.client.list_databases()
        if not exists and not p["create"]:
            raise PostgresError(f"target_database: database {target!r} does not exist on {self.client.describe_target()} "
                                "(set create=true to create it)")
        self.result["created_database"] = not exists
        self.result["dropped_database"] = False
        if self.check:
            self.result["changed"] = True
            return self.result
        if not exists:
            sql = pg_driver().sql
            self.client.execute(self.client.connect(),
                                sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(target)))
        try:
            self._restore(rec, fmt, pgm, target)
        except BaseException as exc:
            if not exists:
                note = self._drop_created(target)
                if isinstance(exc, PostgresError):
                    raise PostgresError(f"{exc}; {note}") from exc
                self.result["cleanup"] = note
            raise
        if self.result.get("failed") and not exists:
            self.result["msg"] = f"{self.result.get('msg', '')}; {self._drop_created(target)}"
        return self.result

    def _drop_created(self, target: str) -> str:
        """A failed restore drops the database it created; what happened, in words."""
        try:
            drop_database(self.client, target)
        except PostgresError as exc:
            return f"the database {target!r} this run created could NOT be dropped: {exc}"
        self.result["dropped_database"] = True
        return f"the database {target!r} this run created was dropped"

    def _restore(self, rec, fmt: str, pgm: dict, target: str) -> None:
        p = self.p
        started = B.utcnow()
        rc, err = restore_into(self, rec.path, fmt, pgm.get("compression", "none"), target, jobs=p["jobs"],
                               no_owner=p["no_owner"], clean=p["clean"], if_exists=p["if_exists"],
                               single_transaction=p["jobs"] <= 1)
        self.result["duration_seconds"] = round((B.utcnow() - started).total_seconds(), 3)
        self.result["finished_at"] = B.format_time(B.utcnow())
        self.result["changed"] = True
        if rc != 0:
            what = "psql (ON_ERROR_STOP=1, single transaction: nothing was committed)" if fmt == "plain" else "pg_restore"
            raise PostgresError(f"restore of {rec.path} into {target!r} failed: {what}: {err}")
        if p["compare_row_counts"] and pgm.get("row_counts") is None:
            self.module.warn(f"{rec.path} has no row counts (made with pg_backup row_counts=false): "
                             "nothing to compare the restored tables with")
            self.result["row_count_differences"] = []
            self.result["tables_compared"] = 0
        elif p["compare_row_counts"]:
            expected = pgm.get("row_counts") or {}
            actual = counts_in_database(self.client, target)
            diffs = compare_counts(expected, actual)
            self.result["row_count_differences"] = diffs
            self.result["tables_compared"] = len(set(expected) | set(actual))
            if diffs:
                self.result["failed"] = True
                self.result["msg"] = (f"restored {rec.path} into {target!r}, but row counts differ from the manifest for "
                                      f"{len(diffs)} table(s): " + ", ".join(
                                          f"{d['table']} expected {d['expected']} got {d['actual']}" for d in diffs[:10]))
