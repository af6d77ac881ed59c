# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One pg_backup run (:class:`BackupRun`): every database dumped, counted, verified, then retention applied.

What the server is comes from ``_pg_facts`` (psql), the tools from ``_pg_tools``, row counts from
``_pg_archive`` (in the archive pg_dump writes) or ``_pg_counts`` (in an exported snapshot), the
checks from ``_pg_verify``; files, manifests and retention from ``_backup``.
"""

from __future__ import annotations

import os
import typing as t

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
from ansible_collections.runbook.ops.plugins.module_utils._pg_archive import MAX_PG_DUMP_MAJOR, ArchiveCounter, ArchiveError
from ansible_collections.runbook.ops.plugins.module_utils._pg_conn import PostgresError
from ansible_collections.runbook.ops.plugins.module_utils._pg_counts import SnapshotCounter, archive_countable, table_key
from ansible_collections.runbook.ops.plugins.module_utils._pg_facts import ServerFacts
from ansible_collections.runbook.ops.plugins.module_utils._pg_tools import FORMATS, LazyClient, PgTools, conn_argv, tool_env, tool_runtime
from ansible_collections.runbook.ops.plugins.module_utils._pg_verify import start_list_toc, verify_dump
from ansible_collections.runbook.ops.plugins.module_utils._runtime import RuntimeFailure, kill_group

GLOBALS_NAME = ":globals:"


class _Dump:
    """A pg_dump on the host writing one database into its partial file, with its row-count follower."""

    def __init__(self, database: str, started, final: str, partial: str, argv: list[str], proc):
        self.database = database
        self.started = started
        self.final = final
        self.partial = partial
        self.argv = argv
        self.proc = proc
        self.follower: ArchiveCounter | None = None

    def cancel(self) -> None:
        """Stop pg_dump (its whole process group), its follower, and remove the partial file."""
        if self.proc.returncode is None:
            kill_group(self.proc)
        if self.follower is not None:
            self.follower.abort()
            self.follower = None
        B.discard_partial(self.partial)


class BackupRun:
    """One pg_backup run: every step for every database, results collected for the module.

    What the server is (version, databases, sizes) comes from :class:`ServerFacts` (psql); a psycopg
    session (``self.client``) is opened only for snapshot row counts and verify=restore.
    """

    def __init__(self, module, lazy_client: LazyClient) -> None:
        self.module = module
        self._lazy_client = lazy_client
        self.facts: ServerFacts | None = None
        p = module.params
        self.p = p
        self.check = module.check_mode
        self.dest = os.path.abspath(p["backup_dir"])
        self.runtime = tool_runtime(module)
        self.env = tool_env(module)
        self.tools: PgTools | None = None
        self.result: dict = {"changed": False, "backups": [], "retention": {}, "leftovers_removed": [],
                             "deleted": [], "would_create": [], "commands": []}

    # -- validation ------------------------------------------------------------
    def validate_options(self) -> None:
        """Checks of the options alone, before anything touches the server or the disk."""
        p = self.p
        if p["jobs"] < 1:
            raise PostgresError("jobs: must be at least 1")
        if p["jobs"] > 1 and p["format"] != "directory":
            raise PostgresError(f"jobs: parallel dumps need format=directory (format is {p['format']})")
        if p["keep_last"] is not None and p["keep_last"] < 1:
            raise PostgresError("keep_last: must be at least 1 (the newest verified backup is always kept)")
        if p["max_age_days"] is not None and p["max_age_days"] < 0:
            raise PostgresError("max_age_days: must not be negative")
        if p["space_factor"] < 0:
            raise PostgresError("space_factor: must not be negative (0 disables the space check)")
        if p["format"] == "plain" and p["compression"] not in ("none", "gzip"):
            raise PostgresError("compression: plain format backups support none or gzip here")
        self.session = not self.check and (p["verify"] == "restore" or (
            p["row_counts"] and not archive_countable(p["format"], p["compression"])))
        if self.session:
            self._lazy_client.get()  # psycopg is needed: a missing library is named before anything runs

    def validate_server(self) -> None:
        """What the server says (version, databases, sizes) and the tools that match it."""
        p = self.p
        self.facts = ServerFacts(self.module, self.runtime, self.env, p["databases"])
        self.tools = PgTools(self.module, self.runtime, self.facts.server_version)
        self.compress_args = self.tools.check_compression(p["compression"], p["compression_level"], p["format"])
        if self.session or (not self.check and p["row_counts"] and self._count_method() == "snapshot"):
            self.client.connect()  # a wrong password for the session fails now, before dumping

    @property
    def client(self):
        """The psycopg client (imported and connected on first use)."""
        return self._lazy_client.get()

    def _cmd(self, argv: list[str]) -> None:
        self.result["commands"].append(self.runtime.argv(argv, [k for k in self.env if k == "PGPASSWORD"]))

    # -- main ---------------------------------------------------------------------
    def run(self) -> dict:
        self.validate_options()
        early = self._start_early()
        try:
            self.validate_server()
            databases = self.facts.resolve_databases(self.p["databases"] or None)
            self.tools.find("pg_dump")
            if early is not None and not self._keep_early(early):
                early = None
        except BaseException:
            if early is not None:
                early.cancel()
            raise
        names = list(databases) + ([GLOBALS_NAME] if self.p["globals"] else [])
        if early is None and not self.result.get("backup_dir"):
            self._prepare_dir(names)
        for name in names:
            if self.check:
                self._predict(name)
            elif name == GLOBALS_NAME:
                self._backup_globals()
            elif early is not None and name == early.database:
                self._backup_database(name, early)
                early = None
            else:
                self._backup_database(name)
            self._retention(name)
        self.result["changed"] = bool(self.result["changed"] or self.result["backups"] or self.result["would_create"]
                                      or self.result["deleted"] or self.result["leftovers_removed"])
        failed = [b for b in self.result["backups"] if b["verified"] == B.VERIFY_FAILED]
        if failed:
            self.result["failed"] = True
            self.result["msg"] = "verification failed for " + ", ".join(
                f"{b['name']} ({b['path']}: {b['verification'].get('error', '')})" for b in failed)
        return self.result

    def _prepare_dir(self, names: list[str]) -> None:
        """Create backup_dir if needed and remove the leftovers of killed runs of these series."""
        created_dir = B.ensure_dir(self.dest, self.p["owner"], self.p["group"], check_mode=self.check)
        self.result["changed"] |= created_dir
        self.result["backup_dir"] = self.dest
        for name in names:
            self._leftovers(name)

    # -- the first dump starts while the server is asked ------------------------------
    # pg_dump of the first named database starts before ServerFacts has answered when nothing it needs
    # can depend on the answer: the databases are named, the dump runs on this host, its rows are counted
    # in the archive (or not at all), and the pg_dump to use is the same whatever the server's version
    # (pg_dump_path / pg_bin_dir set, or at most one /usr/lib/postgresql/<major> installed). Once the
    # server has answered, every check runs as it would have before the dump: a missing database, too
    # little space, a pg_dump older than the server, or another pg_dump chosen stops it (its process group
    # is killed and its partial file removed) before anything else is done. It saves the time of one psql
    # query (about 20 ms), which is most of what pg_backup adds to a small database's dump.
    def _start_early(self) -> "_Dump | None":
        p = self.p
        if self.check or self.runtime.in_container or not p["databases"] or p["compression"] not in ("gzip", "none"):
            return None
        guess = PgTools.server_independent(self.module, self.runtime)
        if guess is None:
            return None
        try:
            pg_dump = guess.find("pg_dump")
            method = self._count_method(guess) if p["row_counts"] else None
            if method == "snapshot":  # the snapshot is exported before pg_dump starts
                return None
            compress_args = guess.check_compression(p["compression"], p["compression_level"], p["format"])
        except PostgresError:
            return None  # the same checks run again, with the server's answer, and fail there
        names = list(p["databases"]) + ([GLOBALS_NAME] if p["globals"] else [])
        self._prepare_dir(names)
        return self._start_on_host(p["databases"][0], pg_dump, compress_args, method)

    def _keep_early(self, early: "_Dump") -> bool:
        """The server has answered: True if the early dump is the one the checks allow, else it is stopped."""
        if self.tools.find("pg_dump") != early.argv[0]:
            early.cancel()  # the server's version picks another pg_dump: dump again with that one
            return False
        try:
            self._check_space(early.database)
        except BaseException:
            early.cancel()
            raise
        return True

    def _ext(self, fmt: str, compression: str) -> str:
        ext = FORMATS[fmt][1]
        if fmt == "plain" and compression == "gzip":
            ext += ".gz"
        return ext

    def _final_path(self, name: str, when) -> str:
        if name == GLOBALS_NAME:
            return os.path.join(self.dest, B.backup_basename("globals", when, ".sql"))
        return os.path.join(self.dest, B.backup_basename(name, when, self._ext(self.p["format"], self.p["compression"])))

    def _prefix(self, name: str) -> str:
        return B.safe_name("globals" if name == GLOBALS_NAME else name) + "-"

    # -- leftovers --------------------------------------------------------------------
    def _leftovers(self, name: str) -> None:
        for lo in B.find_leftovers(self.dest, self._prefix(name)):
            if not self.check:
                B.remove_leftover(lo)
            self.result["leftovers_removed"].append(lo.as_dict())

    # -- check mode ------------------------------------------------------------------
    def _predict(self, name: str) -> None:
        when = B.utcnow()
        final = self._final_path(name, when)
        if name != GLOBALS_NAME and self.p["space_factor"] > 0 and os.path.isdir(self.dest):
            size = self.facts.size(name)
            B.check_free_space(self.dest, int(size * self.p["space_factor"]), f"a backup of database {name!r}")
        self.result["would_create"].append({"name": name, "path": final, "manifest": B.manifest_path_for(final)})

    # -- one database -------------------------------------------------------------
    def _check_space(self, db: str) -> int:
        """pg_database_size of ``db``; BackupError when backup_dir has less free space than it x space_factor."""
        p = self.p
        size = self.facts.size(db)
        if p["space_factor"] > 0:
            B.check_free_space(self.dest, int(size * p["space_factor"]), f"a backup of database {db!r} "
                               f"(pg_database_size {B.human_bytes(size)} x space_factor {p['space_factor']:g})")
        return size

    def _dump_argv(self, pg_dump: str, compress_args: list[str], db: str, snapshot: str | None = None) -> list[str]:
        p = self.p
        argv = [pg_dump, "-F", FORMATS[p["format"]][0]]
        if snapshot is not None:
            argv.append(f"--snapshot={snapshot}")
        argv += compress_args
        if p["jobs"] > 1:
            argv += ["-j", str(p["jobs"])]
        return argv + conn_argv(self.module, db)

    def _start_on_host(self, db: str, pg_dump: str, compress_args: list[str], method: str | None,
                       snapshot: str | None = None, started=None) -> "_Dump":
        """pg_dump of ``db`` into its partial file on this host, started (and its follower, for ``archive``)."""
        started = started or B.utcnow()
        final = self._final_path(db, started)
        partial = B.partial_name(final)
        full = self._dump_argv(pg_dump, compress_args, db, snapshot) + ["-f", partial]
        B.new_partial(final, directory=self.p["format"] == "directory")
        self._cmd(full)
        try:
            proc = self.runtime.start(full, env=self.env)
        except BaseException:
            B.discard_partial(partial)
            raise
        dump = _Dump(db, started, final, partial, full, proc)
        dump.follower = self._follow(method, partial)
        return dump

    def _backup_database(self, db: str, early: "_Dump | None" = None) -> None:
        p = self.p
        size = self._check_space(db) if early is None else self.facts.size(db)
        is_dir = p["format"] == "directory"
        method = self._count_method() if p["row_counts"] else None
        # "archive": a follower counts each table's rows in the data pg_dump writes (no second read);
        # "snapshot": a REPEATABLE READ transaction exports its snapshot to pg_dump and counts in it
        snap = SnapshotCounter(self.client, db) if method == "snapshot" and early is None else None
        dump: _Dump | None = early
        follower: ArchiveCounter | None = None
        rc, err = 1, ""
        counts: dict[str, int] | None = None
        count_error: str | None = None
        known_hashes: dict[str, tuple[int, str]] = {}
        started = early.started if early is not None else B.utcnow()
        final = early.final if early is not None else self._final_path(db, started)
        partial = B.partial_name(final)
        try:
            if dump is None and not self.runtime.in_container:
                snapshot = snap.open() if snap is not None else None
                dump = self._start_on_host(db, self.tools.find("pg_dump"), self.compress_args, method, snapshot, started)
            if dump is not None:
                if snap is not None:
                    snap.start_counting()
                follower, dump.follower = dump.follower, None  # from here on, aborted below if need be
                rc, _out, err = self.runtime.collect(dump.proc)
            else:
                argv = self._dump_argv(self.tools.find("pg_dump"), self.compress_args, db,
                                       snap.open() if snap is not None else None)
                if snap is not None:
                    snap.start_counting()
                if is_dir:
                    tmp = self.runtime.mktemp_dir()
                    try:
                        full = argv + ["-f", f"{tmp}/dump"]
                        self._cmd(full)
                        rc, _out, err = self.runtime.run(full, env=self.env)
                        if rc == 0:
                            B.remove_path(partial)
                            self.runtime.copy_out(f"{tmp}/dump", partial)
                            follower = self._follow(method, partial)
                    finally:
                        self.runtime.remove(tmp)
                else:
                    B.new_partial(final)
                    self._cmd(argv)
                    follower = self._follow(method, partial)
                    with open(partial, "wb") as fh:
                        rc, err = self.runtime.run_to_file(argv, fh, env=self.env)
            if snap is not None:
                counts = snap.wait()
            if follower is not None:
                if rc != 0:
                    follower.abort()
                else:
                    try:
                        counts = {table_key(s, n): rows for (s, n), rows in follower.finish().items()}
                        known_hashes = follower.file_hashes
                    except ArchiveError as exc:
                        count_error = f"row counts: cannot read the archive pg_dump wrote: {exc}"
                follower = None
        except RuntimeFailure as exc:
            if dump is not None:
                dump.cancel()
            B.discard_partial(partial)
            raise PostgresError(f"backup of {db!r}: {exc}; its partial file was removed, earlier backups are untouched") from exc
        except BaseException:
            if dump is not None:
                dump.cancel()
            B.discard_partial(partial)
            raise
        finally:
            if follower is not None:
                follower.abort()
            if snap is not None:
                snap.close()
        if rc != 0:
            B.discard_partial(partial)
            self._dump_failed("pg_dump", db, rc, err)
        self._finish(db, final, partial, started, {
            "database": db,
            "format": p["format"],
            "compression": p["compression"],
            "compression_level": p["compression_level"],
            "jobs": p["jobs"],
            "server_version": self.facts.version_string(),
            "pg_dump_version": self.tools.versions.get("pg_dump"),
            "database_size": size,
            "snapshot_row_counts": counts is not None,
            "row_counts_from": method if counts is not None else None,
            "row_counts": counts,
            "tables": None if counts is None else len(counts),
            "total_rows": None if counts is None else sum(counts.values()),
            "ran_in": self.runtime.describe(),
        }, count_error, known_hashes)

    def _count_method(self, tools: PgTools | None = None) -> str:
        """``archive`` when the rows can be counted in pg_dump's own output, else ``snapshot``.

        The archive is read for the custom format compressed with gzip (pg_dump writes chunks of
        compressed data) and the directory format with gzip or none (a file per table); other
        formats and compressions (lz4, zstd: no decompressor in the standard library; custom
        uncompressed: a length-prefixed chunk per row, too slow to walk in Python) count in the
        exported snapshot instead.
        """
        if (tools or self.tools).major("pg_dump") > MAX_PG_DUMP_MAJOR:
            return "snapshot"
        return "archive" if archive_countable(self.p["format"], self.p["compression"]) else "snapshot"

    def _follow(self, method: str | None, partial: str) -> ArchiveCounter | None:
        if method != "archive":
            return None
        follower = ArchiveCounter(partial, self.p["format"])
        follower.start()
        return follower

    def _backup_globals(self) -> None:
        started = B.utcnow()
        final = self._final_path(GLOBALS_NAME, started)
        partial = B.partial_name(final)
        argv = [self.tools.find("pg_dumpall"), "--globals-only"] + conn_argv(self.module, self.p["login_db"], "-l")
        try:
            B.new_partial(final)
            if self.runtime.in_container:
                self._cmd(argv)
                with open(partial, "wb") as fh:
                    rc, err = self.runtime.run_to_file(argv, fh, env=self.env)
            else:
                full = argv + ["-f", partial]
                self._cmd(full)
                rc, _out, err = self.runtime.run(full, env=self.env)
        except BaseException:
            B.discard_partial(partial)
            raise
        if rc != 0:
            B.discard_partial(partial)
            self._dump_failed("pg_dumpall --globals-only", "globals", rc, err)
        self._finish(GLOBALS_NAME, final, partial, started, {
            "database": None, "globals": True, "format": "plain", "compression": "none",
            "server_version": self.facts.version_string(),
            "pg_dump_version": self.tools.versions.get("pg_dumpall"),
        })

    def _dump_failed(self, tool: str, what: str, rc: int, err: str) -> t.NoReturn:
        text = (err or "").strip()
        if "No space left on device" in text or "Disk quota exceeded" in text:
            raise PostgresError(
                f"{tool} of {what!r} failed: the destination {self.dest} is full ({text.splitlines()[-1]}); "
                f"the partial file was removed, earlier backups are untouched"
            )
        last = text.splitlines()[-3:] if text else [f"exit code {rc}"]
        raise PostgresError(f"{tool} of {what!r} failed (exit code {rc}): {' '.join(last)}")

    def _finish(self, name: str, final: str, partial: str, started, details: dict,
                count_error: str | None = None, known_hashes: dict[str, tuple[int, str]] | None = None) -> None:
        p = self.p
        try:
            entries = B.file_entries(partial, self.dest, known_hashes)
            pbase, fbase = os.path.basename(partial), os.path.basename(final)
            for e in entries:
                e["path"] = fbase + e["path"][len(pbase):]
            B.commit_partial(partial, final, p["owner"], p["group"])
        except BaseException:
            B.discard_partial(partial)
            raise
        finished = B.utcnow()
        manifest = B.new_manifest("postgres", name, final, started, finished, entries, details)
        if count_error:
            B.set_verification(manifest, p["verify"], False, {"error": count_error})
        elif name != GLOBALS_NAME:
            self._verify(manifest, final)
        else:
            problems = B.verify_files(manifest, self.dest) if p["verify"] != "none" else []
            B.set_verification(manifest, "checksum" if p["verify"] != "none" else "none",
                               None if p["verify"] == "none" else not problems,
                               {"error": "; ".join(problems)} if problems else {})
        mpath = B.manifest_path_for(final)
        B.write_manifest(mpath, manifest, p["owner"], p["group"])
        self.result["backups"].append({
            "name": name,
            "database": details.get("database"),
            "path": final,
            "manifest": mpath,
            "size": manifest["size"],
            "files": entries,
            "sha256": entries[0]["sha256"] if len(entries) == 1 and not os.path.isdir(final) else None,
            "started_at": manifest["started_at"],
            "finished_at": manifest["finished_at"],
            "duration_seconds": manifest["duration_seconds"],
            "verified": manifest["verified"],
            "verification": manifest["verification"],
            "tables": details.get("tables"),
            "total_rows": details.get("total_rows"),
        })
        self.result["changed"] = True

    # -- verification ------------------------------------------------------------------
    def _verify(self, manifest: dict, final: str) -> None:
        method = self.p["verify"]
        if method == "none":
            B.set_verification(manifest, "none", None)
            return
        vstart = B.utcnow()
        listing = None  # pg_restore --list reads the TOC while the checksums are read again
        if method == "list" and self.p["format"] != "plain" and not self.runtime.in_container:
            listing = start_list_toc(self.tools, final, self.env)
        try:
            problems = B.verify_files(manifest, self.dest)
        except BaseException:
            if listing is not None:
                kill_group(listing)
            raise
        details: dict = {"checksums": "ok" if not problems else "mismatch"}
        if not problems:
            problems, extra = verify_dump(self, manifest, final, method, listing)
            details.update(extra)
        elif listing is not None:
            kill_group(listing)
        details["duration_seconds"] = round((B.utcnow() - vstart).total_seconds(), 3)
        if problems:
            details["error"] = "; ".join(problems)
        B.set_verification(manifest, method, not problems, details)

    # -- retention ---------------------------------------------------------------------
    def _retention(self, name: str) -> None:
        p = self.p
        records = B.read_manifests(self.dest, "postgres", name)
        current = [b["path"] for b in self.result["backups"] if b["name"] == name]
        if self.check:
            when = B.utcnow()
            final = self._final_path(name, when)
            records.append(B.BackupRecord(id=os.path.basename(final), name=name, kind="postgres", finished_at=when,
                                          verified=p["verify"] != "none", complete=True, path=final,
                                          manifest_path=B.manifest_path_for(final)))
            current.append(final)
        self.result["retention"][name] = report = {}
        B.apply_retention(records, p["keep_last"], p["max_age_days"], prune_unverified=p["prune_unverified"],
                          current=current, check_mode=self.check, warn=self.module.warn, report=report,
                          deleted=self.result["deleted"])
