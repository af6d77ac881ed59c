# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One run report of a sliced job: the run reports of its slices, merged, every host once.

An AWX job template with ``job_slice_count`` N runs as N jobs, each on a slice of the inventory,
each writing its own run report. With a shared store (``runbook_report_store``, a directory every
execution node mounts), each slice also puts its run report in ``<store>/<name>/<job>/``
(``slice-<slice>.json``). When the last of the N slices arrives, or when the playbook
``merge_slices.yml`` runs at the end of the workflow, :func:`merge_slices` makes one report of them:

- the hosts of every slice report, each once (a host two slices reported: the newer report wins, and
  the report says so);
- the hosts that were expected (the whole inventory the merge is given) and are in no slice report,
  as ``not_reached`` with the reason;
- ``slices``: how many were expected, which reported (job, status, interrupted, hosts), how many never
  did, and the hosts missing. A slice that never reported or an interrupted one makes the merged run
  ``critical``: a fleet report never says ok for a part of the fleet nobody saw.

The per-host results go through :func:`_run_report_merge.merge` again, so the merged report has the
same format, HTML and metrics as the report of one run.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import typing as t

from ansible_collections.runbook.ops.plugins.module_utils._run_report_common import (
    RunReportError, _dict, _list, worst,
)
from ansible_collections.runbook.ops.plugins.module_utils._run_report_files import write_atomic
from ansible_collections.runbook.ops.plugins.module_utils._run_report_merge import merge

SLICE_FILE = re.compile(r"^slice-([A-Za-z0-9_.-]+)\.json$")
_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")


def check_key(what: str, value: t.Any) -> str:
    """A job or slice key goes into a path: a simple name only."""
    text = str(value if value is not None else "").strip()
    if not _KEY.match(text) or text in (".", ".."):
        raise RunReportError(f"{what}: {value!r} must be a simple name (letters, digits, '.', '_', '-')")
    return text


def job_dir(store: str, name: str, job: str) -> str:
    """``<store>/<name>/<job>``: the slice reports of one sliced job."""
    return os.path.join(store, check_key("name", name), check_key("job", job))


def slice_files(directory: str) -> list[str]:
    """The names of the slice reports in ``directory``, sorted (none when it does not exist)."""
    try:
        return sorted(n for n in os.listdir(directory) if SLICE_FILE.match(n))
    except (FileNotFoundError, NotADirectoryError):
        return []


def latest_job(store: str, name: str) -> str:
    """The job of ``name`` in the store whose newest slice report is the newest (the job that just ran)."""
    base = os.path.join(store, check_key("name", name))
    newest: tuple[float, str] | None = None
    try:
        jobs = os.listdir(base)
    except FileNotFoundError:
        jobs = []
    for job in jobs:
        directory = os.path.join(base, job)
        try:
            times = [os.stat(os.path.join(directory, n)).st_mtime for n in slice_files(directory)]
        except FileNotFoundError:
            continue  # removed while we looked
        if times and (newest is None or max(times) > newest[0]):
            newest = (max(times), job)
    if newest is None:
        raise RunReportError(f"store: no slice report of {name!r} in {base}")
    return newest[1]


def write_slice(store: str, name: str, job: str, slice_key: str, report: dict, slice_count: int) -> str:
    """Put one slice's run report in the store (atomically); returns its path."""
    directory = job_dir(store, name, job)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"slice-{check_key('slice', slice_key)}.json")
    doc = dict(report, slice={"job": job, "slice": slice_key, "count": slice_count})
    write_atomic(path, json.dumps(doc, sort_keys=True, default=str) + "\n", 0o640)
    return path


def read_slices(directory: str) -> list[dict]:
    """The slice reports in ``directory`` (none when it does not exist); an unreadable one is an error."""
    out = []
    for n in slice_files(directory):
        path = os.path.join(directory, n)
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
        except (OSError, ValueError) as exc:
            raise RunReportError(f"cannot read the slice report {path}: {exc}") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("hosts"), list):
            raise RunReportError(f"{path} is not a run report (no hosts list)")
        doc.setdefault("slice", {})
        doc["slice"].setdefault("slice", SLICE_FILE.match(n).group(1))
        out.append(doc)
    return out


def _finished(rep: dict) -> str:
    return str(_dict(rep.get("run")).get("finished_at") or rep.get("generated_at") or "")


