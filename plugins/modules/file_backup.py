#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: file_backup
short_description: Checksummed, verified tar archives of files and directories with safe retention
version_added: 0.1.0
author: runbook.ops maintainers (@runbook-ops)
description:
  - Archives O(paths) (files and directories, recursively) into one compressed tar file in O(backup_dir),
    skipping O(exclude) patterns (for example C(node_modules), C(.git), C(*.pyc)).
  - Uses the same code as M(runbook.ops.pg_backup) for the atomic write (temporary C(.partial-*) name, fsync,
    rename), the sha256 checksum, the JSON manifest (C(kind=files), with file count, bytes and paths) and
    retention (O(keep_last), O(max_age_days) over complete, verified archives of the same O(name); the newest
    verified one is never deleted; files without a manifest of ours are never touched).
  - The archive made by a run is never deleted by that run's retention. An archive whose manifest is dated
    more than 5 minutes in the future (a wrong clock, a copied directory) never outranks it, never counts
    toward O(keep_last) and is never deleted; the module warns, naming its manifest.
  - Archives are created with mode 0600, since they often hold secrets (C(.env) files, keys).
  - O(verify=read) reads the whole archive back (every member, every byte, after decompression) and compares
    the file count and bytes with what was archived.
extends_documentation_fragment:
  - runbook.ops.attributes
attributes:
  check_mode:
    support: full
    details: Reports the archive that would be created (RV(would_create)) with the number of files and bytes, and
      what retention and leftover cleanup would delete; writes nothing.
  diff_mode:
    support: none
seealso:
  - module: runbook.ops.backup_copy
  - module: runbook.ops.backup_fetch
  - module: runbook.ops.backup_history
options:
  name:
    description:
      - Name of the backup series (file name prefix, and the key retention groups by), taken whole.
      - Any string works; a name with characters other than ASCII letters, digits, C(.), C(_) and C(-) gets a
        file name prefix of its cleaned form plus C(+) and a short hash, so two names never share files.
    type: str
    required: true
  paths:
    description:
      - Files and directories to archive (absolute paths). Each is stored under its absolute path
        without the leading C(/).
      - Give a YAML list. A single path without a comma is taken as a list of that one path; a string with a
        comma is refused (Ansible would split it at its commas), never split. C(~) and C($VAR) are expanded.
    type: raw
    required: true
  exclude:
    description:
      - Glob patterns (C(fnmatch)) of entries to skip. A pattern without C(/) matches any file or directory name
        at any depth (C(node_modules), C(*.log)); a pattern with C(/) matches the full path.
      - Give a YAML list. A single pattern without a comma is taken as a list of that one pattern; a string
        with a comma is refused (Ansible would split it at its commas), never split.
    type: raw
    default: []
  backup_dir:
    description: Directory that receives the archives (created with mode 0700 if missing).
    type: path
    required: true
  compression:
    description: C(gzip) (Python) or C(zstd) (the C(zstd) program on the managed host).
    type: str
    default: gzip
    choices: [gzip, zstd]
  compression_level:
    description: Compression level (gzip 1-9, default 6; zstd 1-19, default 3).
    type: int
  verify:
    description: C(read) reads the whole archive back and compares counts and bytes; C(none) leaves it unverified
      (it then never counts toward retention).
    type: str
    default: read
    choices: [none, read]
  keep_last:
    description: Keep at most this many verified archives of O(name) (the newest verified is always kept).
    type: int
  max_age_days:
    description: Delete verified archives of O(name) older than this (except the newest verified one).
    type: float
  prune_unverified:
    description: Also delete unverified or incomplete archives older than the newest verified one.
    type: bool
    default: false
  space_factor:
    description: Refuse to start when O(backup_dir) has less free space than the bytes to archive times this
      factor (C(0) disables the check).
    type: float
    default: 1.0
  owner:
    description: Owner (name or uid) of the created files and directories.
    type: str
  group:
    description: Group (name or gid) of the created files and directories.
    type: str
