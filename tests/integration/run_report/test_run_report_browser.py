# SPDX-License-Identifier: GPL-3.0-or-later
"""The HTML run report of a real run, rendered by headless Chromium (Debian's `chromium`,
installed by scripts/setup_browser.sh): to PNG and to DOM, with a net log that shows every
request the page made. A control page that does fetch proves the detection works."""
from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from rr_helpers import EVIL_SCRIPT

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit"))
from test_run_report import parse_html  # noqa: E402

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="SKIPPED: Debian's chromium is not installed (run scripts/setup_browser.sh); the browser test did not run")

SECTIONS = ("summary", "hosts", "problems", "probes", "vacuum", "pg-report", "backups", "retention", "redis", "charts",
            "chart-database-sizes", "chart-backup-sizes", "chart-probe-latency", "chart-dead-tuples")


def chromium(page: Path, out: Path, *mode: str) -> tuple[str, list[dict]]:
    """Run headless Chromium on a file; (stdout, page-initiated requests from the net log)."""
    out.mkdir(parents=True, exist_ok=True)
    netlog = out / "netlog.json"
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
            f"--user-data-dir={out / 'profile'}", f"--log-net-log={netlog}", *mode, page.resolve().as_uri()]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, page_requests(netlog)


def page_requests(netlog: Path) -> list[dict]:
    """URL requests the page itself started (initiator is the page's opaque file origin, or the request
    belongs to the file:// site), leaving out the browser's own background requests."""
    data = json.loads(netlog.read_text())
    names = {v: k for k, v in data["constants"]["logEventTypes"].items()}
    out = []
    for event in data["events"]:
        if names.get(event["type"]) != "URL_REQUEST_START_JOB":
            continue
        params = event.get("params") or {}
        if "url" not in params:
            continue
        if params.get("initiator") != "not an origin" or "file://" in params.get("network_isolation_key", ""):
            out.append(params)
    return out


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


def test_the_detector_sees_a_page_that_fetches(tmp_path, canary):
    page = tmp_path / "control.html"
    page.write_text(f'<!DOCTYPE html><html><body><img src="{canary.url}/control.png">'
                    f'<div style="background:url({canary.url}/control-bg.png)">x</div></body></html>')
    before = len(canary.requests)
    _dom, requests = chromium(page, tmp_path / "chromium", "--dump-dom")
    assert {r["url"] for r in requests} >= {f"{canary.url}/control.png", f"{canary.url}/control-bg.png"}
    assert "/control.png" in canary.requests[before:]


def test_report_of_a_real_run_renders_with_every_section_and_fetches_nothing(demo_run, canary, tmp_path):
    html_path = Path(demo_run.link("monthly")["html"])
    before = list(canary.requests)
    dom, requests = chromium(html_path, tmp_path / "dom", "--dump-dom")
    assert [r["url"] for r in requests if not r["url"].startswith(("file:", "data:"))] == []
    assert canary.requests == before, "the report made the browser request the canary server"
    parsed = parse_html(dom)
    ids = {attrs.get("id") for _tag, attrs in parsed.tags}
    missing = [s for s in SECTIONS if s not in ids]
    assert not missing, missing
    tags = [t for t, _attrs in parsed.tags]
    assert "script" not in tags and "img" not in tags
    assert tags.count("svg") == 4 and tags.count("polyline") >= 3
    text = "".join(parsed.text)
    assert EVIL_SCRIPT in text and demo_run.evil_img in text
    statuses = [attrs.get("class") for t, attrs in parsed.tags if t == "span" and "status" in attrs.get("class", "")]
    assert "status status-ok" in statuses

    shot = tmp_path / "report.png"
    _out, requests = chromium(html_path, tmp_path / "png", "--window-size=1280,1800", f"--screenshot={shot}")
    assert [r["url"] for r in requests if not r["url"].startswith(("file:", "data:"))] == []
    assert png_size(shot) == (1280, 1800)
    assert shot.stat().st_size > 20000  # a rendered page, not a blank image
    assert canary.requests == before
