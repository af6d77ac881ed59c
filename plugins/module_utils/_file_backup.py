# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tar archives of files and directories for file_backup: what to archive (with exclude patterns),
writing it (gzip in Python, zstd through the program), reading it all back, and the run itself.
Files, manifests and retention go through ``_backup``, as for every backup kind."""

from __future__ import annotations

import fnmatch
import os
import subprocess
import tarfile
import threading

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
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
    """The body of file_backup: checks, leftovers, the archive, its verification, retention."""
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
    result["retention"] = report = {}
    B.apply_retention(records, p["keep_last"], p["max_age_days"], prune_unverified=p["prune_unverified"],
                      current=[final], check_mode=check, warn=module.warn, report=report, deleted=result["deleted"])
    result["changed"] = bool(result["changed"] or check or result["deleted"] or result["leftovers_removed"])
    return result
