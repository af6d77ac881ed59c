# SPDX-License-Identifier: GPL-3.0-or-later
"""Run report logic: merging per-host reports, escaping, metrics format, retention, atomic files."""
from __future__ import annotations

import datetime as dt
import html.parser
import json
import os
import re

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
from ansible_collections.runbook.ops.plugins.module_utils import _run_report as R

EVIL = '<script>alert("x")</script>'
EVIL_IMG = "<img src=http://203.0.113.7/x onerror=alert(1)>"


def host_report(host="db1", stamp="20261124T020000Z", check_mode=False, **results):
    return {"schedule": "weekly", "host": host, "stamp": stamp, "check_mode": check_mode, "results": results,
            "source": f"/r/weekly-{host}-{stamp}.json"}


def health(*probes):
    return {"probes": {"results": [dict(p) for p in probes], "summary": {}}, "restarted": [], "after": None}


def probe(name, status="ok", latency=12.5, kind="tcp"):
    return {"name": name, "kind": kind, "status": status, "message": f"{name} is {status}", "value": latency,
            "unit": "ms", "latency_ms": latency, "attempts": 1}


def vacuum(*tables):
    return {"changed": True, "databases": [{
        "database": "shop",
        "totals": {"tables": len(tables), "vacuumed": sum(1 for t in tables if t["changed"]),
                   "dead_tuples_before": sum(t["dead_tuples_before"] for t in tables),
                   "dead_tuples_after": sum(t["dead_tuples_after"] for t in tables)},
        "tables": list(tables)}]}


def table(name, before, after, changed=True, skip_reason=None):
    return {"database": "shop", "schema": "public", "table": name, "name": f"public.{name}",
            "action": "vacuum_analyze" if changed else "skipped", "planned_action": "vacuum_analyze",
            "changed": changed, "dead_tuples_before": before, "dead_tuples_after": after, "duration": 0.1,
            "reason": f"dead tuples {before}", "skip_reason": skip_reason}


def history(name="shop", kind="postgres", when="2026-11-23T02:00:00.000000Z", size=1000, verified="passed",
            complete=True, database_size=5000):
    return {"kind": kind, "name": name, "id": f"{name}-{when}", "directory": "/b", "finished_at": when, "size": size,
            "duration_seconds": 1.5, "verified": verified, "complete": complete, "database_size": database_size,
            "total_keys": None}


class _Collector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse_html(text):
    c = _Collector()
    c.feed(text)
    return c


# ---------------------------------------------------------------------------
# merge
# ---------------------------------------------------------------------------
def test_worst_status():
    assert R.worst() == "ok"
    assert R.worst("ok", "warning", None) == "warning"
    assert R.worst("warning", "critical", "ok") == "critical"


def test_merge_collects_probes_vacuum_and_status_per_host():
    reports = [
        host_report("web1", health=health(probe("api"), probe("disk /", "warning", 0.2, "disk"))),
        host_report("db1", health=health(probe("postgres", kind="postgres")),
                    pg_maintenance={"vacuum": vacuum(table("orders", 8000, 0),
                                                     table("users", 10, 10, changed=False, skip_reason="below_threshold")),
                                    "report": None, "activity": None, "retention": []}),
    ]
    rep = R.merge(reports, "weekly", "20261124T020000Z")
    assert rep["format"] == R.RUN_REPORT_FORMAT and rep["version"] == R.RUN_REPORT_VERSION
    assert [h["host"] for h in rep["hosts"]] == ["web1", "db1"]  # the worst first
    assert {h["host"]: h["status"] for h in rep["hosts"]} == {"db1": "ok", "web1": "warning"}
    assert rep["status"] == "warning"
    assert [(p["host"], p["name"], p["status"]) for p in rep["probes"]] == [
        ("db1", "postgres", "ok"), ("web1", "api", "ok"), ("web1", "disk /", "warning")]
    assert rep["problems"] == [{"host": "web1", "where": "probe disk /", "severity": "warning",
                                "message": "disk / is warning"}]
    orders = [t for t in rep["vacuum"]["tables"] if t["table"] == "public.orders"][0]
    assert (orders["dead_tuples_before"], orders["dead_tuples_after"], orders["changed"]) == (8000, 0, True)
    s = R.summary(rep)
    assert s["tables_vacuumed"] == 1 and s["dead_tuples_before"] == 8000 and s["hosts"] == {"db1": "ok", "web1": "warning"}


