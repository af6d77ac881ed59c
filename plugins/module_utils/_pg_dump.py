# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PostgreSQL client tools (pg_dump, pg_restore, pg_dumpall, psql) for pg_backup / pg_restore.

Tools always run by argv through a :class:`Runtime` (host or container); the
password travels only as ``PGPASSWORD`` in the tool's environment. This file
also holds the snapshot row counting (a REPEATABLE READ transaction that
exports its snapshot for ``pg_dump --snapshot``) and the backup/verify/restore
steps shared by both modules.
"""

from __future__ import annotations

import glob
import gzip
import json
import os
import re
import threading
import typing as t

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
from ansible_collections.runbook.ops.plugins.module_utils import _pg_names
from ansible_collections.runbook.ops.plugins.module_utils._pg_archive import MAX_PG_DUMP_MAJOR, ArchiveCounter, ArchiveError
from ansible_collections.runbook.ops.plugins.module_utils._pg_conn import (
    DATABASES_WHERE, PostgresError, connect_bound, connect_deadline_text, describe_target, explain_connect_text,
    postgres_argument_spec, resolve_databases, version_string,
)
from ansible_collections.runbook.ops.plugins.module_utils._runtime import Runtime, RuntimeFailure, kill_group, runtime_argument_spec


def _driver():
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


def tool_module_argument_spec(**options) -> dict:
    """pg_backup's and pg_restore's options: connection, tool location, container, then the module's own."""
    spec = postgres_argument_spec()
    spec.update(
        pg_bin_dir=dict(type="path"),
        pg_dump_path=dict(type="path"),
    )
    spec.update(runtime_argument_spec())
    spec.update(options)
    return spec


TOOL_MUTUALLY_EXCLUSIVE = [["pg_bin_dir", "pg_dump_path"]]


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


# -- what pg_backup asks the server, through psql ------------------------------------
# One round trip answers everything a backup run needs to know before it dumps: the server's version
# (which pg_dump to use), the databases (what "all" means, whether the named ones exist) and their
# sizes (the space check). psql connects the way pg_dump will (same libpq, same environment, same place:
# the host or the container), in a few milliseconds, where importing psycopg alone takes about 80 ms.
FACTS_SQL = f"""
SELECT json_build_object(
  'server_version_num', current_setting('server_version_num')::int,
  'databases', (SELECT coalesce(json_agg(datname ORDER BY datname), '[]') FROM pg_database WHERE {DATABASES_WHERE}),
  'sizes', (SELECT coalesce(json_object_agg(datname, pg_database_size(oid)), '{{}}') FROM pg_database
            WHERE {DATABASES_WHERE}
              AND (json_array_length(:'wanted'::json) = 0
                   OR datname IN (SELECT json_array_elements_text(:'wanted'::json)))));
"""
# seconds the facts query may take once connected (pg_database_size walks each database's files)
FACTS_QUERY_SECONDS = 60.0


def find_psql(module, runtime: Runtime) -> str:
    """psql for :class:`ServerFacts`: any version reads these catalogs, so no server major is needed yet.

    pg_bin_dir, then the directory of pg_dump_path, then the newest /usr/lib/postgresql/<major>/bin, then PATH.
    """
    p = module.params
    if runtime.in_container:
        return os.path.join(p["pg_bin_dir"], "psql") if p.get("pg_bin_dir") else "psql"
    dirs = []
    if p.get("pg_bin_dir"):
        dirs.append(p["pg_bin_dir"])
    if p.get("pg_dump_path"):
        dirs.append(os.path.dirname(p["pg_dump_path"]))
    installed = installed_bin_dirs()
    dirs += [installed[m] for m in sorted(installed, reverse=True)]
    for d in dirs:
        cand = os.path.join(d, "psql")
        if os.access(cand, os.X_OK):
            return cand
    path = module.get_bin_path("psql")
    if not path:
        raise PostgresError("psql not found (looked in pg_bin_dir, next to pg_dump_path, /usr/lib/postgresql/*/bin "
                            "and PATH); pg_backup asks the server for its version and databases with psql: install "
                            "the PostgreSQL client tools or set pg_bin_dir")
    return path


