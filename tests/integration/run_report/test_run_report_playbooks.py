# SPDX-License-Identifier: GPL-3.0-or-later
"""The run report written at the end of real schedule playbook runs (see conftest.demo_run)."""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from rr_helpers import DB, EVIL_SCRIPT, PREFIX

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit"))
from test_run_report import assert_only_the_filter_script, parse_exposition, parse_html  # noqa: E402

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B  # noqa: E402


def test_every_run_writes_json_html_metrics_prints_the_link_and_sets_stats(demo_run):
    for name in ("backup", "daily_check", "weekly", "monthly"):
        link = demo_run.link(name)
        schedule = name.replace("_check", "")
        stamp = re.search(r"-(\d{8}T\d{6}Z)\.json$", link["json"]).group(1)
        assert link["json"] == str(demo_run.report_dir / f"{schedule}-{stamp}.json")
        assert link["html"] == str(demo_run.report_dir / f"{schedule}-{stamp}.html")
        assert link["metrics"] == str(demo_run.metrics_dir / f"runbook_{schedule}.prom")
        data = json.loads(Path(link["json"]).read_text())
        assert (data["format"], data["version"], data["schedule"], data["stamp"]) == (
            "runbook.ops/run-report", 1, schedule, stamp)
        assert [h["host"] for h in data["hosts"]] == ["localhost"]
        assert Path(data["hosts"][0]["source"]).name == f"{schedule}-localhost-{stamp}.json"
        result = demo_run.runs[name][-1]
        assert f"Run report ({data['status']}): file://{link['html']}" in result.stdout
        stats = result.data["global_custom_stats"]["runbook_run_report"]
        assert stats["html"] == link["html"] and stats["schedule"] == schedule and stats["status"] == data["status"]
        assert stats["hosts"] == {"localhost": data["hosts"][0]["status"]}
        parse_exposition(Path(link["metrics"]).read_text())
        assert not [p for p in os.listdir(demo_run.metrics_dir) if not p.endswith(".prom")]


def test_check_mode_run_still_reports(demo_run, pg):
    data = demo_run.run_report("daily_check")
    assert data["check_mode"] is True and data["status"] == "ok"
    names = [(p["name"], p["status"]) for p in data["probes"]]
    assert ("postgres", "ok") in names and ("redis", "ok") in names and (f"app {EVIL_SCRIPT}", "ok") in names
    assert data["vacuum"]["tables"] == []
    metrics = parse_exposition((demo_run.metrics_dir / "runbook_daily.prom").read_text())
    assert metrics[("runbook_run_check_mode", (("schedule", "daily"),))] == 1
    probe = (("host", "localhost"), ("kind", "postgres"), ("probe", "postgres"), ("schedule", "daily"))
    assert metrics[("runbook_probe_status", probe)] == 0
    latency = [p["latency_ms"] for p in data["probes"] if p["name"] == "postgres"][0]
    # the metric is the report's latency in seconds, to the microsecond (40.1 ms prints as 0.0401,
    # not as the binary quotient 0.040100000000000004)
    assert metrics[("runbook_probe_latency_seconds", probe)] == round(latency / 1000.0, 6)


def test_backup_report_matches_the_backups_on_disk(demo_run):
    data = demo_run.run_report("backup")
    made = {b["kind"]: b for b in data["backups"]}
    assert set(made) == {"postgres", "redis"}
    for b in made.values():
        path = Path(b["path"])
        assert b["size"] == path.stat().st_size and b["verified"] == "passed" and not b["would_create"]
        assert b["sha256"] == B.sha256_file(str(path))
        manifest = B.load_manifest(B.manifest_path_for(str(path)))
        assert b["duration_seconds"] == manifest["duration_seconds"]
    # third run with keep_last 2: retention deleted the first backup of each series, and says why
    deleted = {(x["kind"], x["id"]) for x in data["retention"]["backups"]}
    assert {kind for kind, _id in deleted} == {"postgres", "redis"}
    for kind, backup_id in deleted:
        assert not list(demo_run.backup_dir.rglob(backup_id))
    assert all("keep_last=2" in x["reason"] for x in data["retention"]["backups"])
    # the history is what the manifests on disk say
    on_disk = B.read_manifests(str(demo_run.backup_dir), "postgres", DB)
    history = [e for e in data["backup_history"] if e["kind"] == "postgres"]
    assert [(e["id"], e["size"]) for e in history] == [(r.id, r.manifest["size"]) for r in on_disk]
    assert len(history) == 2 and history[0]["database_size"] < history[1]["database_size"]
    metrics = parse_exposition((demo_run.metrics_dir / "runbook_backup.prom").read_text())
    newest = B.latest_verified(on_disk)
    key = (("host", "localhost"), ("kind", "postgres"), ("name", DB), ("schedule", "backup"))
    assert metrics[("runbook_backup_last_success_timestamp_seconds", key)] == newest.finished_at.timestamp()
    assert metrics[("runbook_backup_last_success_size_bytes", key)] == newest.manifest["size"]
    assert metrics[("runbook_backups_on_disk", key)] == 2


