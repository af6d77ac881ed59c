# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Selection, thresholds and statement building of runbook.ops.pg_vacuum.

Everything here is pure logic (no connection): option validation, the
threshold decision per table, scope filtering and the psycopg.sql composition
of VACUUM / ANALYZE / REINDEX statements. The module does the I/O.
"""

from __future__ import annotations

import contextlib
import re
import time
import typing as t
from dataclasses import dataclass, field

from ansible_collections.runbook.ops.plugins.module_utils._pg_names import parse_qualified_name, table_key
from ansible_collections.runbook.ops.plugins.module_utils._postgres import PostgresError, sql, statement_bound

MODES = ("vacuum", "analyze", "vacuum_analyze", "full")

# schemas never vacuumed unless named explicitly (and pg_catalog / information_schema
# are not in pg_stat_user_tables at all)
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")
SYSTEM_SCHEMA_PREFIXES = ("pg_toast", "pg_temp_")

# lock modes that conflict with SHARE UPDATE EXCLUSIVE (VACUUM, ANALYZE)
CONFLICTS_SHARE_UPDATE_EXCLUSIVE = (
    "ShareUpdateExclusiveLock", "ShareLock", "ShareRowExclusiveLock",
    "ExclusiveLock", "AccessExclusiveLock",
)
# ACCESS EXCLUSIVE (VACUUM FULL) conflicts with every lock mode
CONFLICTS_ACCESS_EXCLUSIVE = (
    "AccessShareLock", "RowShareLock", "RowExclusiveLock",
) + CONFLICTS_SHARE_UPDATE_EXCLUSIVE

_LOCK_TIMEOUT_RE = re.compile(r"^\s*(\d+)\s*(ms|s|min|h|d)?\s*$")

# skip reasons (machine-readable codes in per-table results)
SKIP_BELOW_THRESHOLD = "below_threshold"
SKIP_LOCKED = "locked"
SKIP_LOCK_TIMEOUT = "lock_timeout"
SKIP_PRIVILEGE = "insufficient_privilege"


def validate_params(params: dict) -> list[str]:
    """Problems with the non-connection options, each naming the option (empty: all good)."""
    errors: list[str] = []
    for opt in ("min_dead_tuples", "min_mod_since_analyze"):
        value = params.get(opt)
        if value is not None and value < 0:
            errors.append(f"{opt} must be >= 0, got {value}")
    ratio = params.get("min_dead_ratio")
    if ratio is not None and not 0 <= ratio <= 1:
        errors.append(f"min_dead_ratio must be between 0 and 1, got {ratio}")
    parallel = params.get("parallel")
    mode = params.get("mode")
    if parallel is not None:
        if parallel < 0:
            errors.append(f"parallel must be >= 0, got {parallel}")
        elif mode == "full":
            errors.append("parallel cannot be used with mode=full (VACUUM FULL does not run in parallel)")
        elif mode == "analyze":
            errors.append("parallel applies to VACUUM only, not to mode=analyze")
    if params.get("freeze") and mode == "analyze":
        errors.append("freeze applies to VACUUM only, not to mode=analyze")
    try:
        statement_bound(params, "maintenance_timeout")
    except PostgresError as exc:
        errors.append(str(exc))
    lock_timeout = params.get("lock_timeout")
    if lock_timeout is not None and not _LOCK_TIMEOUT_RE.match(str(lock_timeout)):
        errors.append(
            f"lock_timeout must be a non-negative number of milliseconds or a number with a unit"
            f" (ms, s, min, h, d), got {lock_timeout!r}"
        )
    for opt in ("tables", "exclude_tables", "reindex_tables", "reindex_indexes"):
        for name in params.get(opt) or []:
            try:
                parse_name(name)
            except ValueError as exc:
                errors.append(f"{opt}: cannot parse {name!r}: {exc}")
    return errors


def normalize_lock_timeout(value: str | int | None) -> str | None:
    """'5s' -> '5s', '500' -> '500ms' (PostgreSQL's unit-less lock_timeout is milliseconds)."""
    if value is None:
        return None
    match = _LOCK_TIMEOUT_RE.match(str(value))
    if not match:
        raise ValueError(f"invalid lock_timeout {value!r}")
    return f"{match.group(1)}{match.group(2) or 'ms'}"


def parse_name(name: str) -> tuple[str | None, str]:
    """parse_qualified_name of _pg_names (kept as one import point for this module)."""
    return parse_qualified_name(name)


def is_system_schema(schema: str) -> bool:
    return schema in SYSTEM_SCHEMAS or schema.startswith(SYSTEM_SCHEMA_PREFIXES)


def display_name(schema: str, name: str) -> str:
    """schema.table, quoting a part only when it needs it (for messages and result keys): the one
    key rule of runbook.ops (:func:`_pg_names.table_key`, also pg_backup's row-count keys)."""
    return table_key(schema, name)


def dead_ratio(dead: int, live: int) -> float:
    """Share of dead tuples among all tuples: dead / (live + dead), 0 for an empty table."""
    total = (dead or 0) + (live or 0)
    return round((dead or 0) / total, 6) if total > 0 else 0.0


@dataclass
class Thresholds:
    min_dead_tuples: int = 1000
    min_dead_ratio: float = 0.1
    min_mod_since_analyze: int = 1000


@dataclass
class Decision:
    """What to do with one table and why."""

    vacuum: bool = False
    analyze: bool = False
    full: bool = False
    reason: str = ""
    skip_reason: str | None = None

    @property
    def action(self) -> str:
        if self.vacuum and self.full:
            return "vacuum_full_analyze" if self.analyze else "vacuum_full"
        if self.vacuum:
            return "vacuum_analyze" if self.analyze else "vacuum"
        if self.analyze:
            return "analyze"
        return "skipped"


def needs_vacuum(dead: int, live: int, th: Thresholds) -> tuple[bool, str]:
    """Both thresholds must be crossed, and at least one dead tuple must exist
    (so min_dead_tuples=0 means 'any dead tuple' and a run is idempotent)."""
    ratio = dead_ratio(dead, live)
    if dead <= 0:
        return False, "no dead tuples"
    if dead < th.min_dead_tuples:
        return False, f"dead tuples {dead} < min_dead_tuples {th.min_dead_tuples}"
    if ratio < th.min_dead_ratio:
        return False, f"dead ratio {ratio:.4f} < min_dead_ratio {th.min_dead_ratio}"
    return True, (f"dead tuples {dead} >= min_dead_tuples {th.min_dead_tuples} and dead ratio"
                  f" {ratio:.4f} >= min_dead_ratio {th.min_dead_ratio}")


def needs_analyze(mod_since_analyze: int, th: Thresholds) -> tuple[bool, str]:
    mod = mod_since_analyze or 0
    if mod <= 0:
        return False, "no modifications since last analyze"
    if mod < th.min_mod_since_analyze:
        return False, f"modifications since analyze {mod} < min_mod_since_analyze {th.min_mod_since_analyze}"
    return True, f"modifications since analyze {mod} >= min_mod_since_analyze {th.min_mod_since_analyze}"


def decide(stats: dict, mode: str, th: Thresholds) -> Decision:
    """The action for one table from its pg_stat_user_tables row.

    vacuum: VACUUM when the dead-tuple thresholds are crossed.
    analyze: ANALYZE when min_mod_since_analyze is crossed.
    vacuum_analyze / full: VACUUM (ANALYZE) [FULL] when the dead-tuple thresholds
    are crossed, plain ANALYZE when only the analyze threshold is.
    """
    dead = int(stats.get("n_dead_tup") or 0)
    live = int(stats.get("n_live_tup") or 0)
    mod = int(stats.get("n_mod_since_analyze") or 0)
    vac, vac_why = needs_vacuum(dead, live, th)
    ana, ana_why = needs_analyze(mod, th)
    d = Decision()
    if mode == "vacuum":
        d.vacuum, d.reason = vac, vac_why
    elif mode == "analyze":
        d.analyze, d.reason = ana, ana_why
    else:
        d.full = mode == "full"
        if vac:
            d.vacuum, d.analyze, d.reason = True, True, vac_why
        elif ana:
            d.analyze, d.reason = True, ana_why
        else:
            d.reason = f"{vac_why}; {ana_why}"
    if not (d.vacuum or d.analyze):
        d.skip_reason = SKIP_BELOW_THRESHOLD
    return d


# -- scope ------------------------------------------------------------------


class SelectionError(ValueError):
    """A scope problem worded for the user (unknown table, ambiguous name)."""


@dataclass
class Scope:
    schemas: list[str] | None = None
    tables: list[str] | None = None
    exclude_tables: list[str] = field(default_factory=list)


def _matches(schema: str | None, name: str, row: dict) -> bool:
    return row["relname"] == name and (schema is None or row["schemaname"] == schema)


def resolve_names(names: list[str], rows: list[dict], option: str, database: str,
                  schemas: list[str] | None, what: str = "table") -> list[dict]:
    """Each name in ``names`` to exactly one row of ``rows`` (schemaname, relname).

    Qualified names must match exactly; an unqualified one is looked up in
    ``schemas`` (default: every non-system schema) and must be unambiguous.
    Unknown or ambiguous names raise SelectionError naming the option and database.
    """
    found: list[dict] = []
    for text in names:
        schema, name = parse_name(text)
        cands = [r for r in rows if _matches(schema, name, r)]
        if schema is None:
            cands = [r for r in cands
                     if (r["schemaname"] in schemas if schemas else not is_system_schema(r["schemaname"]))]
        if not cands:
            where = f"schema {schema!r}" if schema else ("schemas " + ", ".join(schemas) if schemas else "any schema")
            raise SelectionError(f"{option}: {what} {text!r} not found in database {database!r} ({where})")
        if len(cands) > 1:
            qualified_names = ", ".join(display_name(r["schemaname"], r["relname"]) for r in cands)
            raise SelectionError(
                f"{option}: {what} name {text!r} is ambiguous in database {database!r}"
                f" ({qualified_names}); qualify it with its schema"
            )
        if cands[0] not in found:
            found.append(cands[0])
    return found


def select_tables(rows: list[dict], scope: Scope, database: str) -> list[dict]:
    """Rows of pg_stat_user_tables in scope, in (schema, table) order.

    With ``tables``: exactly those (unknown ones are an error). Otherwise every
    table of ``schemas`` (default: all non-system schemas). ``exclude_tables``
    removes tables afterwards (qualified: that table; unqualified: that name in
    any schema); an exclusion matching nothing is not an error.
    """
    if scope.tables:
        chosen = resolve_names(scope.tables, rows, "tables", database, scope.schemas)
    elif scope.schemas:
        chosen = [r for r in rows if r["schemaname"] in scope.schemas]
    else:
        chosen = [r for r in rows if not is_system_schema(r["schemaname"])]
    excludes = [parse_name(e) for e in scope.exclude_tables or []]
    chosen = [r for r in chosen if not any(_matches(s, n, r) for s, n in excludes)]
    return sorted(chosen, key=lambda r: (r["schemaname"], r["relname"]))


def missing_schemas(wanted: list[str] | None, existing: t.Iterable[str]) -> list[str]:
    existing = set(existing)
    return [s for s in wanted or [] if s not in existing]


# -- statements -------------------------------------------------------------


@dataclass
class StatementOptions:
    freeze: bool = False
    skip_locked: bool = False
    parallel: int | None = None


def vacuum_statement(schema: str, table: str, decision: Decision, opts: StatementOptions):
    """VACUUM (FULL, FREEZE, ANALYZE, SKIP_LOCKED, PARALLEL n) schema.table, or ANALYZE (SKIP_LOCKED) ...

    Returns None when the decision is to skip.
    """
    target = sql.Identifier(schema, table)
    if decision.vacuum:
        options = []
        if decision.full:
            options.append(sql.SQL("FULL"))
        if opts.freeze:
            options.append(sql.SQL("FREEZE"))
        if decision.analyze:
            options.append(sql.SQL("ANALYZE"))
        if opts.skip_locked:
            options.append(sql.SQL("SKIP_LOCKED"))
        if opts.parallel is not None and not decision.full:
            options.append(sql.SQL("PARALLEL {}").format(sql.Literal(int(opts.parallel))))
        if options:
            return sql.SQL("VACUUM ({}) {}").format(sql.SQL(", ").join(options), target)
        return sql.SQL("VACUUM {}").format(target)
    if decision.analyze:
        if opts.skip_locked:
            return sql.SQL("ANALYZE (SKIP_LOCKED) {}").format(target)
        return sql.SQL("ANALYZE {}").format(target)
    return None


def reindex_statement(kind: str, schema: str, name: str, concurrently: bool):
    """REINDEX TABLE|INDEX [CONCURRENTLY] schema.name."""
    if kind not in ("TABLE", "INDEX"):
        raise ValueError(f"unknown REINDEX kind {kind!r}")
    return sql.SQL("REINDEX {} {}{}").format(
        sql.SQL(kind), sql.SQL("CONCURRENTLY ") if concurrently else sql.SQL(""), sql.Identifier(schema, name)
    )


def version_problems(params: dict, server_version: int) -> list[str]:
    """Options the connected server cannot do, naming the option and the version needed."""
    problems = []
    if params.get("parallel") is not None and server_version < 130000:
        problems.append("parallel needs PostgreSQL 13 or later (VACUUM (PARALLEL n))")
    if params.get("skip_locked") and server_version < 120000:
        problems.append("skip_locked needs PostgreSQL 12 or later")
    return problems


def lock_conflicts(full: bool) -> tuple[str, ...]:
    return CONFLICTS_ACCESS_EXCLUSIVE if full else CONFLICTS_SHARE_UPDATE_EXCLUSIVE


def classify_notice(sqlstate: str | None, message: str) -> str | None:
    """A skip reason from a WARNING that VACUUM / ANALYZE emitted instead of processing the table."""
    lowered = message.lower()
    if sqlstate == "55P03" or "lock not available" in lowered:
        return SKIP_LOCKED
    if "only table or database owner" in lowered or "permission denied" in lowered or sqlstate == "42501":
        return SKIP_PRIVILEGE
    return None


def totals(tables: list[dict], reindexed: list[dict]) -> dict:
    """Sums over per-table results (one database or all)."""
    out = {
        "tables": len(tables),
        "vacuumed": sum(1 for r in tables if r.get("changed") and "vacuum" in r["action"]),
        "analyzed": sum(1 for r in tables if r.get("changed") and "analyze" in r["action"]),
        "skipped": sum(1 for r in tables if not r.get("changed")),
        "reindexed": sum(1 for r in reindexed if r.get("changed")),
        "dead_tuples_before": sum(int(r.get("dead_tuples_before") or 0) for r in tables),
        "dead_tuples_after": sum(int(r.get("dead_tuples_after") or 0) for r in tables),
        "duration": round(sum(float(r.get("duration") or 0) for r in tables + reindexed), 6),
    }
    return out


# -- execution (needs a server; covered by tests/integration/pg_vacuum) -----

STATS_QUERY = """
SELECT s.relid, s.schemaname, s.relname, c.relkind,
       s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze,
       s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,
       {privilege} AS can_maintain
FROM pg_catalog.pg_stat_user_tables s
JOIN pg_catalog.pg_class c ON c.oid = s.relid
ORDER BY s.schemaname, s.relname
"""

RELATIONS_QUERY = """
SELECT c.oid AS relid, n.nspname AS schemaname, c.relname, c.relkind, {privilege} AS can_maintain
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = ANY(%s) AND c.relname = ANY(%s)
ORDER BY n.nspname, c.relname
"""

LOCKS_QUERY = """
SELECT relation AS relid, mode, pid
FROM pg_catalog.pg_locks
WHERE granted AND pid <> pg_catalog.pg_backend_pid() AND relation = ANY(%s)
  AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
"""


def privilege_expression(server_version: int) -> str:
    """SQL true when the current user may VACUUM / ANALYZE / REINDEX relation ``c``.

    PostgreSQL 17+ has the MAINTAIN privilege; before that the table owner
    (or a member of the owning role), the database owner (non-shared tables) and
    superusers may (pg_has_role is true for superusers).
    """
    if server_version >= 170000:
        return "pg_catalog.has_table_privilege(c.oid, 'MAINTAIN')"
    return (
        "(pg_catalog.pg_has_role(c.relowner, 'USAGE') OR (NOT c.relisshared AND pg_catalog.pg_has_role("
        "(SELECT datdba FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()), 'USAGE')))"
    )


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


class VacuumRun:
    """One pg_vacuum run over the selected databases with a PostgresClient."""

    def __init__(self, module, client, psycopg_mod) -> None:
        self.module = module
        self.client = client
        self.psycopg = psycopg_mod
        p = module.params
        self.params = p
        self.check_mode = module.check_mode
        self.mode = p["mode"]
        self.thresholds = Thresholds(p["min_dead_tuples"], p["min_dead_ratio"], p["min_mod_since_analyze"])
        self.opts = StatementOptions(freeze=p["freeze"], skip_locked=p["skip_locked"], parallel=p["parallel"])
        self.lock_timeout = normalize_lock_timeout(p["lock_timeout"])
        self.maintenance_timeout = statement_bound(p, "maintenance_timeout")
        self.scope = Scope(schemas=p["schemas"], tables=p["tables"], exclude_tables=p["exclude_tables"] or [])
        self.statements: list[str] = []
        self.databases: list[dict] = []
        self.warnings: list[str] = []

    # -- results ----------------------------------------------------------
    def result(self) -> dict:
        all_tables = [tbl for db in self.databases for tbl in db["tables"]]
        all_reindex = [r for db in self.databases for r in db["reindex"]]
        changed = any(r["changed"] for r in all_tables + all_reindex)
        return dict(
            changed=changed,
            statements=list(self.statements),
            databases=self.databases,
            totals=totals(all_tables, all_reindex),
            server_version=self.client.server_version_string() if self.client.server_version else None,
            lock_timeout=self.lock_timeout,
            maintenance_timeout=self.maintenance_timeout,
        )

    def run(self) -> dict:
        version = self.client.server_version
        problems = version_problems(self.params, version)
        if problems:
            raise self._error("; ".join(problems) + f" (server is {self.client.server_version_string()})")
        databases = self.client.resolve_databases(self.params["databases"])
        for dbname in databases:
            self._run_database(dbname)
        return self.result()

    @staticmethod
    def _error(msg: str) -> PostgresError:
        return PostgresError(msg)

    # -- one database -------------------------------------------------------
    def _stats(self, conn) -> list[dict]:
        self.client.execute(conn, "SELECT pg_catalog.pg_stat_clear_snapshot()")
        return self.client.query(conn, STATS_QUERY.format(privilege=privilege_expression(self.client.server_version)))

    def _run_database(self, dbname: str) -> None:
        conn = self.client.connect(dbname)
        notices: list = []
        # a Diagnostic is only valid inside the callback: keep its fields
        conn.add_notice_handler(lambda diag: notices.append((diag.sqlstate, diag.message_primary or "")))
        entry = {"database": dbname, "tables": [], "reindex": [], "statements": []}
        self.databases.append(entry)
        try:
            if self.lock_timeout is not None:
                self.client.execute(conn, "SELECT pg_catalog.set_config('lock_timeout', %s, false)", [self.lock_timeout])
            self._check_schemas(conn, dbname)
            rows = self._stats(conn)
            try:
                chosen = select_tables(rows, self.scope, dbname)
            except SelectionError as exc:
                raise self._error(str(exc)) from exc
            reindex_targets = self._resolve_reindex(conn, dbname)
            plans = [self._plan(dbname, row) for row in chosen]
            predicted_locked = self._predict_locks(conn, plans, reindex_targets) if self.check_mode else {}
            explicit = set(parse_name(x) for x in self.scope.tables or [])
            # VACUUM, ANALYZE and REINDEX hold maintenance_timeout (0: as long as they need, under the server's
            # statement_timeout); the module's statement_timeout bounds the catalog queries around them
            runs = not self.check_mode and (reindex_targets or any(p["stmt"] is not None for p in plans))
            bound = self.client.bounded(conn, self.maintenance_timeout, "maintenance_timeout")
            with bound if runs else contextlib.nullcontext():
                for plan in plans:
                    entry["tables"].append(plan["result"])
                    self._run_table(conn, dbname, plan, notices, predicted_locked, entry, explicit)
                for target in reindex_targets:
                    entry["reindex"].append(self._run_reindex(conn, dbname, target, predicted_locked, entry))
            after = {r["relid"]: r for r in self._stats(conn)}
            for plan in plans:
                self._fill_after(plan["result"], after.get(plan["row"]["relid"], plan["row"]))
            entry["totals"] = totals(entry["tables"], entry["reindex"])
        finally:
            conn.close()

    def _check_schemas(self, conn, dbname: str) -> None:
        if not self.scope.schemas:
            return
        existing = [r["nspname"] for r in self.client.query(conn, "SELECT nspname FROM pg_catalog.pg_namespace")]
        missing = missing_schemas(self.scope.schemas, existing)
        if missing:
            raise self._error(
                f"schemas: schema(s) {', '.join(repr(m) for m in missing)} not found in database {dbname!r}"
            )

    def _plan(self, dbname: str, row: dict) -> dict:
        decision = decide(row, self.mode, self.thresholds)
        res = {
            "database": dbname,
            "schema": row["schemaname"],
            "table": row["relname"],
            "name": display_name(row["schemaname"], row["relname"]),
            "action": "skipped",
            "planned_action": decision.action,
            "changed": False,
            "statement": None,
            "reason": decision.reason,
            "skip_reason": decision.skip_reason,
            "dead_tuples_before": int(row["n_dead_tup"] or 0),
            "live_tuples_before": int(row["n_live_tup"] or 0),
            "dead_ratio_before": dead_ratio(int(row["n_dead_tup"] or 0), int(row["n_live_tup"] or 0)),
            "mod_since_analyze_before": int(row["n_mod_since_analyze"] or 0),
            "duration": 0.0,
        }
        stmt = vacuum_statement(row["schemaname"], row["relname"], decision, self.opts)
        if stmt is not None and not row["can_maintain"]:
            res["skip_reason"] = SKIP_PRIVILEGE
            res["reason"] = (
                f"login_user {self.params['login_user']!r} may not vacuum or analyze {res['name']} in database"
                f" {dbname!r}: only its owner, the database owner or a superuser can ({decision.reason})"
            )
            stmt = None
        return {"row": row, "decision": decision, "stmt": stmt, "result": res}

    def _predict_locks(self, conn, plans: list[dict], reindex_targets: list[dict]) -> dict:
        """Check mode: relations a real run could not lock now (skip_locked / lock_timeout)."""
        if not (self.opts.skip_locked or self.lock_timeout):
            return {}
        relids = [p["row"]["relid"] for p in plans if p["stmt"] is not None]
        relids += [r["relid"] for r in reindex_targets]
        if not relids:
            return {}
        rows = self.client.query(conn, LOCKS_QUERY, [relids])
        held: dict = {}
        for r in rows:
            held.setdefault(r["relid"], []).append(r)
        return held

    def _render(self, conn, stmt) -> str:
        return stmt.as_string(conn)

    def _execute(self, conn, dbname: str, stmt, text: str, notices: list) -> tuple[float, str | None, str | None]:
        """Run one maintenance statement: (duration, skip reason or None, server message)."""
        notices.clear()
        started = time.monotonic()
        try:
            conn.execute(stmt)
        except self.psycopg.errors.LockNotAvailable as exc:
            return round(time.monotonic() - started, 6), SKIP_LOCK_TIMEOUT, exc.diag.message_primary or str(exc)
        except self.psycopg.errors.QueryCanceled as exc:
            raise self._error(f"{text} in database {dbname!r} was cancelled: {exc.diag.message_primary or exc}") from exc
        except self.psycopg.Error as exc:
            raise self._error(f"{text} failed in database {dbname!r}: {exc.diag.message_primary or exc}") from exc
        duration = round(time.monotonic() - started, 6)
        for sqlstate, message in notices:
            reason = classify_notice(sqlstate, message)
            if reason:
                return duration, reason, message
        return duration, None, None

    def _run_table(self, conn, dbname, plan, notices, predicted_locked, entry, explicit) -> None:
        res, stmt = plan["result"], plan["stmt"]
        if res["skip_reason"] == SKIP_PRIVILEGE and (
                (res["schema"], res["table"]) in explicit or (None, res["table"]) in explicit):
            self.warnings.append(res["reason"])
        if stmt is None:
            return
        text = self._render(conn, stmt)
        res["statement"] = text
        entry["statements"].append(text)
        self.statements.append(text)
        if self.check_mode:
            held = predicted_locked.get(plan["row"]["relid"], [])
            conflicting = [h for h in held if h["mode"] in lock_conflicts(plan["decision"].full)]
            if conflicting:
                res["skip_reason"] = SKIP_LOCKED if self.opts.skip_locked else SKIP_LOCK_TIMEOUT
                res["reason"] = (f"{res['name']} is locked by pid {conflicting[0]['pid']}"
                                 f" ({conflicting[0]['mode']}); a real run would skip it (predicted)")
                return
            res.update(action=plan["decision"].action, changed=True, skip_reason=None)
            return
        duration, skip, message = self._execute(conn, dbname, stmt, text, notices)
        res["duration"] = duration
        if skip:
            res["skip_reason"] = skip
            res["reason"] = f"{message}" + (f" (lock_timeout {self.lock_timeout})" if skip == SKIP_LOCK_TIMEOUT else "")
            return
        res.update(action=plan["decision"].action, changed=True, skip_reason=None)

    def _fill_after(self, res: dict, row: dict) -> None:
        dead, live = int(row["n_dead_tup"] or 0), int(row["n_live_tup"] or 0)
        res.update(
            dead_tuples_after=dead,
            live_tuples_after=live,
            dead_ratio_after=dead_ratio(dead, live),
            mod_since_analyze_after=int(row["n_mod_since_analyze"] or 0),
            last_vacuum=_iso(row.get("last_vacuum")),
            last_analyze=_iso(row.get("last_analyze")),
        )

    # -- REINDEX ------------------------------------------------------------
    def _resolve_reindex(self, conn, dbname: str) -> list[dict]:
        targets: list[dict] = []
        privilege = privilege_expression(self.client.server_version)
        for option, kind, relkinds in (("reindex_tables", "TABLE", ["r", "m", "p"]),
                                       ("reindex_indexes", "INDEX", ["i", "I"])):
            names = self.params[option] or []
            if not names:
                continue
            rows = self.client.query(conn, RELATIONS_QUERY.format(privilege=privilege),
                                     [relkinds, [parse_name(n)[1] for n in names]])
            try:
                found = resolve_names(names, rows, option, dbname, self.scope.schemas,
                                      what="table" if kind == "TABLE" else "index")
            except SelectionError as exc:
                raise self._error(str(exc)) from exc
            for row in found:
                name = display_name(row["schemaname"], row["relname"])
                if not row["can_maintain"]:
                    raise self._error(
                        f"{option}: login_user {self.params['login_user']!r} may not reindex {name} in database"
                        f" {dbname!r}: only its owner or a superuser can"
                    )
                targets.append(dict(row, kind=kind, name=name))
        return targets

    def _run_reindex(self, conn, dbname: str, target: dict, predicted_locked: dict, entry: dict) -> dict:
        concurrently = bool(self.params["reindex_concurrently"]) and self.client.server_version >= 120000
        stmt = reindex_statement(target["kind"], target["schemaname"], target["relname"], concurrently)
        text = self._render(conn, stmt)
        res = {"database": dbname, "kind": target["kind"].lower(), "schema": target["schemaname"],
               "name": target["relname"], "statement": text, "concurrently": concurrently,
               "changed": False, "skip_reason": None, "reason": None, "duration": 0.0}
        entry["statements"].append(text)
        self.statements.append(text)
        if self.check_mode:
            held = predicted_locked.get(target["relid"], [])
            if self.lock_timeout and any(h["mode"] in lock_conflicts(False) for h in held):
                res.update(skip_reason=SKIP_LOCK_TIMEOUT, reason=f"{target['name']} is locked (predicted)")
            else:
                res["changed"] = True
            return res
        duration, skip, message = self._execute(conn, dbname, stmt, text, [])
        res["duration"] = duration
        if skip:
            res.update(skip_reason=skip, reason=message)
        else:
            res["changed"] = True
        return res
