# SPDX-License-Identifier: GPL-3.0-or-later
"""log_summary through ansible: real files, gzip, texts, failures."""
from __future__ import annotations

import gzip
import os
import time


def test_summary_of_files_and_texts(ansible_module, tmp_path):
    (tmp_path / "a.log").write_text("ERROR job 17 failed\nok\nERROR job 18 failed\nWARN slow\n")
    with gzip.open(tmp_path / "a.log.1.gz", "wt") as handle:
        handle.write("ERROR job 3 failed\n")
    old = tmp_path / "old.log"
    old.write_text("ERROR ancient\n")
    os.utime(old, (time.time() - 30 * 86400,) * 2)
    r = ansible_module("log_summary", {"paths": [str(tmp_path / "*.log*")], "max_age": "7d",
                                       "texts": {"backend": ["Traceback (most recent call last):", "fine"]}},
                       check=True)
    assert not r.failed and not r.changed, r.stdout
    assert r["patterns"][0] == {"pattern": "ERROR job <n> failed", "count": 3,
                                "example": "ERROR job 17 failed",
                                "sources": [str(tmp_path / "a.log"), str(tmp_path / "a.log.1.gz")]}
    assert r["error_lines"] == 4 and r["total_lines"] == 7
    assert r["skipped_files"] == [{"path": str(old), "reason": "older than max_age"}]


def test_custom_patterns_and_top(ansible_module, tmp_path):
    (tmp_path / "a.log").write_text("WARN a 1\nWARN a 2\nWARN b\nERROR c\n")
    r = ansible_module("log_summary", {"paths": [str(tmp_path / "a.log")], "error_patterns": ["WARN"],
                                       "exclude_patterns": [" b$"], "top": 1})
    assert r["patterns"] == [{"pattern": "WARN a <n>", "count": 2, "example": "WARN a 1",
                              "sources": [str(tmp_path / "a.log")]}]
    assert r["distinct_patterns"] == 1


def test_failures_name_the_option(ansible_module, tmp_path):
    missing = ansible_module("log_summary", {"paths": [str(tmp_path / "nope.log")]})
    assert missing.failed and "paths" in missing["msg"] and "nope.log" in missing["msg"]
    ok = ansible_module("log_summary", {"paths": [str(tmp_path / "nope.log")], "missing_ok": True})
    assert not ok.failed and ok["skipped_files"] == [{"path": str(tmp_path / "nope.log"), "reason": "missing"}]
    bad = ansible_module("log_summary", {"texts": {"x": "y"}, "error_patterns": ["(unclosed"]})
    assert bad.failed and "error_patterns" in bad["msg"]
    top = ansible_module("log_summary", {"texts": {"x": "y"}, "top": 0})
    assert top.failed and "top" in top["msg"]
    age = ansible_module("log_summary", {"texts": {"x": "y"}, "max_age": "soon"})
    assert age.failed and "max_age" in age["msg"]
    empty = ansible_module("log_summary", {"paths": []})
    assert empty.failed and "paths or texts" in empty["msg"]
