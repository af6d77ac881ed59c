# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""backup_fetch: download a verified copy back from a destination, checking every sha256 against its copy manifest."""

from __future__ import annotations

import hashlib
import json
import os

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
from ansible_collections.runbook.ops.plugins.module_utils._dest_base import Destination, OffsiteError, Unreachable
from ansible_collections.runbook.ops.plugins.module_utils._offsite_manifest import check_relpath, data_tops, read_copies, remote_record
from ansible_collections.runbook.ops.plugins.module_utils._ratelimit import RateLimiter


def pick_copy(dest: Destination, listing: dict[str, int], kind: str, name: str, backup: str) -> B.BackupRecord:
    copies = read_copies(dest, listing)
    records = [remote_record(d, listing, dest.url) for d in copies.values() if d.get("kind") == kind and d.get("name") == name]
    if backup == "latest":
        rec = B.latest_verified(records)
        if rec is None:
            raise OffsiteError(f"no complete, verified copy of {kind} series {name!r} at {dest.url} "
                               f"({len(records)} copy manifest(s) of that series)")
        return rec
    wanted = os.path.basename(backup.rstrip("/"))
    if wanted.endswith(B.MANIFEST_SUFFIX):
        wanted = wanted[:-len(B.MANIFEST_SUFFIX)]
    for rec in records:
        if rec.id == wanted:
            if not rec.countable:
                raise OffsiteError(f"backup: the copy {wanted} at {dest.url} is incomplete or not verified")
            return rec
    raise OffsiteError(f"backup: no copy {wanted!r} of {kind} series {name!r} at {dest.url}")


def fetch_backup(dest: Destination, params: dict, check: bool) -> dict:
    """Download a verified copy into ``dest_dir`` (atomically, mode 0600), checking every sha256 against the
    copy's manifest; the local result is a backup with its manifest, as the restore modules take it."""
    p = params
    local_dir = os.path.abspath(p["dest_dir"])
    if not dest.prepare(create=False):
        raise Unreachable(f"destination: {dest.url} does not exist")
    listing = dest.listing()
    rec = pick_copy(dest, listing, p["kind"], p["name"], p.get("backup") or "latest")
    doc = rec.manifest
    files = [dict(f, path=check_relpath(f["path"])) for f in doc["files"]]
    mname = doc.get("source_manifest") or rec.id + B.MANIFEST_SUFFIX
    base = os.path.basename(mname)[:-len(B.MANIFEST_SUFFIX)] if mname.endswith(B.MANIFEST_SUFFIX) else rec.id
    local_path = os.path.join(local_dir, base)
    local_manifest = os.path.join(local_dir, mname)
    result = {"changed": False, "destination": dest.url, "id": rec.id, "kind": rec.kind, "name": rec.name,
              "backup": local_path, "manifest": local_manifest, "finished_at": doc.get("backup_finished_at"),
              "copied_at": doc.get("copied_at"), "source_host": doc.get("source_host"),
              "size": sum(int(f["size"]) for f in files if f["path"] != mname), "checksum": None, "fetched": []}
    if os.path.exists(local_manifest):
        try:
            problems = B.verify_files(B.load_manifest(local_manifest), local_dir)
        except B.BackupError as exc:
            problems = [str(exc)]
        if problems:
            raise OffsiteError(f"dest_dir: {local_manifest} exists but does not match ({'; '.join(problems)}); "
                               "remove it or choose another dest_dir")
        result["checksum"] = "ok"
        result["status"] = "present"
        return result
    result["status"] = "fetched"
    result["changed"] = True
    if check:
        return result
    B.ensure_dir(local_dir)
    B.check_free_space(local_dir, result["size"], f"the copy {rec.id}")
    limiter = RateLimiter(p.get("bwlimit") or 0)
    tops = data_tops({"files": [f for f in files if f["path"] != mname]})
    partials = {}
    try:
        for top in tops:
            final = os.path.join(local_dir, top)
            is_dir = any(f["path"].startswith(top + "/") for f in files)
            partials[top] = B.new_partial(final, directory=is_dir)
        for f in files:
            if f["path"] == mname:
                continue
            top, _sep, rest = f["path"].partition("/")
            target = os.path.join(partials[top], *rest.split("/")) if rest else partials[top]
            os.makedirs(os.path.dirname(target), mode=B.DIR_MODE, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, B.FILE_MODE)
            with os.fdopen(fd, "wb") as out:
                size, digest = dest.download(f["path"], out.write, limiter)
                out.flush()
                os.fsync(out.fileno())
            if digest != f["sha256"] or size != int(f["size"]):
                raise OffsiteError(f"{f['path']} from {dest.url}: sha256 {digest} ({size} bytes) does not match the "
                                   f"copy's manifest ({f['sha256']}, {f['size']} bytes); not used")
            result["fetched"].append(f["path"])
        mbytes = dest.read(mname)
        want = next((f for f in files if f["path"] == mname), None)
        if want is None or hashlib.sha256(mbytes).hexdigest() != want["sha256"]:
            raise OffsiteError(f"{mname} from {dest.url} does not match the copy's manifest; not used")
        manifest = json.loads(mbytes.decode("utf-8"))
        # the backup's own checksums must agree with what the copy verified
        own = {e["path"]: e["sha256"] for e in manifest.get("files", [])}
        if own != {f["path"]: f["sha256"] for f in files if f["path"] != mname}:
            raise OffsiteError(f"{mname} from {dest.url} lists other files or checksums than the copy's manifest")
        for top, partial in partials.items():
            B.commit_partial(partial, os.path.join(local_dir, top))
        partials = {}
        with B.atomic_writer(local_manifest, "wb") as fh:
            fh.write(mbytes)
    except BaseException:
        for partial in partials.values():
            B.discard_partial(partial)
        raise
    problems = B.verify_files(B.load_manifest(local_manifest), local_dir)
    if problems:
        raise OffsiteError(f"the fetched backup does not verify: {'; '.join(problems)}")
    result["checksum"] = "ok"
    return result
