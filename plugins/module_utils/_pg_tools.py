# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PostgreSQL client tools (pg_dump, pg_restore, pg_dumpall, psql) for pg_backup / pg_restore.

Where each tool is found and which version it is (remembered per binary), the libpq environment and
connection arguments they run with, and the pieces both modules share: the option spec, the psycopg
session opened on first use (:class:`LazyClient`) and :func:`run_step`. Tools always run by argv
through a :class:`Runtime` (host or container); the password travels only as ``PGPASSWORD`` in the
tool's environment.
"""

from __future__ import annotations

import glob
import json
import os
import re
import typing as t

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
from ansible_collections.runbook.ops.plugins.module_utils._pg_conn import PostgresError, postgres_argument_spec
from ansible_collections.runbook.ops.plugins.module_utils._runtime import Runtime, RuntimeFailure, runtime_argument_spec


def pg_driver():
    """The psycopg client layer, imported on first use.

    pg_backup asks the server what it needs through psql (:class:`ServerFacts`); it opens a psycopg
    session of its own only for snapshot row counts and verify=restore. Importing psycopg costs about
    80 ms, more than pg_dump of a small database takes, so it is not imported before it is needed.
    """
    from ansible_collections.runbook.ops.plugins.module_utils import _postgres  # pylint: disable=import-outside-toplevel
    return _postgres


FORMATS = {"custom": ("c", ".dump"), "directory": ("d", ".dir"), "plain": ("p", ".sql"), "tar": ("t", ".tar")}
COMPRESSIONS = ["none", "gzip", "lz4", "zstd"]
TOOLS = ("pg_dump", "pg_restore", "pg_dumpall", "psql")
# Debian's versioned client tools: <PG_LIB_DIR>/<major>/bin
PG_LIB_DIR = "/usr/lib/postgresql"


def installed_bin_dirs() -> dict[int, str]:
    """Debian's versioned client tool directories: ``{major: <PG_LIB_DIR>/<major>/bin}``."""
    return {int(d.split("/")[-2]): d for d in glob.glob(f"{PG_LIB_DIR}/*/bin") if d.split("/")[-2].isdigit()}


_VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


def tool_module_argument_spec(**options) -> dict:
    """pg_backup's and pg_restore's options: connection, tool location, container, then the module's own."""
    spec = postgres_argument_spec()
    spec.update(
        pg_bin_dir=dict(type="path"),
        pg_dump_path=dict(type="path"),
        tool_timeout=dict(type="int", default=0),
    )
    spec.update(runtime_argument_spec())
    spec.update(options)
    return spec


TOOL_MUTUALLY_EXCLUSIVE = [["pg_bin_dir", "pg_dump_path"]]


def tool_runtime(module) -> Runtime:
    """Where the tools run (the host or ``container``), each run bounded by ``tool_timeout`` (0: no bound)."""
    p = module.params
    if p["tool_timeout"] < 0:
        raise PostgresError(f"tool_timeout: must be 0 (no bound) or a number of seconds, got {p['tool_timeout']}")
    try:
        return Runtime(module, p.get("container"), p.get("engine") or "podman", tool_timeout=p["tool_timeout"])
    except RuntimeFailure as exc:
        raise_runtime(exc)


def tool_env(module) -> dict:
    """libpq environment for the tools: the password only here, never in argv."""
    p = module.params
    env = {"PGCONNECT_TIMEOUT": str(p["connect_timeout"]), "PGSSLMODE": p["ssl_mode"],
           "PGAPPNAME": "runbook.ops"}
    if p["login_password"]:
        env["PGPASSWORD"] = p["login_password"]
    for opt, key in (("ca_cert", "PGSSLROOTCERT"), ("ssl_cert", "PGSSLCERT"), ("ssl_key", "PGSSLKEY")):
        if p.get(opt):
            env[key] = p[opt]
    return env


def conn_argv(module, database: str | None = None, db_flag: str = "-d") -> list[str]:
    """Connection arguments (no password) for pg_dump/pg_restore/psql/pg_dumpall."""
    p = module.params
    out = []
    host = p["login_unix_socket"] or p["login_host"]
    if host:
        out += ["-h", host]
    out += ["-p", str(p["login_port"]), "-U", p["login_user"]]
    if database is not None:
        out += [db_flag, database]
    return out


def parse_tool_version(text: str) -> int | None:
    """Major version from ``pg_dump --version`` output (``pg_dump (PostgreSQL) 15.18 ...`` -> 15)."""
    m = _VERSION_RE.search(text)
    return int(m.group(1)) if m else None


