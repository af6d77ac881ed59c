# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one backup-file layer of runbook.ops (pg_backup, redis_backup, file_backup).

Everything a backup module does with files on the destination goes through
here, so every kind of backup gets the same guarantees:

* **Atomic files.** Data is written under a temporary name in the destination
  directory and renamed only once flushed and checksummed (``_backup_files``:
  :func:`atomic_writer`, :func:`new_partial` / :func:`commit_partial` /
  :func:`discard_partial`, re-exported here).
* **Manifests.** A backup is *ours* only if a manifest written by this module
  exists next to it: ``<final name>.manifest.json`` (see :func:`new_manifest`,
  :func:`write_manifest`, :func:`read_manifests`). The manifest is generic
  (``kind`` is ``postgres``, ``redis`` or ``files``) and kind-specific data is
  nested under the kind's key (``archive`` for ``files``; :func:`details_key`). It is written last, atomically.
* **Retention.** :func:`plan_retention` decides what to keep and delete, with a
  reason for each backup - the one engine for pg, redis and file backups and
  run_report's report files; :func:`apply_retention` carries a plan out (the
  one place that deletes, for every backup kind). Only complete, verified backups count; the newest
  verified backup is never deleted; the backups made by this run (``current``)
  are never deleted; a backup dated more than :data:`CLOCK_SKEW_SECONDS` in the
  future never outranks them, is kept and warned about (naming its manifest);
  unverified ones never count toward ``keep_last``. Files without our manifest
  are never touched. :func:`pick_latest` / :func:`latest_verified` give the
  most recent *trustworthy* backup (what ``latest`` restores).
* **Leftovers.** :func:`find_leftovers` finds ``.partial-*`` entries left by
  killed runs (skipping those whose writing process is still alive) and
  manifests whose data is gone; :func:`remove_leftover` removes them.
* **Space.** :func:`check_free_space` refuses to start when the destination
  cannot hold the estimated size.

Times are timezone-aware UTC ``datetime`` objects; manifests store them as
ISO 8601 strings ending in ``Z``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import socket
import stat
import typing as t
from dataclasses import dataclass, field

# the file layer, re-exported: every backup module uses it as B.<name>
from ansible_collections.runbook.ops.plugins.module_utils._backup_files import (  # noqa: F401  pylint: disable=unused-import
    DIR_MODE, FILE_MODE, PARTIAL_PREFIX, apply_mode, atomic_writer, BackupError, check_free_space, commit_partial,
    discard_partial, ensure_dir, file_entries, free_bytes, fsync_path, fsync_tree, HashingFile, human_bytes,
    is_no_space, list_files, new_partial, partial_name, remove_path, resolve_ids, sha256_file,
)

MANIFEST_FORMAT = "runbook.ops/backup-manifest"
MANIFEST_VERSION = 1
MANIFEST_SUFFIX = ".manifest.json"
KINDS = ("postgres", "redis", "files")
# key of the kind-specific details in a manifest ("files" is taken by the list of files)
DETAILS_KEYS = {"postgres": "postgres", "redis": "redis", "files": "archive"}

# verification states recorded in manifests
VERIFY_PASSED = "passed"
VERIFY_FAILED = "failed"
VERIFY_SKIPPED = "skipped"

# how far in the future (seconds, relative to now) a backup's timestamp may be and still be trusted
CLOCK_SKEW_SECONDS = 300.0


# ---------------------------------------------------------------------------
# time and names
# ---------------------------------------------------------------------------
def utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def format_time(value: _dt.datetime) -> str:
    """ISO 8601 UTC with microseconds and a ``Z``: ``2026-11-23T14:13:53.123456Z``."""
    return value.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> _dt.datetime:
    """Inverse of :func:`format_time` (also accepts ``+00:00`` offsets)."""
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    value = _dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    return value.astimezone(_dt.timezone.utc)


