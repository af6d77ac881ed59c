# SPDX-License-Identifier: GPL-3.0-or-later
"""The HTML run report of 1,000 generated hosts (tests/harness/fleet_reports.py, what the callback hands to
build_run), opened in headless Chromium over the DevTools protocol: the failed and unreachable hosts come
first and open, the others collapsed, worst first; typing into the filter hides the other hosts, in the
real browser's DOM and layout. Timings are the bench's (bench/run_report_fleet_bench.py), not asserted here."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from harness.browser import CHROMIUM, DevTools
from harness.fleet_reports import STAMP, fleet

from ansible_collections.runbook.ops.plugins.module_utils._run_report import build_run

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="SKIPPED: Debian's chromium is not installed (run scripts/setup_browser.sh); the browser test did not run")

HOSTS = 1000
RANK = {"critical": 0, "warning": 1, "ok": 2}
# name, outcome, status (the badge's text), open, shown (not hidden by the filter), its tables rendered:
# Element.checkVisibility() is the browser's own answer (false under display:none and in a closed <details>)
ROWS_JS = """Array.from(document.querySelectorAll("details.host")).map(d => [
  d.querySelector("summary b").textContent, d.className.replace("host host-", ""),
  d.querySelector("summary .status").textContent, d.open, d.checkVisibility(),
  Array.from(d.querySelectorAll("table")).some(t => t.checkVisibility())])"""


@pytest.fixture(scope="module")
def fleet_report(tmp_path_factory):
    base = tmp_path_factory.mktemp("fleet_report")
    generated = fleet(HOSTS, base)
    done = build_run(str(base / "reports"), "daily", STAMP, generated.host_reports, generated.run)
    return generated, Path(done["html_path"]), json.loads(Path(done["json_path"]).read_text())


def test_the_generated_fleet_has_every_kind_of_host(fleet_report):
    generated, _html, report = fleet_report
    assert len(report["hosts"]) == HOSTS and len({h["host"] for h in report["hosts"]}) == HOSTS
    outcomes = {h["outcome"] for h in report["hosts"]}
    assert outcomes == {"failed", "unreachable", "changed"}
    assert {h["status"] for h in report["hosts"]} == {"critical", "warning", "ok"}
    assert len(report["probes"]) > 4 * HOSTS and len(report["backups"]) > 1.9 * HOSTS
    assert len(report["offsite"]) > 1.9 * HOSTS and len(report["backup_history"]) > 9 * HOSTS
    assert any(c["status"] == "failed" for c in report["offsite"])
    assert generated.failed and generated.unreachable


def test_the_html_of_1000_hosts_is_under_5_mb_and_holds_every_host(fleet_report):
    _generated, html, report = fleet_report
    assert html.stat().st_size < 5_000_000
    page = html.read_text()
    assert page.count('<details class="host ') == HOSTS
    assert all(f"<b>{h['host']}</b>" in page for h in report["hosts"])


def test_in_chromium_the_failed_hosts_come_first_open_and_the_others_collapsed(fleet_report, tmp_path):
    generated, html, _report = fleet_report
    bad = set(generated.failed) | set(generated.unreachable)
    with DevTools(tmp_path / "chromium") as browser:
        browser.open(html)
        rows = browser.js(ROWS_JS)
    assert len(rows) == HOSTS
    assert {r[0] for r in rows[:len(bad)]} == bad
    assert {r[1] for r in rows[:len(bad)]} == {"failed", "unreachable"}
    ranks = [RANK[r[2]] for r in rows]
    assert ranks == sorted(ranks) and ranks[-1] == RANK["ok"]  # then the warnings, then ok
    assert RANK["warning"] in ranks
    for name, _outcome, _status, is_open, shown, body_shown in rows:
        assert shown
        assert is_open == (name in bad) and body_shown == (name in bad), name


def test_in_chromium_typing_in_the_filter_hides_the_other_hosts(fleet_report, tmp_path):
    generated, html, report = fleet_report
    some = report["hosts"][len(report["hosts"]) // 2]["host"]
    with DevTools(tmp_path / "chromium") as browser:
        browser.open(html)
        # the script ran (the CSP let it): the filter box is shown, and counts every host
        assert browser.js('document.getElementById("host-filter-box").hidden') is False
        assert browser.js('document.getElementById("host-shown").textContent') == f"{HOSTS} of {HOSTS} hosts shown"
        browser.type("#host-filter", some)
        rows = browser.js(ROWS_JS)
        assert [r[0] for r in rows if r[4]] == [some]
        assert browser.js('document.getElementById("host-shown").textContent') == f"1 of {HOSTS} hosts shown"

        browser.js('document.getElementById("host-filter").select()')  # typing replaces the selection
        browser.type("#host-filter", "Unreachable")
        shown = [r[0] for r in browser.js(ROWS_JS) if r[4]]
        assert sorted(shown) == sorted(generated.unreachable)

        browser.js('document.getElementById("host-filter").select()')
        browser.type("#host-filter", "warning fra1")  # every word must match
        shown = {r[0]: r[2] for r in browser.js(ROWS_JS) if r[4]}
        assert shown and set(shown.values()) == {"warning"} and all("-fra1-" in h for h in shown)
        assert len(shown) == sum(1 for h in report["hosts"] if h["status"] == "warning" and "-fra1-" in h["host"])