def test_keeps_the_last_run_reports(demo_run):
    first, second, third = (demo_run.link("backup", i) for i in range(3))
    assert sorted(third["deleted"]) == sorted([first["json"], first["html"],
                                               first["json"].replace("backup-", "backup-localhost-")])
    left = sorted(p.name for p in demo_run.report_dir.glob("backup-*"))
    assert left == sorted(Path(p).name for p in (second["json"], second["html"], third["json"], third["html"],
                                                 second["json"].replace("backup-", "backup-localhost-"),
                                                 third["json"].replace("backup-", "backup-localhost-")))


def test_weekly_report_shows_vacuum_and_redis_purge(demo_run):
    data = demo_run.run_report("weekly")
    tables = {t["table"]: t for t in data["vacuum"]["tables"] if t["changed"]}
    evil = f'public."{EVIL_SCRIPT}"'
    assert evil in tables, sorted(tables)
    assert tables[evil]["dead_tuples_before"] >= 1500 and tables[evil]["dead_tuples_after"] == 0
    assert tables["public.orders"]["dead_tuples_before"] >= 8000
    purge = [p for p in data["redis"]["purges"] if p["pattern"] == f"{PREFIX}cache:*"]
    assert purge and purge[0]["matched"] == purge[0]["deleted"] == 3000
    assert purge[0]["used_memory_before"] > 0 and purge[0]["used_memory_after"] > 0
    assert data["redis"]["memory"][0]["used_memory"] > 0
    assert any(i["index"] == "orders_note_idx" for i in data["pg_report"]["unused_indexes"])
    slow = data["pg_report"]["slow_queries"]
    assert slow and {q["database"] for q in slow} == {DB} and all(q["calls"] >= 1 for q in slow)
    metrics = parse_exposition((demo_run.metrics_dir / "runbook_weekly.prom").read_text())
    db = [d for d in data["vacuum"]["databases"] if d["database"] == DB][0]
    for when in ("before", "after"):
        key = (("database", DB), ("host", "localhost"), ("schedule", "weekly"), ("when", when))
        assert metrics[("runbook_pg_dead_tuples", key)] == db[f"dead_tuples_{when}"]
    key = (("host", "localhost"), ("pattern", f"{PREFIX}cache:*"), ("schedule", "weekly"))
    assert metrics[("runbook_redis_purged_keys", key)] == 3000


def test_monthly_html_holds_every_section_escaped_and_self_contained(demo_run):
    data = demo_run.run_report("monthly")
    assert data["status"] == "ok" and len(data["probes"]) >= 4
    assert any(t["changed"] and demo_run.evil_img in t["table"] for t in data["vacuum"]["tables"])
    page = Path(demo_run.link("monthly")["html"]).read_text()
    parsed = parse_html(page)
    assert not [t for t, _attrs in parsed.tags if t in ("img", "iframe", "object", "embed", "link")]
    assert_only_the_filter_script(page)
    text = "".join(parsed.text)
    assert EVIL_SCRIPT in text and demo_run.evil_img in text
    for tag, attrs in parsed.tags:
        for name in ("src", "href", "srcset", "action", "data", "xlink:href"):
            if attrs.get(name) is not None:
                assert tag == "a" and name == "href" and attrs[name].startswith("#"), (tag, name, attrs[name])
    assert "url(" not in page and "@import" not in page
    # charts: database sizes from the manifests (+ this run's pg_report), backup sizes, latency, dead tuples
    db_chart = page.split('id="chart-database-sizes"')[1].split("</figure>")[0]
    assert db_chart.count("<circle") == 2 + 1
    assert page.split('id="chart-backup-sizes"')[1].split("</figure>")[0].count("<circle") == 4
    assert page.split('id="chart-probe-latency"')[1].split("</figure>")[0].count('class="bar"') == len(data["probes"])
    assert page.split('id="chart-dead-tuples"')[1].split("</figure>")[0].count('class="bar"') == 2 * sum(
        1 for t in data["vacuum"]["tables"] if t["changed"])
