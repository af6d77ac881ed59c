# SPDX-License-Identifier: GPL-3.0-or-later
"""The Grafana dashboard (roles/monitoring/files/runbook-dashboard.json). Grafana cannot run here, so its
structure is checked: valid JSON, importable shape, unique panel ids, grid positions that do not overlap,
and every metric name of its queries written by the run report or used by the alert rules."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ansible_collections.runbook.ops.plugins.module_utils._run_report_metrics import METRICS

REPO = Path(__file__).resolve().parents[3]
DASHBOARD = REPO / "roles" / "monitoring" / "files" / "runbook-dashboard.json"
RULES = REPO / "roles" / "monitoring" / "templates" / "runbook-ops.rules.yml.j2"
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
                "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """Metric names of a PromQL expression: identifiers that are not functions, keywords, label names or
    dashboard variables."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)          # strings
    text = re.sub(r"\{[^}]*\}", "", text)                    # label matchers
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)                   # ranges
    text = re.sub(r"\$\w+", "", text)                        # dashboard variables
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        rest = text[m.end():].lstrip()
        if rest.startswith("(") or m.group(0).lower() in PROMQL_WORDS:
            continue
        names.add(m.group(0))
    return names


def test_metric_names_parser():
    assert metric_names('time() - max by (host, kind) (last_over_time(runbook_a{x="y z"}[5m])) > $limit * 3600') \
        == {"runbook_a"}
    assert metric_names("sum by (job) (rate(http_requests_total[5m])) / on(job) up") == {"http_requests_total", "up"}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def test_importable_shape(dashboard):
    assert dashboard["title"] and dashboard["uid"] == "runbook-ops"
    assert isinstance(dashboard["schemaVersion"], int)
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    assert {v["name"] for v in dashboard["templating"]["list"]} >= {"schedule", "backup_max_age_hours", "rto_seconds"}


def test_panels_ids_and_grid(dashboard):
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    cells: dict[tuple[int, int], int] = {}
    for p in panels:
        g = p["gridPos"]
        assert all(isinstance(g[k], int) for k in ("x", "y", "w", "h")), p["title"]
        assert g["w"] > 0 and g["h"] > 0 and g["x"] >= 0 and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"panel {p['id']} overlaps panel {cells[(x, y)]}"
                cells[(x, y)] = p["id"]
        if p["type"] != "row":
            assert p["title"] and p["targets"], p["id"]
            refs = [t["refId"] for t in p["targets"]]
            assert len(refs) == len(set(refs)), p["title"]


def test_every_metric_is_emitted(dashboard):
    rule_metrics = set(re.findall(r"\brunbook_[a-z0-9_]+", RULES.read_text())) - {"runbook_url"}
    # every metric the rules use is one the run report writes
    assert rule_metrics <= set(METRICS), sorted(rule_metrics - set(METRICS))
    known = set(METRICS)
    used = set()
    for p in dashboard["panels"]:
        for t in p.get("targets", []):
            names = metric_names(t["expr"])
            # a limit line (vector of a dashboard variable) is the only query without a metric
            assert names or t["expr"].startswith("vector($"), f"no metric in {t['expr']!r}"
            used |= names
    unknown = used - known
    assert not unknown, f"metrics the run report does not write: {sorted(unknown)}"
    # the panels the dashboard promises
    for name in ("runbook_run_status", "runbook_host_outcome", "runbook_backup_last_success_timestamp_seconds",
                 "runbook_backup_offsite_last_verified_timestamp_seconds", "runbook_restore_drill_duration_seconds",
                 "runbook_probe_latency_seconds", "runbook_pg_dead_tuples", "runbook_pg_database_size_bytes"):
        assert name in used, name