def test_merge_marks_failed_steps_and_failed_verification_critical():
    backup = {"backups": [{"name": "shop", "path": "/b/shop.dump", "size": 10, "sha256": "ab" * 32, "duration_seconds": 1,
                           "verified": "failed", "verification": {"method": "list", "error": "pg_restore --list failed"}}],
              "would_create": [], "retention": {"shop": {"keep": [], "delete": [
                  {"id": "shop-old.dump", "finished_at": "2026-11-01T00:00:00Z", "verified": True,
                   "reason": "beyond keep_last=7"}]}}, "deleted": ["/b/shop-old.dump"]}
    reports = [host_report("db1", pg_backup={"backup": backup, "restore": None, "drill": None}),
               host_report("cache1", redis={"maintenance": {"failed": True, "msg": "cannot connect to Redis"},
                                            "purges": [], "backup": None})]
    rep = R.merge(reports, "backup", "20261124T020000Z")
    assert {h["host"]: h["status"] for h in rep["hosts"]} == {"cache1": "critical", "db1": "critical"}
    messages = {(p["host"], p["where"]): p["message"] for p in rep["problems"]}
    assert messages[("db1", "backup shop")] == "verification failed: pg_restore --list failed"
    assert messages[("cache1", "redis maintenance")] == "cannot connect to Redis"
    assert rep["retention"]["backups"][0]["id"] == "shop-old.dump"
    assert rep["backups"][0]["sha256"] == "ab" * 32


def test_merge_redis_purges_per_pattern_and_check_mode():
    purge = {"item": {"patterns": ["cache:*", "tmp:*"]}, "patterns": [
        {"pattern": "cache:*", "matched": 5, "deleted": 0}, {"pattern": "tmp:*", "matched": 2, "deleted": 0}],
        "matched": 7, "deleted": 0, "used_memory_before": 2000, "used_memory_after": 2000}
    rep = R.merge([host_report("cache1", check_mode=True, redis={"maintenance": None, "purges": [purge], "backup": None})],
                  "weekly", "20261124T020000Z")
    assert rep["check_mode"] is True
    assert [(p["pattern"], p["matched"]) for p in rep["redis"]["purges"]] == [("cache:*", 5), ("tmp:*", 2)]
    samples = R.metric_samples(rep)["runbook_redis_purged_keys"]
    assert sorted((s[0]["pattern"], s[1]) for s in samples) == [("cache:*", 5.0), ("tmp:*", 2.0)]


def test_merge_rejects_a_bad_stamp():
    with pytest.raises(R.RunReportError, match="stamp"):
        R.merge([], "daily", "yesterday")


