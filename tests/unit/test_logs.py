# SPDX-License-Identifier: GPL-3.0-or-later
"""Error-line normalisation and counting of module_utils/_logs.py."""
from __future__ import annotations

import gzip

from ansible_collections.runbook.ops.plugins.module_utils._logs import (
    ErrorSummary, expand_paths, normalise, read_lines)


def test_normalise_masks_variable_parts():
    a = normalise("2026-11-20T10:01:02.123Z ERROR user 42 from 10.0.0.7:5432 job 1b4e28ba-2fa1-11d2-883f-0016d3cca427"
                  " obj 0x7f3a21 commit deadbeef12 key 'abc' path \"/x/1\"")
    assert a == ("<ts> ERROR user <n> from <ip> job <uuid> obj <hex> commit <hex> key '<str>' path \"<str>\"")


def test_normalise_nginx_error_log_and_words_kept():
    line = '2026/11/20 10:01:02 [error] 1234#1234: *5678 connect() failed (111: Connection refused) while connecting'
    assert normalise(line) == "<ts> [error] <n>#<n>: *<n> connect() failed (<n>: Connection refused) while connecting"
    # words that look like hex but have no digit stay
    assert normalise("ERROR decade facade") == "ERROR decade facade"


def test_summary_counts_ranks_and_excludes():
    s = ErrorSummary(exclude_patterns=["healthcheck"])
    s.add_lines("a", ["ERROR db timeout after 5s", "ERROR db timeout after 7s", "info fine",
                      "ERROR healthcheck 1", "Traceback (most recent call last):"])
    s.add_lines("b", ["ERROR db timeout after 9s"])
    res = s.result(1)
    assert res["patterns"] == [{"pattern": "ERROR db timeout after <n>s", "count": 3,
                                "example": "ERROR db timeout after 5s", "sources": ["a", "b"]}]
    assert res["distinct_patterns"] == 2
    assert res["total_lines"] == 6 and res["error_lines"] == 4


def test_read_lines_gzip_and_tail(tmp_path):
    plain = tmp_path / "x.log"
    plain.write_text("first line\n" + "x\n" * 10 + "last\n")
    assert list(read_lines(str(plain), max_bytes=5)) == ["last\n"]
    packed = tmp_path / "x.log.1.gz"
    with gzip.open(packed, "wt") as handle:
        handle.write("ERROR a\nok\n")
    assert list(read_lines(str(packed))) == ["ERROR a\n", "ok\n"]
    assert expand_paths([str(tmp_path / "*.log*"), str(plain)]) == [str(plain), str(packed)]


def test_access_report_counts_per_ip_and_suspicious():
    from ansible_collections.runbook.ops.plugins.module_utils._logs import AccessReport
    rep = AccessReport(sample=5)
    lines = [
        '10.0.0.1 - - [20/Nov/2026:10:00:00 +0000] "GET /login HTTP/1.1" 401 12 "-" "curl" 0.010',
        '10.0.0.1 - - [20/Nov/2026:10:00:01 +0000] "GET /admin HTTP/1.1" 403 12 "-" "curl" 0.020',
        '10.0.0.2 - - [20/Nov/2026:10:00:02 +0000] "GET /items?id=1%20UNION%20SELECT%20password HTTP/1.1" 200 5 "-" "x" 2.500',
        '10.0.0.3 - - [20/Nov/2026:10:00:03 +0000] "GET /s?q=%3Cscript%3Ealert(1)%3C/script%3E HTTP/1.1" 500 5 "-" "x" 0.3',
        '10.0.0.4 - - [20/Nov/2026:10:00:04 +0000] "GET / HTTP/1.1" 200 5 "-" "x"',
        'garbage',
    ]
    for line in lines:
        rep.add_line(line, "access.log")
    res = rep.result(10)
    assert res["lines"] == 6 and res["parsed_lines"] == 5
    assert res["totals"] == {"requests": 5, "status_401": 1, "status_403": 1, "status_5xx": 1, "suspicious": 2}
    assert [c["ip"] for c in res["clients"]] == ["10.0.0.1", "10.0.0.3", "10.0.0.2"]
    assert [s["categories"] for s in res["suspicious_requests"]] == [["sql_injection"], ["xss"]]
    assert res["slowest"][0]["request_time"] == 2.5 and len(res["slowest"]) == 4
    assert res["top_clients"][0] == {"ip": "10.0.0.1", "requests": 2, "status_401": 1, "status_403": 1,
                                     "status_5xx": 0, "suspicious": 0}
