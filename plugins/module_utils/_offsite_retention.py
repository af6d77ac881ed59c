# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Remote retention of backup_copy: which copies at a destination to keep, and deleting the others.

It reads the ``.copy.json`` files only (nothing else at the destination is ever touched or deleted); the plan is
decided and applied by :func:`_backup.apply_retention`, as for local retention of every backup kind. ``run`` is the
:class:`_offsite_copy.CopyRun` whose copies, listing and result it works on.
"""

from __future__ import annotations

import json

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
from ansible_collections.runbook.ops.plugins.module_utils._dest_base import Destination
from ansible_collections.runbook.ops.plugins.module_utils._offsite_manifest import copy_manifest_name, remote_record


def recheck_gone(run) -> None:
    """Copies whose backup is gone locally are re-checked too: one that no longer matches stops counting
    (its copy manifest is rewritten as failed), so retention never keeps it in place of a good one."""
    for backup_id, doc in sorted(run.copies.items()):
        if backup_id in run.checked or doc.get("verified") != B.VERIFY_PASSED:
            continue
        if run.p.get("kind") and doc.get("kind") != run.p["kind"]:
            continue
        if run.p.get("names") and doc.get("name") not in run.p["names"]:
            continue
        problems = run.check_copy(doc)
        if not problems:
            continue
        bad = dict(doc, verified=B.VERIFY_FAILED, verification=dict(
            doc.get("verification") or {}, error="; ".join(problems), at=B.format_time(B.utcnow())))
        if not run.check:
            data = (json.dumps(bad, indent=2, sort_keys=True) + "\n").encode()
            run.dest.write_bytes(copy_manifest_name(backup_id), data)
            run.listing[copy_manifest_name(backup_id)] = len(data)
        run.result["changed"] = True
        run.copies[backup_id] = bad
        run.result.setdefault("warnings", []).append(
            f"the copy {backup_id} at {run.url} no longer matches ({'; '.join(problems)}) and its backup is gone "
            "from this host: it no longer counts (its copy manifest says verified: failed)")


def remote_retention(run) -> None:
    """Remote retention of one backup_copy ``run`` (a CopyRun): per series, decide with
    ``_backup.apply_retention`` over the copy manifests at the destination, delete what the plan drops (never a
    copy this run made: ``spare``) and record ``series``, ``retention`` and ``deleted`` in ``run.result``."""
    p = run.p
    if p.get("verify_existing") != "none":
        recheck_gone(run)
    series: dict[tuple[str, str], list[B.BackupRecord]] = {}
    for doc in run.copies.values():
        rec = remote_record(doc, run.listing, run.url)
        if p.get("kind") and rec.kind != p["kind"]:
            continue
        if p.get("names") and rec.name not in p["names"]:
            continue
        series.setdefault((rec.kind, rec.name), []).append(rec)
    if run.check:  # what this run would have copied counts as it would after a real run
        for c in run.result["copies"]:
            if c["status"] == "copied" and c["id"] not in run.copies:
                local = next((r for r in run.local_backups() if r.id == c["id"]), None)
                if local is not None:
                    series.setdefault((c["kind"], c["name"]), []).append(B.BackupRecord(
                        id=c["id"], name=c["name"], kind=c["kind"], finished_at=local.finished_at, verified=True,
                        complete=True, path=f"{run.url}/{c['id']}",
                        manifest_path=copy_manifest_name(c["id"])))
    now = B.utcnow()
    made_now = {c["id"] for c in run.result["copies"] if c["status"] == "copied"}

    def spare(d: B.RetentionDecision) -> str | None:
        # the artefact a run just made is never removed by that run
        if d.record.id in made_now:
            return f"copied by this run (never deleted by the run that made it; retention would: {d.reason})"
        return None

    for (kind, name), records in sorted(series.items()):
        latest = B.latest_verified(records)
        run.result["series"].append({
            "kind": kind, "name": name, "destination": run.url, "copies": sum(1 for r in records if r.countable),
            "last_verified_backup_finished_at": B.format_time(latest.finished_at) if latest else None,
            "last_verified_copied_at": (latest.manifest.get("copied_at") if latest and latest.manifest else None),
        })
        if p.get("keep_last") is None and p.get("max_age_days") is None:
            continue
        key = name if not any(k != kind and n == name for k, n in series) else f"{kind}:{name}"
        report: dict = {}
        try:
            B.apply_retention(records, p.get("keep_last"), p.get("max_age_days"), now=now, check_mode=run.check,
                              delete=lambda rec: delete_copy(run.dest, rec), spare=spare, report=report,
                              deleted=run.result["deleted"])
        finally:  # a deletion that failed part-way still changed the destination
            if report.get("delete"):
                run.result["changed"] = True
        run.result["retention"][key] = {"keep": report["keep"], "delete": report["delete"]}


def delete_copy(dest: Destination, rec: B.BackupRecord) -> None:
    """Remove one copy that retention dropped."""
    doc = rec.manifest
    tops = sorted({f["path"].split("/", 1)[0] for f in doc.get("files", [])} - {copy_manifest_name(rec.id)})
    # data and the backup's manifest first, the copy manifest (what made it count) last
    dest.delete(tops)
    dest.delete([copy_manifest_name(rec.id)])