def merge_slices(slices: t.Sequence[dict], expected_hosts: t.Iterable[str], slice_count: int, name: str,
                 stamp: str, now: _dt.datetime | None = None, thresholds: dict | None = None) -> dict:
    """The run report of the whole sliced job (see the module docstring)."""
    if slice_count < 1:
        raise RunReportError(f"slice_count: must be 1 or more, got {slice_count}")
    ordered = sorted(slices, key=_finished)
    owner: dict[str, tuple[dict, dict]] = {}
    twice: dict[str, list[str]] = {}
    for rep in ordered:
        key = str(_dict(rep.get("slice")).get("slice"))
        for h in _list(rep.get("hosts")):
            host = str(_dict(h).get("host"))
            if host in owner:
                twice.setdefault(host, [str(_dict(owner[host][0].get("slice")).get("slice"))]).append(key)
            owner[host] = (rep, h)  # the newer slice report wins
    expected = list(dict.fromkeys(str(h) for h in expected_hosts))
    missing = sorted(h for h in expected if h not in owner)
    reported = len(ordered)
    never = max(slice_count - reported, 0)
    host_reports, outcomes = [], {}
    for host, (rep, h) in owner.items():
        host_reports.append({"host": host, "check_mode": bool(h.get("check_mode")), "results": _dict(h.get("results")),
                             "stamp": h.get("stamp"), "source": h.get("source"),
                             "backup_history": [e for e in _list(rep.get("backup_history"))
                                                if _dict(e).get("host") == host]})
        outcomes[host] = {"outcome": h.get("outcome") or "ok", "failures": _list(h.get("failures")),
                          "reason": h.get("reason") or ""}
    why = (f"not reached: in no slice report of this job ({reported} of {slice_count} slices reported"
           + (f", {never} never did)" if never else ")"))
    for host in missing:
        outcomes[host] = {"outcome": "not_reached", "failures": [], "reason": why}
    runs = [_dict(r.get("run")) for r in ordered]
    started = sorted(str(r.get("started_at")) for r in runs if r.get("started_at"))
    finished = sorted(str(r.get("finished_at")) for r in runs if r.get("finished_at"))
    run = {"playbook": next((r.get("playbook") for r in runs if r.get("playbook")), None),
           "started_at": started[0] if started else None, "finished_at": finished[-1] if finished else None,
           "duration_seconds": None, "interrupted": any(bool(r.get("interrupted")) for r in runs),
           "stopped": next((r.get("stopped") for r in runs if r.get("stopped")), None),
           "check_mode": any(bool(r.get("check_mode")) for r in ordered),
           "partial": next((r.get("partial") for r in ordered if r.get("partial")), None), "hosts": outcomes}
    report = merge(host_reports, name, stamp, now, run, thresholds)
    rows = [{"slice": str(_dict(r.get("slice")).get("slice")), "job": _dict(r.get("slice")).get("job"),
             "status": r.get("status"), "interrupted": bool(_dict(r.get("run")).get("interrupted")),
             "hosts": len(_list(r.get("hosts"))), "stamp": r.get("stamp"), "finished_at": _finished(r) or None}
            for r in ordered]
    failed = [row["slice"] for row in rows if row["interrupted"] or row["status"] == "critical"]
    report["slices"] = {"count": slice_count, "reported": rows, "failed": failed, "never_reported": never,
                        "hosts_missing": missing, "hosts_in_two_slices": sorted(twice)}
    problems = []  # (severity, message)
    if never:
        problems.append(("critical", f"{never} of {slice_count} slices never reported"
                         + (f"; hosts in no slice report: {', '.join(missing[:20])}" if missing else "")))
    elif missing:
        problems.append(("critical", f"hosts in no slice report: {', '.join(missing[:20])}"))
    for row in rows:
        if row["interrupted"]:
            problems.append(("critical", f"slice {row['slice']} (job {row['job']}) was interrupted"))
    if twice:
        problems.append(("warning", "hosts reported by two slices (the newer report kept): "
                         + ", ".join(sorted(twice)[:20])))
    for severity, message in reversed(problems):
        report["problems"].insert(0, {"host": "", "where": "slices", "severity": severity, "message": message})
    report["status"] = worst(report["status"], *(severity for severity, _m in problems))
    return report


def first_stamp(slices: t.Sequence[dict], default: str) -> str:
    """The merged report's stamp: the earliest slice's, so that merging again rewrites the same files."""
    stamps = sorted(str(r.get("stamp")) for r in slices if r.get("stamp"))
    return stamps[0] if stamps else default