# -- tool versions, remembered per binary ------------------------------------------
# ``pg_dump --version`` costs a process start per tool and run; a scheduled backup runs the same
# binaries every night. The answer is kept in the user's cache directory, keyed by the binary's
# real path and checked against its inode, size and modification time, so an upgraded or replaced
# binary is asked again. Any problem with the cache only means asking the binary.
_TOOL_CACHE_MAX = 64


def _tool_cache_path() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "runbook.ops", "pg-tool-versions.json")


def _binary_identity(path: str) -> list | None:
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except OSError:
        return None
    return [real, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def _read_tool_cache() -> dict:
    try:
        with open(_tool_cache_path(), encoding="utf-8") as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def cached_tool_version(path: str) -> str | None:
    """The remembered ``--version`` output of the binary at ``path``, if it is still the same file."""
    ident = _binary_identity(path)
    if ident is None:
        return None
    entry = _read_tool_cache().get(ident[0])
    if isinstance(entry, dict) and entry.get("id") == ident[1:] and isinstance(entry.get("version"), str):
        return entry["version"]
    return None


def remember_tool_version(path: str, version: str) -> None:
    ident = _binary_identity(path)
    if ident is None:
        return
    cache_file = _tool_cache_path()
    try:
        data = _read_tool_cache()
        data.pop(ident[0], None)
        while len(data) >= _TOOL_CACHE_MAX:
            data.pop(next(iter(data)))
        data[ident[0]] = {"id": ident[1:], "version": version}
        os.makedirs(os.path.dirname(cache_file), mode=0o700, exist_ok=True)
        tmp = f"{cache_file}.{os.getpid()}.tmp"
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, cache_file)
    except OSError:
        pass


