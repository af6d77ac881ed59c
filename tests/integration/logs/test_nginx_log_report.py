# SPDX-License-Identifier: GPL-3.0-or-later
"""nginx_log_report through ansible: real files incl. gzip, extra patterns, failures."""
from __future__ import annotations

import gzip

LINE = '{ip} - - [20/Nov/2026:10:00:00 +0000] "GET {path} HTTP/1.1" {status} 5 "-" "x"\n'


def test_report_over_plain_and_gzip_files(ansible_module, tmp_path):
    (tmp_path / "access.log").write_text(LINE.format(ip="192.0.2.1", path="/wp-admin.php", status=404)
                                         + LINE.format(ip="192.0.2.2", path="/x?q=%3Csvg%20onload=1%3E", status=200))
    with gzip.open(tmp_path / "access.log.2.gz", "wt") as handle:
        handle.write(LINE.format(ip="192.0.2.1", path="/api", status=502))
    r = ansible_module("nginx_log_report", {"paths": [str(tmp_path / "access.log*")],
                                            "extra_patterns": {"scanner": ["wp-admin"]}}, check=True)
    assert not r.failed and not r.changed, r.stdout
    assert r["parsed_lines"] == 3 and r["slowest"] == []
    assert r["totals"] == {"requests": 3, "status_401": 0, "status_403": 0, "status_5xx": 1, "suspicious": 2}
    cats = {s["ip"]: s["categories"] for s in r["suspicious_requests"]}
    assert cats == {"192.0.2.1": ["scanner"], "192.0.2.2": ["xss"]}
    assert r["files"] == [str(tmp_path / "access.log"), str(tmp_path / "access.log.2.gz")]


def test_failures_name_the_option(ansible_module, tmp_path):
    missing = ansible_module("nginx_log_report", {"paths": [str(tmp_path / "none.log")]})
    assert missing.failed and "paths" in missing["msg"]
    bad = ansible_module("nginx_log_report", {"paths": [str(tmp_path / "*.log")], "extra_patterns": {"x": ["("]}})
    assert bad.failed and "extra_patterns" in bad["msg"]
    top = ansible_module("nginx_log_report", {"paths": [str(tmp_path / "*.log")], "top": 0})
    assert top.failed and "top" in top["msg"]