class ServerFacts:
    """The server's version, databases and sizes, read with one psql query (see FACTS_SQL)."""

    def __init__(self, module, runtime: Runtime, env: dict, wanted: list[str]) -> None:
        self.module = module
        self.target = describe_target(module.params)
        p = module.params
        argv = [find_psql(module, runtime), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-v", "wanted=" + json.dumps(list(wanted))]
        argv += conn_argv(module, p["login_db"])
        env = dict(env, PGCLIENTENCODING="UTF8")
        bound = connect_bound(p)
        try:
            rc, out, err = runtime.run(argv, env=env, data=FACTS_SQL, timeout=bound + FACTS_QUERY_SECONDS)
        except RuntimeFailure as exc:
            raise PostgresError(f"cannot read the server's version and databases at {self.target}: {exc}") from exc
        if rc != 0:
            raise PostgresError(self._explain(rc, err or out))
        try:
            facts = json.loads(out.strip().splitlines()[-1])
            self.server_version = int(facts["server_version_num"])
            self.databases = [str(d) for d in facts["databases"]]
            self.sizes = {str(k): int(v) for k, v in facts["sizes"].items()}
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            raise PostgresError(f"cannot read the server's version and databases at {self.target}: psql answered "
                                f"{out.strip()[:200]!r} ({exc})") from exc

    def _explain(self, rc: int, text: str) -> str:
        lines = [ln for ln in text.strip().splitlines() if ln.strip() and not ln.startswith("\t")]
        message = " ".join(lines) or f"psql exit code {rc}"
        if message.startswith("psql: error: "):
            message = message[len("psql: error: "):]
        if rc == 2 or "connection to server" in message:  # libpq could not connect
            if "timeout expired" in message:
                return connect_deadline_text(self.module.params)
            return explain_connect_text(message, self.module.params, self.module.params["login_db"])
        if "permission denied" in message:
            return f"permission denied for user {self.module.params['login_user']!r}: {message}"
        return f"cannot read the server's version and databases at {self.target}: {message}"

    def version_string(self) -> str:
        return version_string(self.server_version)

    def resolve_databases(self, wanted: list[str] | None) -> list[str]:
        return resolve_databases(self.databases, wanted, self.target)

    def size(self, database: str) -> int:
        if database not in self.sizes:
            raise PostgresError(f"databases: database {database!r} not found on {self.target}")
        return self.sizes[database]


class LazyClient:
    """A psycopg client created (and psycopg imported) on first use; ``close()`` closes it if it was."""

    def __init__(self, module) -> None:
        self.module = module
        self._client = None

    def get(self):
        if self._client is None:
            self._client = _driver().PostgresClient(self.module)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


# -- snapshot row counts --------------------------------------------------------
def count_rows(conn) -> dict[str, int]:
    """Exact ``count(*)`` of every user table, keyed ``schema.table`` (quoted like psql when needed)."""
    sql = _driver().sql
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
    and stays open until :meth:`close`, so ``pg_dump --snapshot`` sees exactly the counted data."""

    def __init__(self, client, database: str) -> None:
        self.client = client
        self.database = database
        self.conn = None
        self.snapshot: str | None = None
        self.counts: dict[str, int] | None = None
        self.error: str | None = None
        self._thread: threading.Thread | None = None

    def open(self) -> str:
        kwargs = self.client._conn_kwargs(self.database)
        psycopg = _driver().psycopg
        try:
            self.conn = psycopg.connect(autocommit=False, **kwargs)
            with self.conn.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cur.execute("SELECT pg_export_snapshot()")
                self.snapshot = cur.fetchone()[0]
        except psycopg.OperationalError as exc:
            raise PostgresError(self.client.explain_connect_error(exc, self.database)) from exc
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
    sql = _driver().sql
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


# -- reading plain dumps ------------------------------------------------------
def open_plain(path: str, compression: str) -> t.BinaryIO:
    if compression == "gzip":
        return gzip.open(path, "rb")
    if compression == "none":
        return open(path, "rb")
    raise PostgresError(f"reading plain dumps compressed with {compression} is not supported here")


PLAIN_TRAILER = b"-- PostgreSQL database dump complete"


def plain_dump_complete(path: str, compression: str) -> bool:
    """True when the plain dump ends with pg_dump's completion trailer."""
    tail = b""
    with open_plain(path, compression) as fh:
        while True:
            chunk = fh.read(1024 * 1024)
            if not chunk:
                break
            tail = (tail + chunk)[-4096:]
    return PLAIN_TRAILER in tail


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


def raise_runtime(exc: RuntimeFailure) -> t.NoReturn:
    raise PostgresError(str(exc)) from exc


# ===========================================================================
# pg_backup
# ===========================================================================
GLOBALS_NAME = ":globals:"


def archive_countable(fmt: str, compression: str) -> bool:
    """Whether rows can be counted in what pg_dump writes (see BackupRun._count_method)."""
    return (fmt == "custom" and compression == "gzip") or (fmt == "directory" and compression in ("gzip", "none"))


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
        try:
            self.runtime = Runtime(module, p.get("container"), p.get("engine") or "podman")
        except RuntimeFailure as exc:
            raise_runtime(exc)
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
            raise_runtime(exc)
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
        plan = B.plan_retention(records, p["keep_last"], p["max_age_days"], B.utcnow(), p["prune_unverified"],
                                current=current)
        for warning in plan.warnings:
            self.module.warn(warning)
        self.result["retention"][name] = {
            "keep": [d.as_dict() for d in plan.keep],
            "delete": [d.as_dict() for d in plan.delete],
            "warnings": plan.warnings,
        }
        for d in plan.delete:
            if not self.check:
                B.delete_backup(d.record)
            self.result["deleted"].append(d.record.path)


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
    sql = _driver().sql
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
    sql = _driver().sql
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


# ===========================================================================
# pg_restore
# ===========================================================================
class RestoreRun:
    """One pg_restore run: find the backup, verify checksums, restore, compare row counts."""

    def __init__(self, module, client) -> None:
        self.module = module
        self.client = client
        self.p = module.params
        self.check = module.check_mode
        try:
            self.runtime = Runtime(module, self.p.get("container"), self.p.get("engine") or "podman")
        except RuntimeFailure as exc:
            raise_runtime(exc)
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
            sql = _driver().sql
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


def run_step(module, client, run, file_context: str) -> dict:
    """Run a BackupRun or RestoreRun and map its failures to fail_json.

    ``client`` is closed before failing (anything with ``close()``: a PostgresClient or a LazyClient).
    ``file_context`` names what a file error was about (e.g. "in backup_dir
    /srv/backups"); the partial result gathered so far goes out with the error.
    """
    try:
        result = run.run()
    except (PostgresError, B.BackupError) as exc:
        client.close()
        module.fail_json(msg=str(exc), **run.result)
    except OSError as exc:
        client.close()
        module.fail_json(msg=f"file error {file_context}: {exc}", **run.result)
    if result.pop("failed", False):
        client.close()
        module.fail_json(**result)
    return result
