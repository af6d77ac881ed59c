# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What pg_backup asks the server before it dumps, with one psql query (:class:`ServerFacts`)."""

from __future__ import annotations

import json
import os

from ansible_collections.runbook.ops.plugins.module_utils._pg_conn import (
    DATABASES_WHERE, PostgresError, connect_bound, connect_deadline_text, describe_target, explain_connect_text,
    resolve_databases, version_string,
)
from ansible_collections.runbook.ops.plugins.module_utils._pg_tools import conn_argv, installed_bin_dirs
from ansible_collections.runbook.ops.plugins.module_utils._runtime import Runtime, RuntimeFailure


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