def test_load_host_report_names_the_file_and_the_problem(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{not json")
    with pytest.raises(R.RunReportError, match=r"x\.json is not valid JSON"):
        R.load_host_report(str(bad))
    bad.write_text(json.dumps({"host": "a"}))
    with pytest.raises(R.RunReportError, match="not a per-host report"):
        R.load_host_report(str(bad))
    with pytest.raises(R.RunReportError, match="cannot read"):
        R.load_host_report(str(tmp_path / "missing.json"))


# ---------------------------------------------------------------------------
# HTML and escaping
# ---------------------------------------------------------------------------
def evil_report():
    return R.merge([host_report(
        EVIL_IMG,
        health=health(probe(EVIL, "critical", 3.0)),
        pg_maintenance={"vacuum": vacuum(table(EVIL, 500, 0)), "activity": None, "retention": [],
                        "report": {"tables": [{"database": "shop", "schema": "public", "table": EVIL, "total_bytes": 9}],
                                   "unused_indexes": [{"database": "shop", "schema": "public", "table": EVIL,
                                                       "index": EVIL_IMG, "size_bytes": 1, "scans": 0}],
                                   "slow_queries": [{"database": "shop", "query": "SELECT '</code><script>x</script>'",
                                                     "mean_ms": 2.0, "calls": 1}],
                                   "databases": [{"database": EVIL, "size_bytes": 100}]}},
        redis={"maintenance": None, "backup": None,
               "purges": [{"item": {"patterns": [EVIL]}, "patterns": [{"pattern": EVIL, "matched": 1, "deleted": 1}],
                           "used_memory_before": 2, "used_memory_after": 1}]},
    )], "weekly", "20261124T020000Z")


def test_html_escapes_every_host_value():
    rep = evil_report()
    rep["backup_history"] = [dict(history(EVIL), host=EVIL_IMG)]
    page = R.render_html(rep, "weekly-20261124T020000Z.json")
    parsed = parse_html(page)
    tags = [t for t, _attrs in parsed.tags]
    assert "script" not in tags and "img" not in tags
    assert "<script" not in page.lower() and "<img" not in page.lower()
    text = "".join(parsed.text)
    assert EVIL in text and EVIL_IMG in text  # shown as text, not markup
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page  # Jinja2's autoescape


def test_html_has_every_section_and_fetches_nothing():
    page = R.render_html(evil_report())
    parsed = parse_html(page)
    ids = {a.get("id") for _tag, a in parsed.tags}
    for section in ("summary", "hosts", "problems", "probes", "vacuum", "pg-report", "backups", "retention", "redis",
                    "charts", "chart-database-sizes", "chart-backup-sizes", "chart-probe-latency", "chart-dead-tuples"):
        assert section in ids, section
    csp = [a for t, a in parsed.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]["content"]
    for tag, attrs in parsed.tags:
        for name in ("src", "href", "xlink:href", "srcset", "action", "data", "poster"):
            value = attrs.get(name)
            if value is not None:
                assert tag == "a" and name == "href" and value.startswith("#"), (tag, name, value)
    assert not re.search(r"url\(|@import", page)
    # status is shown with colour and text
    assert '<span class="status status-critical">critical</span>' in page


def test_charts_plot_history_and_current_sizes():
    rep = R.merge([host_report("db1", pg_maintenance={"report": {"databases": [{"database": "shop", "size_bytes": 9000}]},
                                                      "vacuum": None, "activity": None, "retention": []})],
                  "monthly", "20261124T020000Z")
    rep["backup_history"] = [dict(history(when="2026-11-22T02:00:00.000000Z", size=1000, database_size=5000), host="db1"),
                             dict(history(when="2026-11-23T02:00:00.000000Z", size=1500, database_size=7000), host="db1")]
    svg = R.render_html(rep)
    db_chart = svg.split('id="chart-database-sizes"')[1].split("</figure>")[0]
    # two manifest points plus the size pg_report measured in this run
    assert db_chart.count("<circle") == 3
    backup_chart = svg.split('id="chart-backup-sizes"')[1].split("</figure>")[0]
    assert backup_chart.count("<circle") == 2 and "db1 postgres shop" in backup_chart
    assert "no data" in svg.split('id="chart-probe-latency"')[1].split("</figure>")[0]


# ---------------------------------------------------------------------------
# Prometheus text format
# ---------------------------------------------------------------------------
SAMPLE_RE = re.compile(
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)'
    r'(?:\{(?P<labels>(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*)?\})?'
    r' (?P<value>[-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf|NaN))(?: -?[0-9]+)?$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


def parse_exposition(text: str) -> dict:
    """A strict parser of the Prometheus text format (0.0.4): {(name, labels): value}; fails on any deviation."""
    assert text.endswith("\n")
    families: dict[str, str] = {}
    done: set[str] = set()
    current = None
    out = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            assert name not in done, f"family {name} appears twice"
            current = name
            continue
        if line.startswith("# TYPE "):
            name, kind = line.split(" ")[2:]
            assert name == current and kind in ("gauge", "counter", "untyped"), line
            families[name] = kind
            continue
        assert not line.startswith("#") and line.strip(), f"unexpected line {line!r}"
        m = SAMPLE_RE.match(line)
        assert m, f"not a sample line: {line!r}"
        assert m["name"] == current, f"sample {m['name']} outside its family block"
        labels = tuple(sorted((k, v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\"))
                              for k, v in LABEL_RE.findall(m["labels"] or "")))
        key = (m["name"], labels)
        assert key not in out, f"duplicate series {key}"
        out[key] = float(m["value"])
        done.add(current)
    return out


def test_metrics_are_valid_exposition_format_with_escaped_labels():
    rep = evil_report()
    rep["hosts"][0]["host"] = 'a"b\\c\nd'
    rep["backup_history"] = [
        dict(history(when="2026-11-22T02:00:00.000000Z", size=1000), host="db1"),
        dict(history(when="2026-11-23T02:00:00.000000Z", size=1500), host="db1"),
        dict(history(when="2026-11-24T01:00:00.000000Z", size=1700, verified="failed"), host="db1"),
    ]
    text = R.render_metrics(rep)
    series = parse_exposition(text)
    labels = dict(schedule="weekly", host="db1", kind="postgres", name="shop")
    key = tuple(sorted(labels.items()))
    newest_verified = B.parse_time("2026-11-23T02:00:00.000000Z").timestamp()
    assert series[("runbook_backup_last_success_timestamp_seconds", key)] == newest_verified
    assert series[("runbook_backup_last_success_size_bytes", key)] == 1500
    assert series[("runbook_backups_on_disk", key)] == 3
    assert series[("runbook_host_status", (("host", 'a"b\\c\nd'), ("schedule", "weekly")))] == 2
    probe_key = tuple(sorted(dict(schedule="weekly", host=EVIL_IMG, probe=EVIL, kind="tcp").items()))
    assert series[("runbook_probe_status", probe_key)] == 2
    assert series[("runbook_probe_latency_seconds", probe_key)] == pytest.approx(0.003)
    assert series[("runbook_run_status", (("schedule", "weekly"),))] == 2


def test_strict_parser_rejects_malformed_exposition():
    with pytest.raises(AssertionError):
        parse_exposition('# HELP m x\n# TYPE m gauge\nm{a="unterminated} 1\n')
    with pytest.raises(AssertionError):
        parse_exposition("# HELP m x\n# TYPE m gauge\nm 1\nm 2\n")
    with pytest.raises(AssertionError):
        parse_exposition("# HELP m x\n# TYPE m gauge\nother 1\n")


# ---------------------------------------------------------------------------
# files: atomic writes, retention, build
# ---------------------------------------------------------------------------
def test_write_atomic_replaces_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "m.prom"
    target.write_text("old\n")
    R.write_atomic(str(target), "new\n", 0o644)
    assert target.read_text() == "new\n"
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert sorted(os.listdir(tmp_path)) == ["m.prom"]


def test_write_atomic_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "m.prom"
    target.write_text("old\n")
    with pytest.raises(TypeError):
        R.write_atomic(str(target), None)  # type: ignore[arg-type]
    assert target.read_text() == "old\n"
    assert sorted(os.listdir(tmp_path)) == ["m.prom"]


def write_host(tmp_path, host, stamp, **results):
    path = tmp_path / f"weekly-{host}-{stamp}.json"
    data = host_report(host, stamp, **results)
    data.pop("source")
    path.write_text(json.dumps(data))
    return str(path)


def test_build_writes_json_html_metrics_and_keeps_the_last_runs(tmp_path):
    stamps = ["20261120T020000Z", "20261121T020000Z", "20261122T020000Z"]
    for stamp in stamps:
        src = write_host(tmp_path, "db1", stamp, health=health(probe("pg")))
        out = R.build(str(tmp_path), "weekly", stamp, [src], str(tmp_path / "metrics"), keep_last=2)
    assert out["deleted"] == [str(tmp_path / f"weekly-db1-{stamps[0]}.json"),
                              str(tmp_path / f"weekly-{stamps[0]}.json"), str(tmp_path / f"weekly-{stamps[0]}.html")]
    assert sorted(p.name for p in tmp_path.glob("weekly-*")) == sorted(
        [f"weekly-{s}.{e}" for s in stamps[1:] for e in ("json", "html")] + [f"weekly-db1-{s}.json" for s in stamps[1:]])
    data = json.loads((tmp_path / f"weekly-{stamps[2]}.json").read_text())
    assert data["hosts"][0]["source"] == str(tmp_path / f"weekly-db1-{stamps[2]}.json")
    assert data["probes"][0]["name"] == "pg"
    parse_exposition((tmp_path / "metrics" / "runbook_weekly.prom").read_text())
    assert out["summary"]["html"] == out["html_path"] and out["url"].startswith("file:///")


def test_build_in_check_mode_writes_nothing(tmp_path):
    src = write_host(tmp_path, "db1", "20261120T020000Z")
    out = R.build(str(tmp_path / "r"), "weekly", "20261120T020000Z", [src], str(tmp_path / "m"), keep_last=1,
                  check_mode=True)
    assert not (tmp_path / "r").exists() and not (tmp_path / "m").exists()
    assert out["json_path"] == str(tmp_path / "r" / "weekly-20261120T020000Z.json")


def test_build_rejects_bad_options(tmp_path):
    with pytest.raises(R.RunReportError, match="name"):
        R.build(str(tmp_path), "../x", "20261120T020000Z", [])
    with pytest.raises(R.RunReportError, match="keep_last"):
        R.build(str(tmp_path), "daily", "20261120T020000Z", [], keep_last=-1)


def test_backup_history_reads_the_manifests_with_the_backup_layer(tmp_path):
    start = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.timezone.utc)
    for i, size in enumerate((10, 20, 30)):
        when = start + dt.timedelta(days=i)
        final = tmp_path / B.backup_basename("shop", when, ".dump")
        final.write_bytes(b"x" * size)
        manifest = B.new_manifest("postgres", "shop", str(final), when, when + dt.timedelta(seconds=2),
                                  B.file_entries(str(final), str(tmp_path)), {"database_size": 1000 + i})
        B.set_verification(manifest, "list", i != 1)
        B.write_manifest(B.manifest_path_for(str(final)), manifest)
    (tmp_path / "foreign.manifest.json").write_text("{}")
    out = R.backup_history([str(tmp_path), str(tmp_path / "missing")], limit=2)
    assert [(e["size"], e["verified"], e["database_size"]) for e in out] == [(20, "failed", 1001), (30, "passed", 1002)]
    assert out[0]["complete"] is True and out[0]["duration_seconds"] == 2.0


def test_merge_restore_and_drill_differences_are_critical():
    restore = {"changed": True, "source_database": "shop", "target_database": "shop_restored",
               "backup": "/b/shop-x.dump", "tables_compared": 3, "row_count_differences": [{"table": "public.t"}]}
    drill = {"item": {"database": "shop"}, "changed": True, "target_database": "shop_drill",
             "row_count_differences": []}
    rep = R.merge([host_report("db1", pg_backup={"backup": None, "restore": restore, "drill": [drill]})],
                  "restore", "20261124T020000Z")
    assert rep["restores"][0]["database"] == "shop" and rep["restores"][0]["differences"] == 1
    assert rep["drills"] == [{"host": "db1", "database": "shop_drill", "differences": 0, "changed": True}]
    assert rep["status"] == "critical" and rep["problems"][0]["where"] == "restore"
    page = R.render_html(rep)
    assert "Restores" in page and "shop_restored" in page and "Disaster-recovery drills" in page
