# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""backup_copy: off-host copies of verified backups, verified where they land, resumed when interrupted.

Path and SSH copies are written under ``.partial-copy-<id>/``, verified there, then renamed into place; an
interrupted copy leaves its staging, which the next run resumes (a partial file is appended to). S3 has no rename:
each object is uploaded to its final key, where it only appears once complete (a PUT or a completed multipart
upload), and the copy still counts only once ``.copy.json`` is written; a rerun skips objects whose sha256
already matches. The layout at a destination is described in ``_offsite_manifest.py``; remote retention is in
``_offsite_retention.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
from ansible_collections.runbook.ops.plugins.module_utils._dest_base import (
    STAGING_PREFIX, TMP_PREFIX, Destination, OffsiteError, Unreachable,
)
from ansible_collections.runbook.ops.plugins.module_utils._offsite_manifest import (
    COPY_FORMAT, COPY_VERSION, check_id, check_relpath, copy_entry, copy_manifest_name, data_tops, read_copies,
)
from ansible_collections.runbook.ops.plugins.module_utils._offsite_retention import remote_retention
from ansible_collections.runbook.ops.plugins.module_utils._ratelimit import RateLimiter


class CopyRun:
    """One backup_copy run: every countable local backup copied and verified, then remote retention."""

    def __init__(self, dest: Destination, params: dict, check: bool) -> None:
        self.dest = dest
        self.p = params
        self.check = check
        self.limiter = RateLimiter(params.get("bwlimit") or 0)
        self.url = dest.url
        self.result: dict = {"changed": False, "destination": self.url, "copies": [], "retention": {}, "deleted": [],
                             "leftovers_removed": [], "series": []}
        self.listing: dict[str, int] = {}
        self.copies: dict[str, dict] = {}
        self.unreachable: str | None = None
        self.local_ok: set[str] = set()
        self.checked: set[str] = set()

    # -- local side ---------------------------------------------------------------
    def local_backups(self) -> list[B.BackupRecord]:
        p = self.p
        d = p["backup_dir"]
        if not os.path.isdir(d):
            raise OffsiteError(f"backup_dir: {d} is not a directory")
        names = set(p.get("names") or [])
        out = []
        for rec in B.read_manifests(d, p.get("kind")):
            if names and rec.name not in names:
                continue
            out.append(rec)
        return out

    # -- the run -------------------------------------------------------------------
    def run(self) -> dict:
        p = self.p
        if p.get("keep_last") is not None and p["keep_last"] < 1:
            raise OffsiteError("keep_last: must be at least 1 (the newest verified copy is always kept)")
        if p.get("max_age_days") is not None and p["max_age_days"] < 0:
            raise OffsiteError("max_age_days: must not be negative")
        if (p.get("bwlimit") or 0) < 0:
            raise OffsiteError("bwlimit: must not be negative")
        local = self.local_backups()
        exists = self.dest.prepare(create=not self.check)
        self.listing = self.dest.listing() if exists else {}
        self.copies = read_copies(self.dest, self.listing)
        wanted = {rec.id for rec in local if rec.countable}
        self._leftovers(wanted)
        for rec in local:
            if not rec.countable:
                continue
            if self.unreachable:
                self._add(rec, rec.manifest.get("size", 0), False, None, "failed",
                          f"not attempted: {self.unreachable}")
                continue
            try:
                self._one(rec)
            except Unreachable as exc:
                self.unreachable = str(exc)
                self._add(rec, rec.manifest.get("size", 0), False, None, "failed", str(exc))
            except (OffsiteError, B.BackupError, OSError) as exc:
                msg = str(exc)
                if B.is_no_space(exc):
                    msg = f"the destination is full: {exc}; the copy was not counted and will be resumed"
                self._add(rec, rec.manifest.get("size", 0), False, None, "failed", msg)
        if self.unreachable:
            self.result["retention_skipped"] = f"destination unreachable: {self.unreachable}"
        else:
            remote_retention(self)
        failed = [c for c in self.result["copies"] if c["status"] == "failed"]
        if failed:
            self.result["failed"] = True
            self.result["msg"] = (f"{len(failed)} of {len(self.result['copies'])} backup(s) not copied to {self.url}: "
                                  + "; ".join(f"{c['id']}: {c['msg']}" for c in failed[:5]))
        return self.result

    def _add(self, rec: B.BackupRecord, size: int, verified: bool, copied_at: str | None, status: str, msg: str) -> None:
        self.result["copies"].append(copy_entry(rec.kind, rec.name, rec.path, self.url, int(size or 0), verified,
                                                copied_at, status, msg, rec.id))
        if status == "copied":
            self.result["changed"] = True

    def _leftovers(self, wanted: set[str]) -> None:
        """Staging of copies whose backup is no longer here to finish them, and temporary manifest files."""
        stale = set()
        for rel in self.listing:
            top = rel.split("/", 1)[0]
            if top.startswith(STAGING_PREFIX) and top[len(STAGING_PREFIX):] not in wanted:
                stale.add(top)
            elif top.startswith(TMP_PREFIX) and "/" not in rel:
                stale.add(top)
        if not stale:
            return
        if not self.check:
            self.dest.delete(sorted(stale))
        self.result["leftovers_removed"] = [f"{self.url}/{s}" for s in sorted(stale)]
        self.result["changed"] = True
        for rel in list(self.listing):
            if rel.split("/", 1)[0] in stale:
                del self.listing[rel]

    def _one(self, rec: B.BackupRecord) -> None:
        manifest = rec.manifest
        check_id(rec.id)
        entries = [dict(e, path=check_relpath(e["path"])) for e in manifest.get("files", [])]
        mname = os.path.basename(rec.manifest_path)
        size = sum(int(e["size"]) for e in entries)
        doc = self.copies.get(rec.id)
        redo = ""
        if doc is not None:
            problems = self.check_copy(doc)
            if not problems and doc.get("verified") == B.VERIFY_PASSED:
                self._add(rec, size, True, doc.get("copied_at"), "present", "already at the destination, verified")
                return
            redo = "; ".join(problems) or "the earlier copy did not verify"
            self._check_local(rec)  # the bad copy goes only when a good backup replaces it
            if not self.check:
                # ours: drop the bad copy (its manifest first, so it stops counting at once)
                self.dest.delete([copy_manifest_name(rec.id)])
                self.dest.delete([mname] + data_tops(manifest))
            for rel in [copy_manifest_name(rec.id), mname] + [e["path"] for e in entries]:
                self.listing.pop(rel, None)
        else:
            in_the_way = [e["path"] for e in entries if e["path"] in self.listing]
            in_the_way += [mname] if mname in self.listing else []
            if in_the_way:
                # final names without our copy manifest: a copy interrupted after its files landed (S3, or
                # between rename and manifest), adopted only when every byte matches; never overwritten
                digests = self.dest.sha256(in_the_way)
                expected = {e["path"]: e["sha256"] for e in entries}
                expected[mname] = B.sha256_file(rec.manifest_path)
                bad = [r for r in in_the_way if digests.get(r) != expected[r]]
                if bad and self.dest.staged:
                    raise OffsiteError(f"{', '.join(bad)} at the destination was not written by backup_copy "
                                       "(no copy manifest) and differs from the backup; not overwritten")
                if bad:  # S3: an object of an unfinished copy (no copy manifest) that did not match: replace it
                    for rel in bad:
                        self.listing.pop(rel, None)
        self._check_local(rec)
        if self.check:
            self._add(rec, size, False, None, "copied", "would be copied (check mode)" + (f"; {redo}" if redo else ""))
            return
        self._copy(rec, entries, mname)
        doc = self._commit(rec, entries, mname, size)
        self.copies[rec.id] = doc
        self._add(rec, size, True, doc["copied_at"], "copied",
                  "copied and verified at the destination" + (f" (re-copied: {redo})" if redo else ""))

    def _check_local(self, rec: B.BackupRecord) -> None:
        if rec.id in self.local_ok:
            return
        problems = B.verify_files(rec)
        if problems:
            raise OffsiteError(f"the local backup does not match its manifest ({'; '.join(problems)}); not copied")
        self.local_ok.add(rec.id)

    def check_copy(self, doc: dict) -> list[str]:
        self.checked.add(doc["id"])
        problems = []
        for e in doc.get("files", []):
            have = self.listing.get(e["path"])
            if have is None:
                problems.append(f"{e['path']}: missing at the destination")
            elif have != int(e["size"]):
                problems.append(f"{e['path']}: {have} bytes at the destination, {e['size']} copied")
        if problems or self.p.get("verify_existing") != "sha256":
            return problems
        digests = self.dest.sha256([e["path"] for e in doc.get("files", [])])
        for e in doc.get("files", []):
            if digests.get(e["path"]) != e["sha256"]:
                problems.append(f"{e['path']}: sha256 at the destination does not match the copy's manifest")
        return problems

    def _copy(self, rec: B.BackupRecord, entries: list[dict], mname: str) -> None:
        src_dir = os.path.dirname(os.path.abspath(rec.manifest_path))
        staging = STAGING_PREFIX + rec.id if self.dest.staged else ""
        # tops already under their final name (an adopted, byte-identical earlier copy; see _one)
        done = {top for top in data_tops(rec.manifest)
                if all(e["path"] in self.listing for e in entries if e["path"].split("/", 1)[0] == top)}
        for e in entries:
            if staging and e["path"].split("/", 1)[0] in done:
                continue
            rel = f"{staging}/{e['path']}" if staging else e["path"]
            local = os.path.join(src_dir, *e["path"].split("/"))
            have = self.listing.get(rel)
            size = int(e["size"])
            if have == size and self.dest.sha256([rel]).get(rel) == e["sha256"]:
                continue  # landed in an earlier run
            offset = have if (have is not None and 0 < have < size and self.dest.staged) else 0
            for attempt in (1, 2):
                self.dest.upload(local, rel, offset, self.limiter)
                got = self.dest.sha256([rel]).get(rel)
                if got == e["sha256"]:
                    break
                if attempt == 2:
                    raise OffsiteError(f"{e['path']}: sha256 at the destination ({got}) does not match the backup's "
                                       f"({e['sha256']}) after two attempts; the copy is not counted")
                offset = 0  # a resumed partial that does not verify: copy the whole file again
            self.listing[rel] = size
        if staging:
            for top in data_tops(rec.manifest):
                if top not in done:
                    self.dest.rename(f"{staging}/{top}", top)
            self.dest.delete([staging])

    def _commit(self, rec: B.BackupRecord, entries: list[dict], mname: str, size: int) -> dict:
        with open(rec.manifest_path, "rb") as fh:
            mbytes = fh.read()
        self.dest.write_bytes(mname, mbytes)
        files = [{"path": e["path"], "size": int(e["size"]), "sha256": e["sha256"]} for e in entries]
        files.append({"path": mname, "size": len(mbytes), "sha256": hashlib.sha256(mbytes).hexdigest()})
        # verify where it landed: every file, after the renames
        digests = self.dest.sha256([f["path"] for f in files]) if self.dest.staged else \
            {mname: self.dest.sha256([mname]).get(mname), **{e["path"]: e["sha256"] for e in entries}}
        bad = [f["path"] for f in files if digests.get(f["path"]) != f["sha256"]]
        if bad:
            raise OffsiteError(f"{', '.join(bad)}: sha256 at the destination does not match after the copy; "
                               "the copy is not counted")
        now = B.format_time(B.utcnow())
        doc = {
            "format": COPY_FORMAT, "version": COPY_VERSION, "kind": rec.kind, "name": rec.name, "id": rec.id,
            "backup_finished_at": rec.manifest.get("finished_at"), "backup_verified": rec.manifest.get("verified"),
            "source_host": socket.gethostname(), "source_path": rec.path, "source_manifest": mname,
            "destination": self.url, "copied_at": now, "size": size,
            "verified": B.VERIFY_PASSED,
            "verification": {"method": "sha256 at the destination", "at": now, "files": len(files)},
            "files": files, "written_by": "runbook.ops.backup_copy",
        }
        data = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
        self.dest.write_bytes(copy_manifest_name(rec.id), data)
        for f in files:
            self.listing[f["path"]] = f["size"]
        self.listing[copy_manifest_name(rec.id)] = len(data)
        return doc


def copy_backups(dest: Destination, params: dict, check: bool) -> dict:
    return CopyRun(dest, params, check).run()
