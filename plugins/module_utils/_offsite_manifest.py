# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Copy manifests (``<id>.copy.json``) and the records read from them.

Layout at a destination (relative to the directory or ``bucket/prefix``)::

    <id>                      the backup's data (a file, or a directory tree)
    <id>.manifest.json        the backup's own manifest, byte for byte
    <id>.copy.json            the copy's manifest: written last, only after every
                              file verified (sha256 computed where it landed)
    .partial-copy-<id>/...    staging of a copy in progress (path and ssh)

A copy *counts* only when its ``.copy.json`` exists and says ``verified: passed``.
"""

from __future__ import annotations

import json
import re

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
from ansible_collections.runbook.ops.plugins.module_utils._dest_base import Destination, OffsiteError

COPY_FORMAT = "runbook.ops/offsite-copy"
COPY_VERSION = 1
COPY_SUFFIX = ".copy.json"
_ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")


def check_relpath(rel: str, what: str = "path") -> str:
    """A relative path from a manifest, refused if it could leave the destination."""
    if not rel or rel.startswith("/") or "\\" in rel:
        raise OffsiteError(f"unsafe {what} {rel!r} in a manifest")
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts) or parts[0].startswith(".partial"):
        raise OffsiteError(f"unsafe {what} {rel!r} in a manifest")
    return rel


def check_id(backup_id: str) -> str:
    if not _ID_RE.match(backup_id or "") or backup_id.startswith(".partial"):
        raise OffsiteError(f"unsafe backup id {backup_id!r} in a manifest")
    return backup_id


def copy_manifest_name(backup_id: str) -> str:
    return backup_id + COPY_SUFFIX


def data_tops(manifest: dict) -> list[str]:
    """Top-level names of a backup's data (its file, or its directory)."""
    return sorted({check_relpath(e["path"]).split("/", 1)[0] for e in manifest.get("files", [])})


def parse_copy_manifest(data: bytes) -> dict | None:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != COPY_FORMAT:
        return None
    try:
        check_id(doc["id"])
        for entry in doc.get("files", []):
            check_relpath(entry["path"])
        B.parse_time(doc["backup_finished_at"])
    except (KeyError, TypeError, ValueError, OffsiteError):
        return None
    return doc


def remote_record(doc: dict, listing: dict[str, int], url: str) -> B.BackupRecord:
    complete = bool(doc.get("files")) and all(listing.get(e["path"]) == int(e["size"]) for e in doc["files"])
    return B.BackupRecord(
        id=doc["id"], name=doc.get("name", ""), kind=doc.get("kind", ""),
        finished_at=B.parse_time(doc["backup_finished_at"]),
        verified=doc.get("verified") == B.VERIFY_PASSED, complete=complete,
        path=f"{url}/{doc['id']}", manifest_path=copy_manifest_name(doc["id"]), manifest=doc,
    )


def read_copies(dest: Destination, listing: dict[str, int]) -> dict[str, dict]:
    """Copy manifests of ours at the destination root: {backup id: manifest}. Foreign files are ignored."""
    out = {}
    for rel in sorted(listing):
        if "/" in rel or not rel.endswith(COPY_SUFFIX) or rel.startswith("."):
            continue
        doc = parse_copy_manifest(dest.read(rel))
        if doc is not None and copy_manifest_name(doc["id"]) == rel:
            out[doc["id"]] = doc
    return out


def copy_entry(kind: str, name: str, backup: str, url: str, size: int, verified: bool, copied_at: str | None,
               status: str, msg: str, backup_id: str = "") -> dict:
    return {"kind": kind, "name": name, "backup": backup, "id": backup_id, "destination": url, "size": size,
            "verified": verified, "copied_at": copied_at, "status": status, "msg": msg}
