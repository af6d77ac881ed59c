# SPDX-License-Identifier: GPL-3.0-or-later
"""The README's demo command does what the README says: it starts the embedded
stack, runs monthly.yml against it, prints what was done and cleans up."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_demo_runs_monthly_and_reports_what_it_did():
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "demo.py")], cwd=REPO,
                          capture_output=True, text=True, timeout=600, check=False)
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:] + proc.stderr[-2000:]
    assert "playbooks/monthly.yml" in out
    assert re.search(r"\[demo\] health: \d+ ok, 0 warning, 0 critical", out), out[-3000:]
    vacuum = re.search(r"\[demo\] pg_vacuum: (\d+) vacuumed, .* dead tuples (\d+) -> (\d+)", out)
    assert vacuum and int(vacuum[1]) >= 1 and int(vacuum[2]) > int(vacuum[3]), out[-3000:]
    assert re.search(r"\[demo\] data retention: [1-9]\d* old rows deleted in shop", out), out[-3000:]
    # the summary's last line is the HTML run report's link; the JSON run report sits next to it
    last = out.strip().splitlines()[-1]
    assert re.match(r"\[demo\] report: file:///\S+/monthly-\d{8}T\d{6}Z\.html$", last), out[-3000:]
    report = Path(last.split("file://", 1)[1]).with_suffix(".json")
    assert report.with_suffix(".html").is_file()
    data = json.loads(report.read_text())
    assert data["schedule"] == "monthly" and data["check_mode"] is False
    assert "[demo] stack stopped and removed" in out
    assert "Could not match supplied host pattern" not in out + proc.stderr
    # the temporary directory (its inventory holds the demo's passwords) is gone
    workdir = re.search(r"-i (\S+)/inventory\.json", out)[1]
    assert not Path(workdir).exists()
    # the stack is gone: nothing of it keeps listening
    pg_port = int(re.search(r"PostgreSQL 127\.0\.0\.1:(\d+)", out)[1])
    probe = subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", str(pg_port)], capture_output=True, check=False)
    assert probe.returncode != 0
