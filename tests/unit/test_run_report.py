# SPDX-License-Identifier: GPL-3.0-or-later
"""Run report logic: merging per-host reports, escaping, metrics format, retention, atomic files."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html.parser
import json
import os
import re

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
from ansible_collections.runbook.ops.plugins.module_utils import _run_report as R
from ansible_collections.runbook.ops.plugins.module_utils import _run_report_common as C
from ansible_collections.runbook.ops.plugins.module_utils import _run_report_dataloss as DL
from ansible_collections.runbook.ops.plugins.module_utils import _run_report_files as F
from ansible_collections.runbook.ops.plugins.module_utils import _run_report_filter as HF
from ansible_collections.runbook.ops.plugins.module_utils import _run_report_html as H
from ansible_collections.runbook.ops.plugins.module_utils import _run_report_merge as M
from ansible_collections.runbook.ops.plugins.module_utils import _run_report_metrics as PM
from ansible_collections.runbook.ops.plugins.module_utils import _run_report_read as RD
from ansible_collections.runbook.ops.plugins.module_utils import _run_report_redact as RX

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
    assert C.worst() == "ok"
    assert C.worst("ok", "warning", None) == "warning"
    assert C.worst("warning", "critical", "ok") == "critical"


def test_merge_collects_probes_vacuum_and_status_per_host():
    reports = [
        host_report("web1", health=health(probe("api"), probe("disk /", "warning", 0.2, "disk"))),
        host_report("db1", health=health(probe("postgres", kind="postgres")),
                    pg_maintenance={"vacuum": vacuum(table("orders", 8000, 0),
                                                     table("users", 10, 10, changed=False, skip_reason="below_threshold")),
                                    "report": None, "activity": None, "retention": []}),
    ]
    rep = M.merge(reports, "weekly", "20261124T020000Z")
    assert rep["format"] == M.RUN_REPORT_FORMAT and rep["version"] == M.RUN_REPORT_VERSION
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
    rep = M.merge(reports, "backup", "20261124T020000Z")
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
    rep = M.merge([host_report("cache1", check_mode=True, redis={"maintenance": None, "purges": [purge], "backup": None})],
                  "weekly", "20261124T020000Z")
    assert rep["check_mode"] is True
    assert [(p["pattern"], p["matched"]) for p in rep["redis"]["purges"]] == [("cache:*", 5), ("tmp:*", 2)]
    samples = PM.metric_samples(rep)["runbook_redis_purged_keys"]
    assert sorted((s[0]["pattern"], s[1]) for s in samples) == [("cache:*", 5.0), ("tmp:*", 2.0)]


def test_merge_rejects_a_bad_stamp():
    with pytest.raises(C.RunReportError, match="stamp"):
        M.merge([], "daily", "yesterday")


def test_load_host_report_names_the_file_and_the_problem(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{not json")
    with pytest.raises(C.RunReportError, match=r"x\.json is not valid JSON"):
        RD.load_host_report(str(bad))
    bad.write_text(json.dumps({"host": "a"}))
    with pytest.raises(C.RunReportError, match="not a per-host report"):
        RD.load_host_report(str(bad))
    with pytest.raises(C.RunReportError, match="cannot read"):
        RD.load_host_report(str(tmp_path / "missing.json"))


# ---------------------------------------------------------------------------
# HTML and escaping
# ---------------------------------------------------------------------------
def evil_report():
    return M.merge([host_report(
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
    page = H.render_html(rep, "weekly-20261124T020000Z.json")
    parsed = parse_html(page)
    tags = [t for t, _attrs in parsed.tags]
    assert "img" not in tags and "<img" not in page.lower()
    assert_only_the_filter_script(page)
    text = "".join(parsed.text)
    assert EVIL in text and EVIL_IMG in text  # shown as text, not markup
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page  # Jinja2's autoescape


def assert_only_the_filter_script(page: str) -> None:
    """The page's one script is the host filter (a constant of the collection), and the CSP lets only it run."""
    assert page.lower().count("<script") == 1 and tags_of(page).count("script") == 1
    body = page.split("<script>", 1)[1].split("</script>", 1)[0]
    assert body == HF.SCRIPT
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    csp = [a for t, a in parse_html(page).tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"][0]
    assert f"script-src 'sha256-{digest}'" in csp["content"] and "unsafe-inline'" not in csp["content"].split("script-src")[1]


def tags_of(page: str) -> list[str]:
    return [t for t, _attrs in parse_html(page).tags]


def test_html_has_every_section_and_fetches_nothing():
    page = H.render_html(evil_report())
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
    rep = M.merge([host_report("db1", pg_maintenance={"report": {"databases": [{"database": "shop", "size_bytes": 9000}]},
                                                      "vacuum": None, "activity": None, "retention": []})],
                  "monthly", "20261124T020000Z")
    rep["backup_history"] = [dict(history(when="2026-11-22T02:00:00.000000Z", size=1000, database_size=5000), host="db1"),
                             dict(history(when="2026-11-23T02:00:00.000000Z", size=1500, database_size=7000), host="db1")]
    svg = H.render_html(rep)
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
    text = PM.render_metrics(rep)
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
    F.write_atomic(str(target), "new\n", 0o644)
    assert target.read_text() == "new\n"
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert sorted(os.listdir(tmp_path)) == ["m.prom"]


def test_write_atomic_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "m.prom"
    target.write_text("old\n")
    with pytest.raises(TypeError):
        F.write_atomic(str(target), None)  # type: ignore[arg-type]
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
    with pytest.raises(C.RunReportError, match="name"):
        R.build(str(tmp_path), "../x", "20261120T020000Z", [])
    with pytest.raises(C.RunReportError, match="keep_last"):
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
    out = RD.backup_history([str(tmp_path), str(tmp_path / "missing")], limit=2)
    assert [(e["size"], e["verified"], e["database_size"]) for e in out] == [(20, "failed", 1001), (30, "passed", 1002)]
    assert out[0]["complete"] is True and out[0]["duration_seconds"] == 2.0


def test_backup_history_never_takes_a_future_dated_backup_as_the_newest(tmp_path):
    """A manifest dated a year ahead is flagged and keeps no row counts; the backup made now and the good one
    before it keep theirs (what the data-loss check compares)."""
    now = B.utcnow()
    for label, when in (("before", now - dt.timedelta(days=1)), ("now", now - dt.timedelta(seconds=5)),
                        ("ahead", now + dt.timedelta(days=365))):
        final = tmp_path / B.backup_basename("shop", when, ".dump")
        final.write_bytes(label.encode())
        manifest = B.new_manifest("postgres", "shop", str(final), when, when,
                                  B.file_entries(str(final), str(tmp_path)), {"row_counts": {"public.t": len(label)}})
        B.set_verification(manifest, "list", True)
        B.write_manifest(B.manifest_path_for(str(final)), manifest)
    out = RD.backup_history([str(tmp_path)])
    assert [e["future"] for e in out] == [False, False, True]
    assert [e["row_counts"] for e in out] == [{"public.t": 6}, {"public.t": 3}, None]


def test_merge_restore_and_drill_differences_are_critical():
    restore = {"changed": True, "source_database": "shop", "target_database": "shop_restored",
               "backup": "/b/shop-x.dump", "tables_compared": 3, "row_count_differences": [{"table": "public.t"}]}
    drill = {"item": {"database": "shop"}, "changed": True, "target_database": "shop_drill",
             "row_count_differences": []}
    rep = M.merge([host_report("db1", pg_backup={"backup": None, "restore": restore, "drill": [drill]})],
                  "restore", "20261124T020000Z")
    assert rep["restores"][0]["database"] == "shop" and rep["restores"][0]["differences"] == 1
    assert rep["drills"] == [{"host": "db1", "database": "shop_drill", "source_database": "", "duration_seconds": None,
                              "finished_at": None, "differences": 0, "changed": True}]
    assert rep["status"] == "critical" and rep["problems"][0]["where"] == "restore"
    page = H.render_html(rep)
    assert "Restores" in page and "shop_restored" in page and "Disaster-recovery drills" in page


# ---------------------------------------------------------------------------
# what the callback saw: outcomes, redaction, data loss, series state
# ---------------------------------------------------------------------------
def test_every_host_of_the_run_is_reported_with_its_outcome_worst_first():
    run = {"hosts": {
        "db1": {"outcome": "changed", "failures": [], "reason": ""},
        "db2": {"outcome": "unreachable", "failures": [
            {"play": "Daily", "role": "", "task": "Ping", "message": "ssh: connect refused"}], "reason": ""},
        "web1": {"outcome": "not_reached", "failures": [], "reason": "not reached: the play 'Roll' stopped"},
        "db3": {"outcome": "failed", "failures": [
            {"play": "Backup", "role": "runbook.ops.pg_backup", "task": "Back up", "message": "disk full"}]},
    }, "stopped": {"play": "Roll", "serial": True, "failed": ["db2"], "not_reached": ["web1"]}, "duration_seconds": 3}
    rep = M.merge([host_report("db1", health=health(probe("pg")))], "daily", "20261124T020000Z", run=run)
    assert [(h["host"], h["outcome"], h["status"]) for h in rep["hosts"]] == [
        ("db3", "failed", "critical"), ("db2", "unreachable", "critical"), ("web1", "not_reached", "warning"),
        ("db1", "changed", "ok")]
    assert rep["status"] == "critical" and rep["run"]["stopped"]["not_reached"] == ["web1"]
    assert {"host": "db3", "where": "Backup / runbook.ops.pg_backup / Back up", "severity": "critical",
            "message": "disk full"} in rep["problems"]
    assert rep["problems"][0]["severity"] == "critical"
    metrics = parse_exposition(PM.render_metrics(rep))
    assert metrics[("runbook_host_unreachable", (("host", "db2"), ("schedule", "daily")))] == 1
    assert metrics[("runbook_host_unreachable", (("host", "db3"), ("schedule", "daily")))] == 0
    assert metrics[("runbook_host_outcome", (("host", "web1"), ("outcome", "not_reached"), ("schedule", "daily")))] == 1
    assert metrics[("runbook_run_duration_seconds", (("schedule", "daily"),))] == 3
    page = H.render_html(rep)
    assert page.index("db3") < page.index("db1") and "Not reached (not updated): web1" in page
    summary = R.summary(rep)
    assert summary["failed_hosts"] == ["db3", "db2"] and summary["not_reached"] == ["web1"]


def test_a_rescued_failure_is_a_warning_not_a_failed_host():
    run = {"hosts": {"app1": {"outcome": "ok", "failures": [
        {"play": "Up", "role": "r", "task": "t", "message": "retried", "rescued": True}]}}}
    rep = M.merge([], "upgrade", "20261124T020000Z", run=run)
    assert rep["hosts"][0]["status"] == "warning" and rep["problems"][0]["message"] == "rescued: retried"


@pytest.mark.parametrize("text,secrets,expected", [
    ("login failed: password=hunter2 for user x", (), "login failed: password=******** for user x"),
    ('{"login_password": "p@ss w"}', (), '{"login_password": ********}'),
    ("postgresql://app:s3cr3t@db1:5432/shop", (), "postgresql://app:********@db1:5432/shop"),
    ("PGPASSWORD: abc123 and token=xyz", (), "PGPASSWORD: ******** and token=********"),
    ("could not connect with s3cret-value", ("s3cret-value",), "could not connect with ********"),
    ("nothing secret here", ("abc",), "nothing secret here"),
])
def test_redact(text, secrets, expected):
    assert RX.redact(text, secrets) == expected


def _loss_report(prev_rows, new_rows, prev_size=1000, new_size=1000):
    rep = M.merge([host_report("db1", pg_backup={"backup": {"backups": [
        {"name": "shop", "path": "/b/shop-new.dump", "size": new_size, "verified": "passed"}]}})],
        "backup", "20261124T020000Z")
    old = dict(history(when="2026-11-22T02:00:00.000000Z", size=prev_size), row_counts=prev_rows, host="db1")
    failed = dict(history(when="2026-11-23T02:00:00.000000Z", size=1, verified="failed"), row_counts={}, host="db1")
    new = dict(history(when="2026-11-24T02:00:00.000000Z", size=new_size), id="shop-new.dump", row_counts=new_rows,
               host="db1")
    rep["backup_history"] = [old, failed, new]
    return rep


def test_data_loss_compares_with_the_previous_verified_backup():
    rep = _loss_report({"public.orders": 1204331, 'a."b.c"': 10, "public.gone": 5, "public.grew": 3},
                       {"public.orders": 80112, 'a."b.c"': 9, "public.grew": 30}, prev_size=10000, new_size=4000)
    warnings = DL.data_loss(rep)
    assert [w["message"] for w in warnings] == [
        "backup size: 9.8 KiB -> 3.9 KiB (-60%) since the backup of 2026-11-22",
        "public.gone: 5 rows -> table missing since the backup of 2026-11-22",
        "public.orders: 1,204,331 -> 80,112 rows (-93%) since the backup of 2026-11-22",
    ]
    assert DL.data_loss(rep, rows_share=0.95, size_share=0.7) == [warnings[1]]


def test_no_data_loss_warning_when_tables_grow_or_without_an_earlier_backup():
    assert DL.data_loss(_loss_report({"public.orders": 10}, {"public.orders": 11})) == []
    rep = _loss_report({"public.orders": 10}, {"public.orders": 1})
    rep["backup_history"] = rep["backup_history"][2:]
    assert DL.data_loss(rep) == []


def test_backup_series_remember_last_success_and_failure(tmp_path):
    rep = M.merge([], "daily", "20261124T020000Z", generated_at=dt.datetime(2026, 11, 24, 2, tzinfo=dt.timezone.utc))
    rep["backup_history"] = [dict(history(), host="db1")]
    first = F.update_backup_series(str(tmp_path), rep)
    assert first == [{"host": "db1", "kind": "postgres", "name": "shop", "last_success": "2026-11-23T02:00:00.000000Z",
                      "last_failure": None, "last_failure_message": None}]
    # next run: db1 failed before reading its manifests; its last success is kept
    rep["backup_history"] = []
    second = F.update_backup_series(str(tmp_path), rep, [{"host": "db1", "kind": "postgres", "name": "shop",
                                                         "message": "password=x refused"}])
    assert second[0]["last_success"] == "2026-11-23T02:00:00.000000Z"
    assert second[0]["last_failure"] == rep["generated_at"] and "x refused" not in second[0]["last_failure_message"]
    rep["backup_series"] = second
    metrics = parse_exposition(PM.render_metrics(rep))
    key = (("host", "db1"), ("kind", "postgres"), ("name", "shop"), ("schedule", "daily"))
    utc = dt.timezone.utc
    assert metrics[("runbook_backup_last_failure_timestamp_seconds", key)] == dt.datetime(2026, 11, 24, 2, tzinfo=utc).timestamp()
    assert metrics[("runbook_backup_last_success_timestamp_seconds", key)] == dt.datetime(2026, 11, 23, 2, tzinfo=utc).timestamp()


def test_offsite_copies_are_shown_and_verified_ones_are_metrics():
    copies = {"copies": [
        {"kind": "postgres", "name": "shop", "backup": "/b/x.dump", "destination": "s3://bucket/db", "size": 10,
         "verified": True, "copied_at": "2026-11-24T02:10:00Z", "status": "copied", "msg": ""},
        {"kind": "postgres", "name": "shop", "backup": "/b/x.dump", "destination": 'ssh://b1/"x"', "size": 10,
         "verified": False, "copied_at": "2026-11-24T02:10:00Z", "status": "failed", "msg": "no space"}]}
    rep = M.merge([host_report("db1", backup_copy=[copies])], "backup", "20261124T020000Z")
    assert len(rep["offsite"]) == 2 and rep["hosts"][0]["status"] == "critical"
    text = PM.render_metrics(rep)
    metrics = parse_exposition(text)
    key = (("destination", "s3://bucket/db"), ("host", "db1"), ("kind", "postgres"), ("name", "shop"),
           ("schedule", "backup"))
    copied = dt.datetime(2026, 11, 24, 2, 10, tzinfo=dt.timezone.utc).timestamp()
    assert metrics[("runbook_backup_offsite_last_verified_timestamp_seconds", key)] == copied
    assert "ssh://b1" not in text
    assert "no space" in H.render_html(rep)
    assert M.merge([host_report("db1", backup_copy=None)], "backup", "20261124T020000Z")["offsite"] == []
    # the same result registered and kept as the role's fact: each copy once
    both = M.merge([host_report("db1", backup_copy=[copies], pg_backup_copy=copies)], "backup", "20261124T020000Z")
    assert len(both["offsite"]) == 2


def test_header_counts_agree_with_the_vacuum_table():
    analyzed = dict(table("c", 5, 5), action="analyze")
    rep = M.merge([host_report("db1", pg_maintenance={"vacuum": vacuum(table("a", 10, 0), table("b", 20, 0), analyzed),
                                                      "report": None, "activity": None, "retention": []})],
                  "weekly", "20261124T020000Z")
    page = H.render_html(rep)
    assert "Tables vacuumed<b>2</b>" in page and "Tables analyzed only<b>1</b>" in page
    rows = page.split('id="vacuum"')[1].split("</section>")[0]
    assert rows.count("<td>vacuum_analyze</td>") == 2 and rows.count("<td>analyze</td>") == 1
    assert R.summary(rep)["tables_vacuumed"] == 2 and R.summary(rep)["tables_analyzed_only"] == 1
