# SPDX-License-Identifier: GPL-3.0-or-later
"""The HTML run report of a real run, rendered by headless Chromium (Debian's `chromium`,
installed by scripts/setup_browser.sh): to PNG and to DOM, with a net log that shows every
request the page made. A control page that does fetch proves the detection works."""
from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest
from harness.browser import CHROMIUM, chromium
from rr_helpers import EVIL_SCRIPT

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit"))
from test_run_report import parse_html  # noqa: E402

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="SKIPPED: Debian's chromium is not installed (run scripts/setup_browser.sh); the browser test did not run")

SECTIONS = ("summary", "hosts", "problems", "probes", "vacuum", "pg-report", "backups", "retention", "redis", "charts",
            "chart-database-sizes", "chart-backup-sizes", "chart-probe-latency", "chart-dead-tuples")


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
    assert "img" not in tags and tags.count("script") == 1  # the host filter, the one script the CSP allows
    assert 'id="host-filter-box"' in dom and 'id="host-filter-box" hidden' not in dom  # the filter ran
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
