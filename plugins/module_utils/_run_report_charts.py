# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The SVG charts of the HTML run report: the geometry is computed here, the template draws it."""

from __future__ import annotations

import datetime as _dt
import math
import typing as t

from ansible_collections.runbook.ops.plugins.module_utils._run_report_common import _ts, human_bytes, parse_stamp


PALETTE = ("#0969da", "#bf3989", "#1a7f37", "#9a6700", "#8250df", "#cf222e", "#1b7c83", "#6e7781")
STATUS_COLOUR = {"ok": "#1a7f37", "warning": "#9a6700", "critical": "#cf222e"}
# series (lines) and bars drawn at most: a fleet's thousands would make the page heavy and unreadable
MAX_SERIES = 8
MAX_BARS = 15


def _largest(items: list, key: t.Callable[[t.Any], float], limit: int, title: str, what: str) -> tuple[list, str]:
    """The ``limit`` items of largest ``key`` (in their order) and the title saying so when some were left out."""
    if len(items) <= limit:
        return items, title
    keep = {id(x) for x in sorted(items, key=key, reverse=True)[:limit]}
    return [x for x in items if id(x) in keep], f"{title}: the {limit} {what} of {len(items):,}"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return step * exp
    return 10 * exp  # pragma: no cover


def _r(value: float) -> float:
    return round(value, 1)


def line_chart(chart_id: str, title: str, series: t.Sequence[tuple[str, t.Sequence[tuple[_dt.datetime, float]]]],
               fmt: t.Callable[[float], str] = human_bytes, width: int = 580, height: int = 260) -> dict:
    """The geometry of an SVG line chart of time series (one polyline and legend entry per series)."""
    series = [(label, sorted(points)) for label, points in series if points]
    chart: dict = {"kind": "line", "id": chart_id, "title": title, "empty": None if series else "no data"}
    if not series:
        return chart
    left, right, top, bottom = 80, 16, 16, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    times = [p[0].timestamp() for _label, pts in series for p in pts]
    t0, t1 = min(times), max(times)
    if t1 - t0 < 1:
        t0, t1 = t0 - 3600, t1 + 3600
    vmax = _nice_max(max(p[1] for _label, pts in series for p in pts))

    def x(ts: float) -> float:
        return _r(left + (ts - t0) / (t1 - t0) * plot_w)

    def y(v: float) -> float:
        return _r(top + plot_h - v / vmax * plot_h)

    span = t1 - t0
    time_fmt = "%H:%M:%S" if span < 6 * 3600 else "%m-%d %H:%M" if span < 4 * 86400 else "%Y-%m-%d"
    day = _dt.datetime.fromtimestamp(t0, _dt.timezone.utc).strftime("%Y-%m-%d")
    chart.update(
        width=width, height=height + 18 * len(series), left=left, right=left + plot_w, axis_y=top + plot_h + 16,
        grid=[{"y": y(vmax * i / 4), "label": fmt(vmax * i / 4)} for i in range(5)],
        xticks=[{"x": x(t0 + span * i / 3), "anchor": "start" if i == 0 else "end" if i == 3 else "middle",
                 "label": _dt.datetime.fromtimestamp(t0 + span * i / 3, _dt.timezone.utc).strftime(time_fmt)}
                for i in range(4)],
        utc="UTC" + (" " + day if span < 4 * 86400 else ""),
        series=[{"label": label, "colour": PALETTE[n % len(PALETTE)], "legend_y": height + 18 * n + 4,
                 "points": " ".join(f"{x(p[0].timestamp())},{y(p[1])}" for p in points),
                 "dots": [{"x": x(ts.timestamp()), "y": y(v),
                           "title": f"{label}: {fmt(v)} at {ts.strftime('%Y-%m-%d %H:%M:%S')} UTC"} for ts, v in points]}
                for n, (label, points) in enumerate(series)],
    )
    return chart