class PgTools:
    """Located, version-checked client tools for one server."""

    def __init__(self, module, runtime: Runtime, server_version_num: int) -> None:
        self.module = module
        self.runtime = runtime
        self.server_major = server_version_num // 10000
        self.paths: dict[str, str] = {}
        self.versions: dict[str, str] = {}
        self._help: dict[str, str] = {}

    @classmethod
    def server_independent(cls, module, runtime: Runtime) -> "PgTools | None":
        """Tools located as for a server of the newest installed major, when that choice is the one for
        any server version that pg_dump can dump (pg_dump_path or pg_bin_dir set, or at most one
        /usr/lib/postgresql/<major>/bin installed); else None (the server's version decides)."""
        p = module.params
        if runtime.in_container:
            return None
        if p.get("pg_dump_path") or p.get("pg_bin_dir"):
            return cls(module, runtime, 0)
        majors = [m for m, d in installed_bin_dirs().items() if os.path.exists(os.path.join(d, "pg_dump"))]
        if len(majors) > 1:
            return None
        return cls(module, runtime, (majors[0] if majors else 0) * 10000)

    # -- locating -----------------------------------------------------------
    def _candidates_dirs(self) -> list[str]:
        p = self.module.params
        if p.get("pg_dump_path"):
            return [os.path.dirname(p["pg_dump_path"])]
        if p.get("pg_bin_dir"):
            return [p["pg_bin_dir"]]
        installed = installed_bin_dirs()
        return [installed[m] for m in sorted(installed) if m >= self.server_major]  # the exact major, then newer

    def find(self, tool: str) -> str:
        """Path (or bare name inside a container) of ``tool``, its major version checked against the server."""
        if tool in self.paths:
            return self.paths[tool]
        p = self.module.params
        if self.runtime.in_container:
            path = tool if not p.get("pg_bin_dir") else os.path.join(p["pg_bin_dir"], tool)
        else:
            path = None
            if tool == "pg_dump" and p.get("pg_dump_path"):
                path = p["pg_dump_path"]
                if not os.access(path, os.X_OK):
                    raise PostgresError(f"pg_dump_path: {path} is not an executable file")
            else:
                for d in self._candidates_dirs():
                    cand = os.path.join(d, tool)
                    if os.access(cand, os.X_OK):
                        path = cand
                        break
                if path is None and not (p.get("pg_dump_path") or p.get("pg_bin_dir")):
                    path = self.module.get_bin_path(tool)
            if not path:
                where = p.get("pg_bin_dir") or (os.path.dirname(p["pg_dump_path"]) if p.get("pg_dump_path") else None)
                raise PostgresError(
                    f"{tool} not found" + (f" in {where}" if where else
                                           f" (looked in /usr/lib/postgresql/{self.server_major}/bin, newer versions and PATH)")
                    + "; install the PostgreSQL client matching the server or set pg_bin_dir / pg_dump_path"
                )
        out = None if self.runtime.in_container else cached_tool_version(path)
        if out is None:
            rc, out, err = self.runtime.run([path, "--version"])
            if rc != 0:
                raise PostgresError(f"cannot run {path} --version in {self.runtime.describe()}: {(err or out).strip()}")
            if not self.runtime.in_container and parse_tool_version(out) is not None:
                remember_tool_version(path, out)
        major = parse_tool_version(out)
        if major is None:
            raise PostgresError(f"cannot parse the version of {path}: {out.strip()!r}")
        if major < self.server_major:
            raise PostgresError(
                f"{tool} {major} ({path}) is older than the server (PostgreSQL {self.server_major}); "
                f"it cannot dump or restore this server correctly. Install the PostgreSQL {self.server_major} "
                f"client tools, set pg_bin_dir / pg_dump_path, or run inside the database container (container option)"
            )
        self.paths[tool] = path
        self.versions[tool] = out.strip()
        return path

    def help_text(self, tool: str) -> str:
        if tool not in self._help:
            rc, out, err = self.runtime.run([self.find(tool), "--help"])
            self._help[tool] = out if rc == 0 else ""
        return self._help[tool]

    def major(self, tool: str) -> int:
        self.find(tool)
        return parse_tool_version(self.versions[tool]) or 0

    def check_compression(self, compression: str, level: int | None, fmt: str) -> list[str]:
        """pg_dump arguments for the compression; PostgresError when unsupported."""
        if compression == "none":
            return ["-Z", "0"] if fmt in ("custom", "directory") else []
        if fmt == "tar":
            raise PostgresError("compression: pg_dump's tar format does not support compression; use format=custom or directory")
        if compression == "gzip":
            lvl = 6 if level is None else level
            if not 1 <= lvl <= 9:
                raise PostgresError("compression_level: gzip levels are 1-9")
            return ["-Z", str(lvl)]
        # lz4 / zstd: pg_dump 16+ (``--compress=METHOD[:DETAIL]``)
        helptext = self.help_text("pg_dump")
        if self.major("pg_dump") < 16 or "METHOD" not in helptext:
            raise PostgresError(
                f"compression: {compression} needs pg_dump 16 or newer; {self.paths['pg_dump']} is "
                f"{self.versions['pg_dump']} (use compression=gzip)"
            )
        # a pg_dump built without the library (e.g. --without-zstd) refuses the method while it
        # parses its options, before it connects: ask it, with a socket directory that cannot exist
        rc, out, err = self.runtime.run([
            self.paths["pg_dump"], "--format=custom", "--file=/dev/null", f"--compress={compression}",
            "--host=/nonexistent-runbook-compression-probe", "--no-password", "postgres",
        ])
        if rc != 0 and "does not support compression" in (err or out):
            raise PostgresError(
                f"compression: {compression} is not supported by {self.paths['pg_dump']} "
                f"({self.versions['pg_dump']}), which was built without {compression}; use compression=gzip, "
                f"or set pg_bin_dir / pg_dump_path to a pg_dump built with {compression}"
            )
        spec = compression if level is None else f"{compression}:{level}"
        return [f"--compress={spec}"]


# -- shared by pg_backup and pg_restore ---------------------------------------------


class LazyClient:
    """A psycopg client created (and psycopg imported) on first use; ``close()`` closes it if it was."""

    def __init__(self, module) -> None:
        self.module = module
        self._client = None

    def get(self):
        if self._client is None:
            self._client = pg_driver().PostgresClient(self.module)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def raise_runtime(exc: RuntimeFailure) -> t.NoReturn:
    raise PostgresError(str(exc)) from exc


def run_step(module, client, run, file_context: str) -> dict:
    """Run a BackupRun or RestoreRun and map its failures to fail_json.

    ``client`` is closed before failing (anything with ``close()``: a PostgresClient or a LazyClient).
    ``file_context`` names what a file error was about (e.g. "in backup_dir
    /srv/backups"); the partial result gathered so far goes out with the error.
    """
    try:
        result = run.run()
    except (PostgresError, B.BackupError, RuntimeFailure) as exc:
        client.close()
        module.fail_json(msg=str(exc), **run.result)
    except OSError as exc:
        client.close()
        module.fail_json(msg=f"file error {file_context}: {exc}", **run.result)
    if result.pop("failed", False):
        client.close()
        module.fail_json(**result)
    return result
