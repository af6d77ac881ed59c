# SPDX-License-Identifier: GPL-3.0-or-later
"""Headless Chromium (Debian's `chromium`, installed by scripts/setup_browser.sh) on a local page: its DOM or
a screenshot, and the requests the page itself made, from Chromium's net log."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

CHROMIUM = shutil.which("chromium")


def chromium(page: Path, out: Path, *mode: str) -> tuple[str, list[dict]]:
    """Run headless Chromium on a file; (stdout, page-initiated requests from the net log)."""
    assert CHROMIUM, "Debian's chromium is not installed (scripts/setup_browser.sh)"
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