"""

EXAMPLES = r"""
- name: Archive the application without dependencies and VCS data
  runbook.ops.file_backup:
    name: app
    paths: [/srv/app]
    exclude: [node_modules, .git, "*.pyc", __pycache__]
    backup_dir: /var/backups/files
    compression: zstd
    keep_last: 14

- name: Compose and environment files
  runbook.ops.file_backup:
    name: config
    paths: [/srv/app/.env, /srv/app/compose.yaml]
    backup_dir: /var/backups/files
"""

RETURN = r"""
backup:
  description: The archive made (C(path), C(manifest), C(size), C(sha256), C(file_count), C(bytes), C(verified)).
  returned: when an archive was created
  type: dict
would_create:
  description: Check mode, the archive that would be created with its file count and bytes.
  returned: check mode
  type: dict
retention:
  description: The C(keep) and C(delete) decisions with reasons, and C(warnings) about future-dated archives.
  returned: always
  type: dict
deleted:
  description: Paths of archives retention deleted (would delete, in check mode).
  returned: always
  type: list
  elements: str
leftovers_removed:
  description: Partial files of interrupted runs removed (would remove, in check mode).
  returned: always
  type: list
  elements: dict
"""

import fnmatch
import os
import subprocess
import tarfile
import threading
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
from ansible_collections.runbook.ops.plugins.module_utils._options import OptionError, whole_list
from ansible_collections.runbook.ops.plugins.module_utils._runtime import pipe_process

SUFFIX = {"gzip": ".tar.gz", "zstd": ".tar.zst"}


def excluded(path: str, patterns: list[str]) -> bool:
    base = os.path.basename(path.rstrip("/"))
    for pat in patterns:
        if "/" in pat:
            if fnmatch.fnmatch(path, pat) or fnmatch.fnmatch(path, pat.rstrip("/") + "/*"):
                return True
        elif fnmatch.fnmatch(base, pat):
            return True
    return False


def collect(paths: list[str], patterns: list[str]) -> tuple[list[str], int, int]:
    """Entries to archive in order (directories before their contents), regular-file count and bytes."""
    entries, files, size = [], 0, 0
    for top in paths:
        if excluded(top, patterns):
            continue
        if os.path.isdir(top) and not os.path.islink(top):
            for root, dirs, names in os.walk(top):
                dirs[:] = sorted(d for d in dirs if not excluded(os.path.join(root, d), patterns))
                entries.append(root)
                for n in sorted(names):
                    full = os.path.join(root, n)
                    if excluded(full, patterns):
                        continue
                    entries.append(full)
                    if os.path.isfile(full) and not os.path.islink(full):
                        files += 1
                        size += os.path.getsize(full)
        else:
            entries.append(top)
            if os.path.isfile(top) and not os.path.islink(top):
                files += 1
                size += os.path.getsize(top)
    return entries, files, size


def write_archive(module, partial: str, entries: list[str], compression: str, level: int | None) -> tuple[int, int]:
    """Write the tar stream; returns (regular files, bytes) actually archived."""
    counts = {"files": 0, "bytes": 0}

    def add_all(tar: tarfile.TarFile) -> None:
        for full in entries:
            info = tar.gettarinfo(full, arcname=full.lstrip("/"))
            if info is None:  # sockets etc.
                continue
            if info.isreg():
                with open(full, "rb") as fh:
                    tar.addfile(info, fh)
                counts["files"] += 1
                counts["bytes"] += info.size
            else:
                tar.addfile(info)

    if compression == "gzip":
        with open(partial, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=level or 6) as tar:
                add_all(tar)
    else:
        zstd = module.get_bin_path("zstd", required=True)
        with open(partial, "wb") as raw:
            proc = pipe_process([zstd, "-q", "-c", f"-{level or 3}", "-T0"], stdin=subprocess.PIPE, stdout=raw,
                                stderr=subprocess.PIPE)
            try:
                with tarfile.open(fileobj=proc.stdin, mode="w|") as tar:
                    add_all(tar)
            finally:
                proc.stdin.close()
            err = proc.stderr.read()
            if proc.wait() != 0:
                raise OSError(f"zstd failed: {err.decode(errors='replace').strip()}")
    return counts["files"], counts["bytes"]


def read_archive(module, path: str, compression: str) -> tuple[int, int]:
    """Read every member of the archive to the end; (regular files, bytes)."""
    files = size = 0

    def consume(tar: tarfile.TarFile) -> None:
        nonlocal files, size
        for member in tar:
            if member.isreg():
                fh = tar.extractfile(member)
                n = 0
                while True:
                    chunk = fh.read(1024 * 1024)
                    if not chunk:
                        break
                    n += len(chunk)
                if n != member.size:
                    raise tarfile.ReadError(f"{member.name}: {n} bytes read, {member.size} expected")
                files += 1
                size += n

    if compression == "gzip":
        with tarfile.open(path, mode="r:gz") as tar:
            consume(tar)
    else:
        zstd = module.get_bin_path("zstd", required=True)
        proc = pipe_process([zstd, "-q", "-d", "-c", "--", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        errs: list[bytes] = []
        th = threading.Thread(target=lambda: errs.append(proc.stderr.read()), daemon=True)
        th.start()
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                consume(tar)
        finally:
            proc.stdout.close()
            rc = proc.wait()
            th.join()
        if rc != 0:
            raise tarfile.ReadError(f"zstd -d failed: {b''.join(errs).decode(errors='replace').strip()}")
    return files, size


def run(module) -> dict:
    p = module.params
    check = module.check_mode
    dest = os.path.abspath(p["backup_dir"])
    result: dict = {"changed": False, "retention": {}, "deleted": [], "leftovers_removed": [], "backup_dir": dest}
    if p["keep_last"] is not None and p["keep_last"] < 1:
        raise B.BackupError("keep_last: must be at least 1 (the newest verified archive is always kept)")
    if p["max_age_days"] is not None and p["max_age_days"] < 0:
        raise B.BackupError("max_age_days: must not be negative")
    level = p["compression_level"]
    if level is not None and not (1 <= level <= (9 if p["compression"] == "gzip" else 19)):
        raise B.BackupError(f"compression_level: {level} is out of range for {p['compression']}")
    if p["compression"] == "zstd" and not module.get_bin_path("zstd"):
        raise B.BackupError("compression: zstd needs the zstd program on the managed host (Debian package zstd)")
    paths = [os.path.abspath(x) for x in p["paths"]]
    missing = [x for x in paths if not os.path.lexists(x)]
    if missing:
        raise B.BackupError(f"paths: {', '.join(missing)} does not exist")
    inside = [x for x in paths if dest == x or dest.startswith(x.rstrip("/") + "/")]
    if inside and not excluded(dest, p["exclude"]):
        raise B.BackupError(f"backup_dir {dest} is inside paths ({', '.join(inside)}); exclude it or choose another directory")

    result["changed"] |= B.ensure_dir(dest, p["owner"], p["group"], check_mode=check)
    prefix = B.safe_name(p["name"]) + "-"
    for lo in B.find_leftovers(dest, prefix):
        if not check:
            B.remove_leftover(lo)
        result["leftovers_removed"].append(lo.as_dict())

    entries, nfiles, nbytes = collect(paths, p["exclude"])
    if p["space_factor"] > 0 and os.path.isdir(dest):
        B.check_free_space(dest, int(nbytes * p["space_factor"]), f"an archive of {nfiles} files ({B.human_bytes(nbytes)})")
    started = B.utcnow()
    final = os.path.join(dest, B.backup_basename(p["name"], started, SUFFIX[p["compression"]]))
    details = {"paths": paths, "exclude": p["exclude"], "compression": p["compression"],
               "compression_level": level, "file_count": nfiles, "bytes": nbytes}
    if check:
        result["would_create"] = {"path": final, "manifest": B.manifest_path_for(final), "file_count": nfiles, "bytes": nbytes}
    else:
        partial = B.new_partial(final)
        try:
            files_done, bytes_done = write_archive(module, partial, entries, p["compression"], level)
            entry = B.file_entries(partial, dest)
            entry[0]["path"] = os.path.basename(final)
            B.commit_partial(partial, final, p["owner"], p["group"])
        except BaseException as exc:
            B.discard_partial(partial)
            if B.is_no_space(exc):
                raise B.BackupError(f"backup_dir {dest} is full ({exc}); the partial archive was removed, "
                                    "earlier archives are untouched") from exc
            raise
        details.update(file_count=files_done, bytes=bytes_done)
        finished = B.utcnow()
        manifest = B.new_manifest("files", p["name"], final, started, finished, entry, details)
        if p["verify"] == "read":
            problems = B.verify_files(manifest, dest)
            vdetails: dict = {}
            if not problems:
                try:
                    rf, rb = read_archive(module, final, p["compression"])
                    vdetails.update(files_read=rf, bytes_read=rb)
                    if (rf, rb) != (files_done, bytes_done):
                        problems.append(f"read back {rf} files / {rb} bytes, archived {files_done} / {bytes_done}")
                except (tarfile.TarError, OSError, EOFError) as exc:
                    problems.append(f"reading the archive back failed: {exc}")
            if problems:
                vdetails["error"] = "; ".join(problems)
            B.set_verification(manifest, "read", not problems, vdetails)
        else:
            B.set_verification(manifest, "none", None)
        mpath = B.manifest_path_for(final)
        B.write_manifest(mpath, manifest, p["owner"], p["group"])
        result["backup"] = {"path": final, "manifest": mpath, "size": manifest["size"], "sha256": entry[0]["sha256"],
                            "file_count": files_done, "bytes": bytes_done, "verified": manifest["verified"],
                            "verification": manifest["verification"], "duration_seconds": manifest["duration_seconds"]}
        result["changed"] = True
        if manifest["verified"] == B.VERIFY_FAILED:
            result["failed"] = True
            result["msg"] = f"verification of {final} failed: {manifest['verification'].get('error')}"

    records = B.read_manifests(dest, "files", p["name"])
    if check:
        records.append(B.BackupRecord(id=os.path.basename(final), name=p["name"], kind="files", finished_at=started,
                                      verified=p["verify"] != "none", path=final, manifest_path=B.manifest_path_for(final)))
    plan = B.plan_retention(records, p["keep_last"], p["max_age_days"], B.utcnow(), p["prune_unverified"],
                            current=[final])
    for warning in plan.warnings:
        module.warn(warning)
    result["retention"] = {"keep": [d.as_dict() for d in plan.keep], "delete": [d.as_dict() for d in plan.delete],
                           "warnings": plan.warnings}
    for d in plan.delete:
        if not check:
            B.delete_backup(d.record)
        result["deleted"].append(d.record.path)
    result["changed"] = bool(result["changed"] or check or result["deleted"] or result["leftovers_removed"])
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            paths=dict(type="raw", required=True),
            exclude=dict(type="raw", default=[]),
            backup_dir=dict(type="path", required=True),
            compression=dict(type="str", default="gzip", choices=["gzip", "zstd"]),
            compression_level=dict(type="int"),
            verify=dict(type="str", default="read", choices=["none", "read"]),
            keep_last=dict(type="int"),
            max_age_days=dict(type="float"),
            prune_unverified=dict(type="bool", default=False),
            space_factor=dict(type="float", default=1.0),
            owner=dict(type="str"),
            group=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    try:
        module.params["paths"] = whole_list(module.params["paths"], "paths", path=True)
        module.params["exclude"] = whole_list(module.params["exclude"], "exclude")
    except OptionError as exc:
        module.fail_json(msg=str(exc))
    try:
        result = run(module)
    except B.BackupError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg=f"file error: {exc}", exception=traceback.format_exc())
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
