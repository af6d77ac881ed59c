# SPDX-License-Identifier: GPL-3.0-or-later
"""Sample values print as Prometheus prints them (integers without a dot, the shortest text that reads back
exactly, NaN and +Inf), computed values carry no float noise (a 61.8 ms latency is 0.0618);
the whole exposition is accepted by Debian's `promtool check metrics`."""
from __future__ import annotations

import math
import shutil
import subprocess

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import _run_report_merge as M
from ansible_collections.runbook.ops.plugins.module_utils import _run_report_metrics as PM
from test_run_report import health, host_report, probe


@pytest.mark.parametrize("value, text", [
    (0.0618, "0.0618"),
    (1764633600.123, "1764633600.123"),      # a timestamp keeps its milliseconds
    (1796234435.516843, "1796234435.516843"),  # and its microseconds: every value reads back exactly
    (1764633600.0, "1764633600"),
    (3, "3"), (0, "0"), (-2.5, "-2.5"),
    (2.5e-7, "2.5e-07"),
    (1e20, "1e+20"),                         # large integral values as floats, exactly
    (123456789012345678.0, "1.2345678901234568e+17"),
    (math.nan, "NaN"), (math.inf, "+Inf"), (-math.inf, "-Inf"),
])
def test_format_value(value, text):
    assert PM.format_value(value) == text
    if not math.isnan(value):
        assert float(text.replace("Inf", "inf")) == value


def _report_with_latency(ms):
    return M.merge([host_report("web1", health=health(probe("api", latency=ms)))], "weekly", "20261124T020000Z")


def test_probe_latency_prints_without_float_noise():
    text = PM.render_metrics(_report_with_latency(61.8))
    line = next(x for x in text.splitlines() if x.startswith("runbook_probe_latency_seconds{"))
    assert line.endswith("} 0.0618"), line


def test_promtool_accepts_the_exposition():
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.fail("promtool not found: run scripts/setup_monitoring.sh (Debian's prometheus package)")
    text = PM.render_metrics(_report_with_latency(61.8))
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60, check=False)
    # promtool lints HELP/TYPE and names; gauges named *_bytes/_seconds are fine, errors exit non-zero
    assert r.returncode == 0, r.stdout + r.stderr
    bad = text.replace("} 0.0618", "} 0.0618x")
    r = subprocess.run([promtool, "check", "metrics"], input=bad, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode != 0