def bar_chart(chart_id: str, title: str, bars: t.Sequence[tuple[str, t.Sequence[tuple[str, float, str]]]],
              fmt: t.Callable[[float], str] = str, width: int = 580) -> dict:
    """The geometry of a horizontal bar chart; each group is a label with (name, value, colour) bars."""
    bars = [(label, values) for label, values in bars if values]
    chart: dict = {"kind": "bar", "id": chart_id, "title": title, "empty": None if bars else "no data"}
    if not bars:
        return chart
    left, right, bar_h, gap = 200, 110, 14, 10
    rows = sum(len(v) for _label, v in bars)
    vmax = _nice_max(max((entry[1] for _label, values in bars for entry in values), default=0))
    plot_w = width - left - right
    groups = []
    y = 12
    for label, values in bars:
        group = {"label": label, "short": label if len(label) <= 32 else "\u2026" + label[-31:], "y": y + bar_h - 3,
                 "bars": []}
        for name, value, colour in values:
            w = max(1.0, value / vmax * plot_w) if value > 0 else 0.0
            group["bars"].append({"y": y, "w": _r(w), "h": bar_h - 2, "colour": colour, "tx": _r(left + w + 4),
                                  "ty": y + bar_h - 3, "title": f"{label} {name}: {fmt(value)}",
                                  "text": f"{name} {fmt(value)}"})
            y += bar_h
        y += gap
        groups.append(group)
    chart.update(width=width, height=16 + rows * bar_h + len(bars) * gap + 8, left=left, groups=groups)
    return chart


def charts(report: dict) -> list[dict]:
    history = report["backup_history"]
    backup_series: dict[str, list] = {}
    db_series: dict[str, list] = {}
    for e in history:
        when = _ts(e.get("finished_at"))
        if when is None:
            continue
        label = f"{e['host']} {e.get('kind')} {e.get('name')}"
        if e.get("size") is not None:
            backup_series.setdefault(label, []).append((when, float(e["size"])))
        if e.get("kind") == "postgres" and e.get("database_size") is not None:
            db_series.setdefault(f"{e['host']} {e.get('name')}", []).append((when, float(e["database_size"])))
    run_time = parse_stamp(report["stamp"])
    for db in report["pg_report"]["databases"]:
        if db["size_bytes"] is not None:
            db_series.setdefault(f"{db['host']} {db['database']}", []).append((run_time, float(db["size_bytes"])))
    probes = [(f"{p['host']} {p['name']}", [("", p["latency_ms"], STATUS_COLOUR[p["status"]])])
              for p in report["probes"] if p["latency_ms"] is not None]
    dead = [(f"{x['host']} {x['database']} {x['table']}",
             [("before", float(x["dead_tuples_before"] or 0), "#cf222e"),
              ("after", float(x["dead_tuples_after"] or 0), "#1a7f37")])
            for x in report["vacuum"]["tables"] if x["changed"]]
    dead.sort(key=lambda b: -b[1][0][1])

    def newest(item: tuple) -> float:
        return max(item[1])[1]

    def first(group: tuple) -> float:
        return group[1][0][1]

    db, db_title = _largest(list(db_series.items()), newest, MAX_SERIES, "Database sizes over time", "largest")
    backups, backup_title = _largest(list(backup_series.items()), newest, MAX_SERIES, "Backup sizes over time",
                                     "largest")
    probes, probe_title = _largest(probes, first, MAX_BARS, "Probe latency (ms)", "slowest")
    dead, dead_title = _largest(dead, first, MAX_BARS, "Dead tuples before / after vacuum", "largest")
    return [
        line_chart("chart-database-sizes", db_title, db),
        line_chart("chart-backup-sizes", backup_title, backups),
        bar_chart("chart-probe-latency", probe_title, probes, fmt=lambda v: f"{v:,.1f} ms"),
        bar_chart("chart-dead-tuples", dead_title, dead, fmt=lambda v: f"{v:,.0f}"),
    ]
