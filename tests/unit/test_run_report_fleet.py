# SPDX-License-Identifier: GPL-3.0-or-later
"""The run report of a generated fleet (tests/harness/fleet_reports.py): each host in its own section, the
tables across hosts and the charts capped, the worst first. The browser's view is
tests/integration/run_report/test_run_report_fleet_browser.py."""
from __future__ import annotations

import re

import pytest
from harness.fleet_reports import STAMP, fleet

from ansible_collections.runbook.ops.plugins.module_utils import _run_report_charts as RC
from ansible_collections.runbook.ops.plugins.module_utils import _run_report_html as H
from ansible_collections.runbook.ops.plugins.module_utils import _run_report_merge as M

HOSTS = 300


@pytest.fixture(scope="module")
def fleet_page(tmp_path_factory):
    generated = fleet(HOSTS, tmp_path_factory.mktemp("fleet"))
    report = M.merge(generated.host_reports, "daily", STAMP, None, generated.run)
    return generated, report, H.render_html(report)


def section(page: str, name: str) -> str:
    return page.split(f'<section id="{name}">')[1].split("</section>")[0]


def test_each_host_has_a_section_open_only_when_it_failed_worst_first(fleet_page):
    generated, report, page = fleet_page
    heads = re.findall(r'<details class="host host-([a-z_]+)" data-filter="([^"]*)"( open)?>', page)
    assert len(heads) == HOSTS
    bad = set(generated.failed) | set(generated.unreachable)
    assert [h[0] for h in heads[:len(bad)]] == ["failed"] * len(generated.failed) + ["unreachable"] * len(generated.unreachable)
    assert all((outcome in ("failed", "unreachable")) == bool(is_open) for outcome, _key, is_open in heads)
    statuses = [h["status"] for h in report["hosts"]]
    rank = {"critical": 0, "warning": 1, "ok": 2}
    assert [rank[s] for s in statuses] == sorted(rank[s] for s in statuses)
    first = report["hosts"][0]
    assert heads[0][1] == f"{first['host']} critical {first['outcome']}"
    # a host's section holds its own probes, backups and copies
    mine = page.split(f"<b>{report['hosts'][-1]['host']}</b>")[1].split("</details>")[0]
    assert mine.count("<tr>") == 5 + 2 + 2 + 3  # 5 probes, 2 backups, 2 copies, 3 header rows


def test_tables_across_hosts_show_the_first_rows_worst_first(fleet_page):
    _generated, report, page = fleet_page
    probes = section(page, "probes")
    assert probes.count("<tr>") == H.ROWS + 1
    assert f"The first {H.ROWS} of {len(report['probes']):,} rows" in probes
    critical = sum(1 for p in report["probes"] if p["status"] == "critical")
    badges = re.findall(r'status status-(\w+)', probes)
    assert badges[:critical] == ["critical"] * critical and "ok" not in badges[:critical]
    backups = section(page, "backups")
    assert f"The first {H.ROWS} of {len(report['backups']):,} rows" in backups
    failed_copy = next(c for c in report["offsite"] if c["status"] == "failed")
    assert backups.split("Off-site copies")[1].index(failed_copy["host"]) < 2000  # failed copies first
    assert "The first" not in section(page, "data-loss")


def test_charts_draw_the_largest_series_only(fleet_page):
    _generated, report, page = fleet_page
    chart = page.split('id="chart-backup-sizes"')[1].split("</figure>")[0]
    series = {f"{e['host']} {e['kind']} {e['name']}" for e in report["backup_history"]}
    assert chart.count("<polyline") == RC.MAX_SERIES
    assert f"Backup sizes over time: the {RC.MAX_SERIES} largest of {len(series):,}" in chart
    probes = page.split('id="chart-probe-latency"')[1].split("</figure>")[0]
    assert probes.count('class="bar"') == RC.MAX_BARS and "slowest" in probes
    slowest = max(p["latency_ms"] for p in report["probes"])
    assert f"{slowest:,.1f} ms" in probes


def test_a_small_report_is_not_capped():
    rep = M.merge([{"host": "db1", "schedule": "daily", "stamp": STAMP, "check_mode": False, "results": {}}],
                  "daily", STAMP)
    page = H.render_html(rep)
    assert "The first" not in page and page.count('<details class="host ') == 1


def test_a_host_the_data_loss_check_warns_about_sorts_with_the_warnings(tmp_path):
    generated = fleet(60, tmp_path)
    ok = [r for r in generated.host_reports
          if generated.run["hosts"][r["host"]]["outcome"] == "changed"
          and all(p["status"] == "ok" for p in r["results"]["health"]["probes"]["results"])
          and all(c["status"] == "copied" for b in r["results"]["backup_copy"] for c in b["copies"])]
    victim = max(ok, key=lambda r: r["host"])  # sorted by name, it would come last among the ok hosts
    newest = [e for e in victim["backup_history"] if e["kind"] == "postgres"][-1]
    newest["row_counts"] = {k: 1 for k in newest["row_counts"]}
    report = M.merge(generated.host_reports, "daily", STAMP, None, generated.run)
    order = [h["host"] for h in report["hosts"]]
    status = {h["host"]: h["status"] for h in report["hosts"]}
    assert status[victim["host"]] == "warning" and any(w["host"] == victim["host"] for w in report["data_loss"])
    first_ok = next(n for n, h in enumerate(report["hosts"]) if h["status"] == "ok")
    assert order.index(victim["host"]) < first_ok
