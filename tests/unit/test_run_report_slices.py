# SPDX-License-Identifier: GPL-3.0-or-later
"""Merging the run reports of a sliced job's slices: every host once, whatever the slices did."""
from __future__ import annotations

import json
import os

import pytest
from ansible_collections.runbook.ops.plugins.module_utils import _run_report as R
from ansible_collections.runbook.ops.plugins.module_utils import _run_report_slices as S
from ansible_collections.runbook.ops.plugins.module_utils._run_report_common import RunReportError
from ansible_collections.runbook.ops.plugins.module_utils._run_report_merge import merge


def _slice(hosts: dict[str, str], stamp: str, finished: str, interrupted: bool = False) -> dict:
    """A slice's run report as the callback writes it: ``hosts`` maps host -> outcome."""
    run = {"playbook": "daily.yml", "started_at": finished, "finished_at": finished, "interrupted": interrupted,
           "hosts": {h: {"outcome": o, "failures": [{"task": "t", "message": "boom"}] if o == "failed" else [],
                         "reason": ""} for h, o in hosts.items()}}
    reports = [{"host": h, "results": {}, "stamp": stamp, "check_mode": False} for h in hosts]
    return merge(reports, "daily", stamp, None, run)


def test_every_host_once_the_newer_slice_wins_and_the_double_is_named():
    a = dict(_slice({"a1": "ok", "both": "failed"}, "20261203T010000Z", "2026-12-03T01:05:00Z"), slice={"slice": "1"})
    b = dict(_slice({"b1": "ok", "both": "ok"}, "20261203T010001Z", "2026-12-03T01:06:00Z"), slice={"slice": "2"})
    report = S.merge_slices([b, a], ["a1", "b1", "both"], 2, "daily", "20261203T010000Z")
    assert sorted(h["host"] for h in report["hosts"]) == ["a1", "b1", "both"]
    assert {h["host"]: h["outcome"] for h in report["hosts"]}["both"] == "ok"  # slice 2 finished later
    assert report["slices"]["hosts_in_two_slices"] == ["both"]
    assert report["status"] == "warning"
    assert report["problems"][0]["where"] == "slices" and "both" in report["problems"][0]["message"]


def test_a_failed_host_in_one_slice_makes_the_job_critical_and_keeps_its_message():
    a = dict(_slice({"a1": "failed"}, "20261203T010000Z", "2026-12-03T01:05:00Z"), slice={"slice": "1"})
    b = dict(_slice({"b1": "ok"}, "20261203T010000Z", "2026-12-03T01:05:00Z"), slice={"slice": "2"})
    report = S.merge_slices([a, b], [], 2, "daily", "20261203T010000Z")
    assert report["status"] == "critical"
    assert report["slices"]["failed"] == ["1"] and report["slices"]["never_reported"] == 0
    assert any(p["host"] == "a1" and "boom" in p["message"] for p in report["problems"])


def test_missing_slice_and_hosts_are_critical_even_when_every_reported_host_is_ok():
    a = dict(_slice({"a1": "ok"}, "20261203T010000Z", "2026-12-03T01:05:00Z"), slice={"slice": "1"})
    report = S.merge_slices([a], ["a1", "b1", "c1"], 3, "daily", "20261203T010000Z")
    assert report["status"] == "critical"
    assert report["slices"]["never_reported"] == 2 and report["slices"]["hosts_missing"] == ["b1", "c1"]
    outcomes = {h["host"]: (h["outcome"], h["reason"]) for h in report["hosts"]}
    assert outcomes["b1"][0] == "not_reached" and "1 of 3 slices reported, 2 never did" in outcomes["b1"][1]
    assert R.summary(report)["not_reached"] == ["b1", "c1"]


def test_no_slice_at_all_is_critical_not_an_empty_ok():
    report = S.merge_slices([], ["a1"], 2, "daily", "20261203T010000Z")
    assert report["status"] == "critical" and [h["outcome"] for h in report["hosts"]] == ["not_reached"]


@pytest.mark.parametrize("bad", ["../x", "a/b", "", ".", "a b"])
def test_keys_that_would_leave_the_store_are_refused(tmp_path, bad):
    with pytest.raises(RunReportError, match="job: .* must be a simple name"):
        S.write_slice(str(tmp_path), "daily", bad, "1", {"hosts": []}, 2)


def test_slice_count_below_one_is_refused():
    with pytest.raises(RunReportError, match="slice_count: must be 1 or more, got 0"):
        S.merge_slices([], [], 0, "daily", "20261203T010000Z")


def test_build_slices_writes_once_per_job_and_latest_job_is_the_newest(tmp_path):
    store = str(tmp_path)
    old = dict(_slice({"o1": "ok"}, "20261202T010000Z", "2026-12-02T01:05:00Z"))
    new = dict(_slice({"n1": "ok"}, "20261203T010000Z", "2026-12-03T01:05:00Z"))
    p_old = S.write_slice(store, "daily", "100", "1", old, 1)
    p_new = S.write_slice(store, "daily", "200", "1", new, 1)
    os.utime(p_old, (1_000_000, 1_000_000))
    assert S.latest_job(store, "daily") == "200" and p_new
    first = R.build_slices(store, "daily", "", 1, ["n1"])
    again = R.build_slices(store, "daily", "200", 1, ["n1"])
    assert first["json_path"] == again["json_path"]  # the earliest slice's stamp: merging again rewrites
    assert json.loads(open(first["json_path"], encoding="utf-8").read())["status"] == "ok"
    with pytest.raises(RunReportError, match="no slice report of 'weekly'"):
        S.latest_job(store, "weekly")


def test_an_unreadable_slice_report_is_an_error_that_names_it(tmp_path):
    directory = tmp_path / "daily" / "7"
    directory.mkdir(parents=True)
    (directory / "slice-1.json").write_text("{not json")
    with pytest.raises(RunReportError, match="cannot read the slice report .*slice-1.json"):
        S.read_slices(str(directory))