def stamp(value: _dt.datetime) -> str:
    """A file-name-safe, sortable timestamp: ``20261123T141353_123456Z``."""
    return value.astimezone(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S_%fZ")


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SAFE_AS_IS = re.compile(r"[A-Za-z0-9_-](?:[A-Za-z0-9._-]*[A-Za-z0-9_-])?\Z")
SAFE_NAME_MAX = 100


def safe_name(name: str) -> str:
    """``name`` usable in a file name, and distinct for distinct names.

    A name of ASCII letters, digits, ``.``, ``_`` and ``-`` (not starting or
    ending with ``.``, at most :data:`SAFE_NAME_MAX` characters) is used as is:
    ``appdb`` stays ``appdb``. Any other name (slashes, spaces, quotes,
    non-ASCII, ``..``, very long) becomes a readable cleaned form, ``+`` and
    12 hex digits of its UTF-8 sha256 - ``app/db`` gives ``app_db+<hash>``.
    ``+`` never occurs in a name used as is, so the two forms cannot collide,
    and names differing only in the characters replaced keep distinct files.
    """
    if len(name) <= SAFE_NAME_MAX and _SAFE_AS_IS.match(name):
        return name
    cleaned = _UNSAFE.sub("_", name).strip(".")[:60] or "_"
    return f"{cleaned}+{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"


def backup_basename(name: str, when: _dt.datetime, suffix: str = "") -> str:
    """``<safe name>-<stamp><suffix>``, e.g. ``appdb-20261123T141353_123456Z.dump``."""
    return f"{safe_name(name)}-{stamp(when)}{suffix}"


# ---------------------------------------------------------------------------
# manifests
# ---------------------------------------------------------------------------
def manifest_path_for(final_path: str) -> str:
    """``<final path>.manifest.json`` (for a file or a directory backup)."""
    return final_path.rstrip("/") + MANIFEST_SUFFIX


def new_manifest(kind: str, name: str, final_path: str, started_at: _dt.datetime,
                 finished_at: _dt.datetime, files: list[dict], details: dict | None = None) -> dict:
    """A manifest dict for a backup at ``final_path``.

    ``files`` come from :func:`file_entries` (relative to the manifest's directory);
    ``details`` is nested under ``details_key(kind)``: the kind's name (e.g.
    ``manifest["postgres"]["row_counts"]``), except ``archive`` for kind ``files``.
    ``verification`` starts as skipped; see :func:`set_verification`.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown backup kind {kind!r}")
    return {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "kind": kind,
        "name": name,
        "id": os.path.basename(final_path.rstrip("/")),
        "path": os.path.basename(final_path.rstrip("/")),
        "is_directory": os.path.isdir(final_path) if os.path.exists(final_path) else False,
        "files": files,
        "size": sum(int(f["size"]) for f in files),
        "started_at": format_time(started_at),
        "finished_at": format_time(finished_at),
        "duration_seconds": round((finished_at - started_at).total_seconds(), 3),
        "host": socket.gethostname(),
        "verified": VERIFY_SKIPPED,
        "verification": {"method": "none"},
        details_key(kind): dict(details or {}),
    }


def details_key(kind: str) -> str:
    """Manifest key holding a kind's own fields: ``postgres``, ``redis``, or ``archive`` for ``files``."""
    return DETAILS_KEYS.get(kind, kind)


def set_verification(manifest: dict, method: str, ok: bool | None, details: dict | None = None,
                     when: _dt.datetime | None = None) -> dict:
    """Record a verification: ``ok`` True -> passed, False -> failed, None -> skipped."""
    manifest["verified"] = VERIFY_SKIPPED if ok is None else (VERIFY_PASSED if ok else VERIFY_FAILED)
    manifest["verification"] = dict(details or {}, method=method, at=format_time(when or utcnow()))
    return manifest


def write_manifest(manifest_path: str, manifest: dict, owner: str | None = None, group: str | None = None,
                   replace: bool = False) -> None:
    """Write a manifest atomically (mode 0600). ``replace`` allows rewriting an existing one."""
    if replace and os.path.exists(manifest_path):
        tmp = manifest_path + ".new"
        final_tmp = partial_name(tmp)
        with open(final_tmp, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        apply_mode(final_tmp, owner, group)
        os.replace(final_tmp, manifest_path)
        fsync_path(os.path.dirname(os.path.abspath(manifest_path)))
        return
    with atomic_writer(manifest_path, "w", owner, group) as fh:
        json.dump(manifest, fh, indent=2, sort_keys=True)
        fh.write("\n")


def load_manifest(manifest_path: str) -> dict:
    """Read one manifest; BackupError if it is unreadable or not one of ours."""
    try:
        with open(manifest_path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise BackupError(f"cannot read manifest {manifest_path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise BackupError(f"{manifest_path} is not a runbook.ops backup manifest")
    return data


@dataclass
class BackupRecord:
    """One backup found through its manifest (or a candidate for retention planning).

    ``complete``: every file the manifest lists exists with the recorded size.
    ``verified``: the manifest says verification passed.
    """

    id: str
    name: str
    kind: str
    finished_at: _dt.datetime
    verified: bool
    complete: bool = True
    path: str = ""
    manifest_path: str = ""
    manifest: dict = field(default_factory=dict)

    @property
    def countable(self) -> bool:
        """Counts for retention: complete and verified."""
        return self.complete and self.verified

    def data_paths(self) -> list[str]:
        return [self.path] if self.path else []


def record_from_manifest(manifest_path: str, manifest: dict) -> BackupRecord:
    directory = os.path.dirname(os.path.abspath(manifest_path))
    complete = True
    for entry in manifest.get("files", []):
        full = os.path.join(directory, entry["path"])
        try:
            if os.path.getsize(full) != int(entry["size"]):
                complete = False
        except OSError:
            complete = False
    if not manifest.get("files"):
        complete = False
    return BackupRecord(
        id=manifest.get("id", os.path.basename(manifest_path)),
        name=manifest.get("name", ""),
        kind=manifest.get("kind", ""),
        finished_at=parse_time(manifest["finished_at"]),
        verified=manifest.get("verified") == VERIFY_PASSED,
        complete=complete,
        path=os.path.join(directory, manifest["path"]),
        manifest_path=manifest_path,
        manifest=manifest,
    )


def read_manifests(directory: str, kind: str | None = None, name: str | None = None) -> list[BackupRecord]:
    """Backups in ``directory`` with a manifest of ours, oldest first; filtered by kind and name.

    Unreadable or foreign ``*.manifest.json`` files are skipped (never touched).
    """
    if not os.path.isdir(directory):
        return []
    records = []
    for entry in sorted(os.listdir(directory)):
        if not entry.endswith(MANIFEST_SUFFIX) or entry.startswith(PARTIAL_PREFIX):
            continue
        mpath = os.path.join(directory, entry)
        try:
            manifest = load_manifest(mpath)
            record = record_from_manifest(mpath, manifest)
        except (BackupError, KeyError, ValueError, TypeError):
            continue
        if kind is not None and record.kind != kind:
            continue
        if name is not None and record.name != name:
            continue
        records.append(record)
    records.sort(key=lambda r: (r.finished_at, r.id))
    return records


def is_future(record: BackupRecord, now: _dt.datetime | None = None,
              skew_seconds: float | None = None) -> bool:
    """True when ``record`` is dated more than ``skew_seconds`` after ``now``: its clock lied."""
    now = now or utcnow()
    skew = CLOCK_SKEW_SECONDS if skew_seconds is None else skew_seconds
    return (record.finished_at - now).total_seconds() > skew


def future_warning(record: BackupRecord, now: _dt.datetime) -> str:
    """The warning for a backup dated in the future, naming its manifest."""
    where = record.manifest_path or record.path or record.id
    return (f"backup {record.id} ({where}) is dated {format_time(record.finished_at)}, "
            f"{human_duration((record.finished_at - now).total_seconds())} in the future: the clock of the host that "
            "made it (or of this host) is wrong, or the directory was copied; it is not trusted as the newest backup, "
            "never counts toward keep_last and is kept (delete it yourself once you have checked it)")


def human_duration(seconds: float) -> str:
    seconds = abs(seconds)
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} seconds"


def pick_latest(records: t.Iterable[BackupRecord], now: _dt.datetime | None = None,
                skew_seconds: float | None = None) -> tuple[BackupRecord | None, list[str]]:
    """The most recent *trustworthy* backup and warnings about the ones passed over.

    Trustworthy: complete, verified and not dated more than ``skew_seconds``
    (default :data:`CLOCK_SKEW_SECONDS`) after ``now``. A verified backup dated in
    the future is skipped with a warning naming its manifest.
    """
    now = now or utcnow()
    good, warnings = [], []
    for rec in records:
        if not rec.countable:
            continue
        if is_future(rec, now, skew_seconds):
            warnings.append(future_warning(rec, now))
            continue
        good.append(rec)
    best = max(good, key=lambda r: (r.finished_at, r.id)) if good else None
    return best, warnings


def latest_verified(records: t.Iterable[BackupRecord], now: _dt.datetime | None = None,
                    skew_seconds: float | None = None) -> BackupRecord | None:
    """The newest complete, verified backup not dated in the future, or None (see :func:`pick_latest`)."""
    return pick_latest(records, now, skew_seconds)[0]


def verify_files(record_or_manifest: BackupRecord | dict, directory: str | None = None) -> list[str]:
    """Re-hash every file of a backup; a list of problems (empty when every checksum matches)."""
    if isinstance(record_or_manifest, BackupRecord):
        manifest = record_or_manifest.manifest
        directory = os.path.dirname(record_or_manifest.manifest_path)
    else:
        manifest = record_or_manifest
    if directory is None:
        raise ValueError("verify_files needs the backup directory with a manifest dict")
    problems = []
    for entry in manifest.get("files", []):
        full = os.path.join(directory, entry["path"])
        if not os.path.exists(full):
            problems.append(f"{entry['path']}: missing")
            continue
        actual = sha256_file(full)
        if actual != entry["sha256"]:
            problems.append(f"{entry['path']}: sha256 {actual} does not match the manifest's {entry['sha256']}")
    if not manifest.get("files"):
        problems.append("the manifest lists no files")
    return problems


def delete_backup(record: BackupRecord) -> None:
    """Delete a backup's data, then its manifest (a crash in between leaves an orphan
    manifest, which :func:`find_leftovers` reports and removes later)."""
    directory = os.path.dirname(record.manifest_path)
    tops = set()
    for entry in record.manifest.get("files", []):
        tops.add(entry["path"].split("/", 1)[0])
    for top in sorted(tops):
        remove_path(os.path.join(directory, top))
    if os.path.exists(record.manifest_path):
        os.unlink(record.manifest_path)
    fsync_path(directory)


# ---------------------------------------------------------------------------
# retention
# ---------------------------------------------------------------------------
@dataclass
class RetentionDecision:
    record: BackupRecord
    action: str  # "keep" | "delete"
    reason: str

    def as_dict(self) -> dict:
        return {
            "id": self.record.id,
            "path": self.record.path,
            "finished_at": format_time(self.record.finished_at),
            "verified": self.record.verified,
            "complete": self.record.complete,
            "action": self.action,
            "reason": self.reason,
        }


@dataclass
class RetentionPlan:
    decisions: list[RetentionDecision]
    warnings: list[str] = field(default_factory=list)

    @property
    def keep(self) -> list[RetentionDecision]:
        return [d for d in self.decisions if d.action == "keep"]

    @property
    def delete(self) -> list[RetentionDecision]:
        return [d for d in self.decisions if d.action == "delete"]


def plan_retention(backups: t.Sequence[BackupRecord], keep_last: int | None = None,
                   max_age_days: float | None = None, now: _dt.datetime | None = None,
                   prune_unverified: bool = False, *, current: t.Iterable[str] = (),
                   skew_seconds: float | None = None) -> RetentionPlan:
    """Decide which backups (of ONE kind and name) to keep and which to delete.

    The one retention engine of runbook.ops: pg_backup, redis_backup,
    file_backup and run_report's report files all use it.

    ``current`` names the backups made by this run (record ids or paths).
    ``skew_seconds`` is how far in the future (relative to ``now``) a
    timestamp may be and still be trusted (default :data:`CLOCK_SKEW_SECONDS`).

    Rules, in order:

    1. A backup made by this run (``current``) is always kept.
    2. A backup dated more than ``skew_seconds`` after ``now`` is *future-dated*:
       its clock lied. It is never ranked, never counts toward ``keep_last``, is
       never deleted, and yields a warning (in ``plan.warnings``) naming its
       manifest.
    3. The other complete, verified backups ("countable") are ranked: this run's
       first, then newest first.
    4. The newest countable backup is always kept, whatever its age.
    5. Other countable backups are deleted when their rank is >= ``keep_last``
       (if set) or they are older than ``max_age_days`` (if set); both limits
       apply. With neither set nothing is deleted.
    6. Backups that are not countable (verification skipped or failed,
       incomplete) never count toward ``keep_last`` and are kept, unless
       ``prune_unverified`` is true: then those *older than the newest
       countable backup* are deleted (newer ones are kept).

    Consequences: the newest verified backup, whatever its date, is never
    deleted (if it is future-dated, rule 2 keeps it; otherwise rule 4 or 1).

    Returns a :class:`RetentionPlan` with one decision (and reason) per backup,
    in the order of ``backups`` sorted newest first, and its ``warnings``.
    """
    if keep_last is not None and keep_last < 1:
        raise ValueError("keep_last must be at least 1")
    if max_age_days is not None and max_age_days < 0:
        raise ValueError("max_age_days must not be negative")
    if isinstance(current, str):
        current = [current]
    mine = set(current)
    now = now or utcnow()

    def is_current(r: BackupRecord) -> bool:
        return bool(mine) and (r.id in mine or (bool(r.path) and r.path in mine))

    ordered = sorted(backups, key=lambda r: (r.finished_at, r.id), reverse=True)
    future = {id(r) for r in ordered if not is_current(r) and is_future(r, now, skew_seconds)}
    countable = sorted((r for r in ordered if r.countable and id(r) not in future),
                       key=lambda r: (is_current(r), r.finished_at, r.id), reverse=True)
    newest = max(countable, key=lambda r: (r.finished_at, r.id)) if countable else None
    rank = {id(r): i for i, r in enumerate(countable)}
    decisions = []
    warnings = []
    for rec in ordered:
        if id(rec) in future:
            warnings.append(future_warning(rec, now))
            decisions.append(RetentionDecision(
                rec, "keep", f"dated in the future ({format_time(rec.finished_at)}, now {format_time(now)}): "
                "untrusted timestamp, not counted toward retention, kept"))
            continue
        if rec.countable:
            i = rank[id(rec)]
            age_days = (now - rec.finished_at).total_seconds() / 86400.0
            if is_current(rec):
                decisions.append(RetentionDecision(rec, "keep", "made by this run (always kept)"))
                continue
            if rec is newest:
                decisions.append(RetentionDecision(rec, "keep", "newest verified backup (always kept)"))
                continue
            reasons = []
            if keep_last is not None and i >= keep_last:
                reasons.append(f"beyond keep_last={keep_last} (verified backup #{i + 1})")
            if max_age_days is not None and age_days > max_age_days:
                reasons.append(f"older than max_age_days={max_age_days:g} ({age_days:.1f} days)")
            if reasons:
                decisions.append(RetentionDecision(rec, "delete", "; ".join(reasons)))
            else:
                decisions.append(RetentionDecision(rec, "keep", f"verified backup #{i + 1} within limits"))
            continue
        state = "incomplete" if not rec.complete else "not verified"
        if is_current(rec):
            decisions.append(RetentionDecision(rec, "keep", f"made by this run (always kept; {state})"))
        elif prune_unverified and newest is not None and (rec.finished_at, rec.id) < (newest.finished_at, newest.id):
            decisions.append(RetentionDecision(rec, "delete", f"{state}, superseded by verified backup {newest.id}"))
        else:
            decisions.append(RetentionDecision(rec, "keep", f"{state}: not counted toward retention, kept"))
    return RetentionPlan(decisions, warnings)


def apply_retention(records: t.Sequence[BackupRecord], keep_last: int | None = None,
                    max_age_days: float | None = None, *, prune_unverified: bool = False,
                    current: t.Iterable[str] = (), check_mode: bool = False, now: _dt.datetime | None = None,
                    delete: t.Callable[[BackupRecord], None] = delete_backup,
                    warn: t.Callable[[str], None] | None = None,
                    spare: t.Callable[[RetentionDecision], str | None] | None = None,
                    report: dict | None = None, deleted: list[str] | None = None) -> RetentionPlan:
    """Plan retention over ``records`` (see :func:`plan_retention`) and carry it out.

    The one place a plan is applied, for every backup kind on this host and for the copies at an
    off-host destination: ``delete`` removes one backup (default :func:`delete_backup`; a destination
    passes its own), and is not called in check mode. ``warn`` receives each warning (``module.warn``).
    ``spare``, given a decision to delete, may return a reason to keep that backup instead (the copies
    a remote retention run made itself, ranked as any other but never deleted by it).
    ``report`` (a dict of the run's result) receives ``keep``, ``delete`` and ``warnings`` before
    anything is deleted, and ``deleted`` the path of each backup as it goes, so a failure part-way
    still reports what was planned and what is already gone. Returns the plan (before ``spare``).
    """
    plan = plan_retention(records, keep_last, max_age_days, now or utcnow(), prune_unverified, current=current)
    if warn is not None:
        for warning in plan.warnings:
            warn(warning)
    keep = [d.as_dict() for d in plan.keep]
    doomed = []
    for d in plan.delete:
        reason = spare(d) if spare is not None else None
        if reason:
            keep.append(dict(d.as_dict(), action="keep", reason=reason))
        else:
            doomed.append(d)
    if report is not None:
        report.update(keep=keep, delete=[d.as_dict() for d in doomed], warnings=plan.warnings)
    for d in doomed:
        if not check_mode:
            delete(d.record)
        if deleted is not None:
            deleted.append(d.record.path)
    return plan


# ---------------------------------------------------------------------------
# leftovers of killed runs
# ---------------------------------------------------------------------------
_PARTIAL_RE = re.compile(r"^\.partial-(\d+)-(.+)$")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Leftover:
    path: str
    reason: str

    def as_dict(self) -> dict:
        return {"path": self.path, "reason": self.reason}


def find_leftovers(directory: str, name_prefix: str | None = None) -> list[Leftover]:
    """``.partial-<pid>-*`` entries whose process is gone, and manifests of ours whose files are all gone.

    ``name_prefix`` (e.g. ``safe_name(db) + "-"``) limits the search to one
    backup series. A partial whose writer pid is still running (a concurrent
    run on this host) is skipped.
    """
    if not os.path.isdir(directory):
        return []
    out = []
    for entry in sorted(os.listdir(directory)):
        full = os.path.join(directory, entry)
        m = _PARTIAL_RE.match(entry)
        if m:
            pid, rest = int(m.group(1)), m.group(2)
            if name_prefix is not None and not rest.startswith(name_prefix):
                continue
            if pid != os.getpid() and _pid_alive(pid):
                continue
            out.append(Leftover(full, f"partial {'directory' if os.path.isdir(full) else 'file'} of an interrupted run (pid {pid})"))
            continue
        if entry.endswith(MANIFEST_SUFFIX) and (name_prefix is None or entry.startswith(name_prefix)):
            try:
                manifest = load_manifest(full)
            except BackupError:
                continue
            files = manifest.get("files") or []
            if files and not any(os.path.exists(os.path.join(directory, f.get("path", ""))) for f in files):
                out.append(Leftover(full, "manifest whose backup files are all gone"))
    return out


def remove_leftover(leftover: Leftover) -> None:
    remove_path(leftover.path)


def is_regular_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False
