# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Log reading and error-pattern summaries (pure logic, no Ansible imports).

Error lines are normalised before counting so that lines that differ only in
timestamps, numbers, ids, hex values, IP addresses or quoted values count as
one pattern.
"""

from __future__ import annotations

import glob
import gzip
import os
import re
import typing as t
from urllib.parse import unquote_plus

DEFAULT_ERROR_PATTERNS = [
    r"(?i)\b(error|critical|fatal|emerg|alert|crit|exception|traceback|panic)\b",
]

# Order matters: the wider shapes first, the plain numbers last.
_MASKS: list[tuple[re.Pattern, str]] = [
    # ISO 8601 / syslog-ish / nginx error.log timestamps
    (re.compile(r"\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"), "<ts>"),
    (re.compile(r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}(?: [+-]\d{4})?"), "<ts>"),
    (re.compile(r"\b[A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2}\b"), "<ts>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"'[^']*'"), "'<str>'"),
    (re.compile(r'"[^"]*"'), '"<str>"'),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
]
_SPACES = re.compile(r"\s+")


def normalise(line: str, max_length: int = 300) -> str:
    """The line with its variable parts masked, whitespace collapsed, cut to max_length."""
    text = line.strip()
    for pattern, mask in _MASKS:
        text = pattern.sub(mask, text)
    text = _SPACES.sub(" ", text)
    return text[:max_length]


def expand_paths(patterns: t.Iterable[str]) -> list[str]:
    """Files matching the given paths or globs, sorted, without duplicates."""
    seen: dict[str, None] = {}
    for pattern in patterns:
        matches = sorted(glob.glob(os.path.expanduser(pattern))) if glob.has_magic(pattern) else [pattern]
        for match in matches:
            if os.path.isfile(match):
                seen.setdefault(match, None)
    return list(seen)


def read_lines(path: str, max_bytes: int = 0) -> t.Iterator[str]:
    """Lines of a log file (gzip when it ends in .gz); with max_bytes, only its last bytes."""
    if path.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
            yield from handle
        return
    with open(path, "rb") as handle:
        if max_bytes:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                handle.seek(size - max_bytes - 1)
                if handle.read(1) != b"\n":
                    handle.readline()  # drop the partial first line
        for raw in handle:
            yield raw.decode("utf-8", errors="replace")


class ErrorSummary:
    """Counts normalised error lines across sources."""

    def __init__(self, error_patterns: t.Iterable[str] | None = None,
                 exclude_patterns: t.Iterable[str] = ()) -> None:
        self.matchers = [re.compile(p) for p in (error_patterns or DEFAULT_ERROR_PATTERNS)]
        self.excludes = [re.compile(p) for p in exclude_patterns]
        self.patterns: dict[str, dict] = {}
        self.sources: list[dict] = []

    def is_error(self, line: str) -> bool:
        if not any(m.search(line) for m in self.matchers):
            return False
        return not any(x.search(line) for x in self.excludes)

    def add_lines(self, source: str, lines: t.Iterable[str]) -> dict:
        total = matched = 0
        for line in lines:
            total += 1
            if not line.strip() or not self.is_error(line):
                continue
            matched += 1
            key = normalise(line)
            entry = self.patterns.get(key)
            if entry is None:
                entry = self.patterns[key] = {"pattern": key, "count": 0, "example": line.strip()[:1000],
                                              "sources": []}
            entry["count"] += 1
            if source not in entry["sources"]:
                entry["sources"].append(source)
        info = {"source": source, "lines": total, "error_lines": matched}
        self.sources.append(info)
        return info

    def top(self, limit: int) -> list[dict]:
        ranked = sorted(self.patterns.values(), key=lambda e: (-e["count"], e["pattern"]))
        return ranked[:limit]

    def result(self, limit: int) -> dict:
        return {
            "patterns": self.top(limit),
            "distinct_patterns": len(self.patterns),
            "sources": self.sources,
            "total_lines": sum(s["lines"] for s in self.sources),
            "error_lines": sum(s["error_lines"] for s in self.sources),
        }


# nginx access logs ("combined", optionally followed by $request_time and more fields)
_ACCESS = re.compile(
    r'^(?P<ip>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) '
    r'(?P<bytes>\S+)(?: "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)")?(?P<rest>.*)$'
)
_FLOAT = re.compile(r"^\d+(?:\.\d+)?$")

SUSPICIOUS_PATTERNS = {
    "sql_injection": [
        r"(?i)union(?:\s|\+|/\*.*?\*/)+(?:all(?:\s|\+)+)?select",
        r"(?i)'\s*(?:or|and)\s*'?\d*'?\s*=\s*'?\d*",
        r"(?i)\b(?:or|and)(?:\s|\+)+\d+(?:\s|\+)*=(?:\s|\+)*\d+",
        r"(?i)\b(?:sleep|benchmark|pg_sleep)\s*\(",
        r"(?i)information_schema|pg_catalog|;\s*(?:drop|delete|insert|update)\s",
    ],
    "xss": [r"(?i)<\s*script", r"(?i)javascript:", r"(?i)\bon(?:error|load|mouseover)\s*=", r"(?i)<\s*(?:img|svg|iframe)\b"],
    "path_traversal": [r"\.\./", r"(?i)/etc/passwd", r"(?i)\.(?:env|git)(?:/|$)"],
}


def _unquote(text: str) -> str:
    once = unquote_plus(text)
    return unquote_plus(once)


class AccessReport:
    """Counts per client IP, top clients, slowest requests and suspicious requests of nginx access logs."""

    def __init__(self, patterns: dict[str, list[str]] | None = None, sample: int = 20) -> None:
        self.patterns = {k: [re.compile(p) for p in v] for k, v in (patterns or SUSPICIOUS_PATTERNS).items()}
        self.clients: dict[str, dict] = {}
        self.slowest: list[dict] = []
        self.suspicious: list[dict] = []
        self.sample = sample
        self.lines = self.parsed = 0
        self.status_classes: dict[str, int] = {}

    def categories(self, request: str) -> list[str]:
        target = _unquote(request)
        return [name for name, regs in self.patterns.items() if any(r.search(target) for r in regs)]

    def add_line(self, line: str, source: str = "") -> None:
        self.lines += 1
        match = _ACCESS.match(line.rstrip("\n"))
        if not match:
            return
        self.parsed += 1
        ip, request, status = match["ip"], match["request"], int(match["status"])
        client = self.clients.setdefault(ip, {"ip": ip, "requests": 0, "status_401": 0, "status_403": 0,
                                              "status_5xx": 0, "suspicious": 0})
        client["requests"] += 1
        if status == 401:
            client["status_401"] += 1
        elif status == 403:
            client["status_403"] += 1
        elif status >= 500:
            client["status_5xx"] += 1
        cls = f"{status // 100}xx"
        self.status_classes[cls] = self.status_classes.get(cls, 0) + 1
        found = self.categories(request)
        if found:
            client["suspicious"] += 1
            if len(self.suspicious) < self.sample:
                self.suspicious.append({"ip": ip, "time": match["time"], "request": request[:500],
                                        "status": status, "categories": found, "source": source})
        fields = (match["rest"] or "").split()
        if fields and _FLOAT.match(fields[0]):
            entry = {"request_time": float(fields[0]), "request": request[:500], "ip": ip, "status": status,
                     "time": match["time"]}
            self.slowest.append(entry)
            if len(self.slowest) > 4 * self.sample:
                self.slowest = sorted(self.slowest, key=lambda e: -e["request_time"])[:self.sample]

    def result(self, top: int) -> dict:
        clients = list(self.clients.values())
        flagged = [c for c in clients if c["status_401"] or c["status_403"] or c["status_5xx"] or c["suspicious"]]
        flagged.sort(key=lambda c: (-(c["suspicious"] + c["status_401"] + c["status_403"]), -c["status_5xx"], c["ip"]))
        return {
            "lines": self.lines,
            "parsed_lines": self.parsed,
            "status_classes": self.status_classes,
            "totals": {key: sum(c[key] for c in clients)
                       for key in ("requests", "status_401", "status_403", "status_5xx", "suspicious")},
            "clients": flagged[:top],
            "top_clients": sorted(clients, key=lambda c: (-c["requests"], c["ip"]))[:top],
            "slowest": sorted(self.slowest, key=lambda e: -e["request_time"])[:top],
            "suspicious_requests": self.suspicious,
        }
