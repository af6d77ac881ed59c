# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The run report as one self-contained HTML page: :func:`render_html`, its CSS and its Jinja2 template.

Every value is escaped by Jinja2's autoescape; the template marks nothing from the report safe. The
page is self-contained: inline CSS and SVG (:mod:`_run_report_charts`), one inline script (the host
filter of :mod:`_run_report_filter`, allowed by its hash) and a Content-Security-Policy that forbids
every fetch.

At fleet size (hundreds of hosts) it stays small and quick to open: each host is a ``<details>``
section (open for failed and unreachable hosts, the worst first) with its own problems, probes,
backups and off-host copies; the tables across hosts show the first :data:`ROWS` rows, the worst
first, and the charts their largest series.
"""

from __future__ import annotations

import functools
import os
import typing as t

from ansible_collections.runbook.ops.plugins.module_utils._run_report_charts import charts
from ansible_collections.runbook.ops.plugins.module_utils._run_report_common import (
    STATUS_VALUE, STATUSES, RunReportError, _dict, human_bytes,
)
from ansible_collections.runbook.ops.plugins.module_utils._run_report_filter import SCRIPT, SCRIPT_SOURCE

# rows shown of each list of the PostgreSQL report (largest tables, unused indexes, ...)
TOP = 10
BADGE_CLASSES = STATUSES + ("passed", "failed", "skipped")
# rows shown of each table across hosts (probes, backups, ...); every host's own rows are in its section
ROWS = 200

CSS = """
:root{--ok:#1a7f37;--warning:#9a6700;--critical:#cf222e;--muted:#57606a;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:0;color:#1f2328;background:#fff;font-size:14px}
header{background:#24292f;color:#fff;padding:16px 24px}
header h1{margin:0 0 4px;font-size:22px}
header .meta{color:#d0d7de}
main{padding:8px 24px 32px;max-width:1400px}
nav{margin:12px 0}
nav a{margin-right:12px;color:#0969da;text-decoration:none}
section{margin:24px 0}
h2{font-size:18px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;margin:6px 0;width:100%}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--bg)}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code{font-family:"DejaVu Sans Mono",monospace;font-size:12px;word-break:break-all}
.status{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-weight:bold;font-size:12px}
.status-ok{background:var(--ok)}.status-warning{background:var(--warning)}.status-critical{background:var(--critical)}
.status-passed{background:var(--ok)}.status-failed{background:var(--critical)}.status-skipped{background:var(--muted)}
.empty{color:var(--muted);font-style:italic}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 14px;min-width:150px;background:var(--bg)}
.card b{display:block;font-size:20px}
.charts{display:flex;flex-wrap:wrap;gap:16px}
figure{margin:0;border:1px solid var(--line);border-radius:6px;padding:8px;background:#fff}
figcaption{font-weight:bold;margin-bottom:4px}
.check{background:#fff8c5;color:#1f2328;padding:2px 8px;border-radius:4px;margin-left:8px}
.stopped{background:#ffebe9;border:1px solid var(--critical);padding:6px 10px;border-radius:6px}
tr.host-failed td,tr.host-unreachable td{background:#ffebe9}
tr.host-not_reached td{background:#fff8c5}
.filter input{font:inherit;padding:4px 8px;width:28em;max-width:100%}
details.host{border:1px solid var(--line);border-radius:6px;margin:4px 0;padding:2px 10px;
content-visibility:auto;contain-intrinsic-size:auto 30px}
section{content-visibility:auto;contain-intrinsic-size:auto 800px}
details.host>summary{cursor:pointer;padding:2px 0}
details.host-failed,details.host-unreachable{border-color:var(--critical);background:#fff5f5}
details.host-not_reached{background:#fffbe6}
.more{color:var(--muted)}
"""
# content-visibility:auto: the browser lays out and paints the host sections and the sections off screen only
# when they are scrolled to (the first frame of a 1,000-host report in about half the time); find-in-page
# and links to #anchors still reach them

CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
       f"script-src {SCRIPT_SOURCE}")


def _fmt_num(value: t.Any) -> str:
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value):,}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def cards(report: dict) -> list[tuple[str, t.Any, bool]]:
    """The counts at the top of the page; each counts rows of a table below it."""
    hosts = report["hosts"]
    bad = [h for h in hosts if h.get("outcome") in ("failed", "unreachable")]
    changed = [x for x in report["vacuum"]["tables"] if x["changed"]]
    return [
        ("Status", report["status"], True),
        ("Hosts", len(hosts), False),
        ("Failed / unreachable", f"{sum(1 for h in bad if h['outcome'] == 'failed')} / "
                                 f"{sum(1 for h in bad if h['outcome'] == 'unreachable')}", False),
        ("Not reached", sum(1 for h in hosts if h.get("outcome") == "not_reached"), False),
        ("Critical / warning / ok hosts", " / ".join(str(sum(1 for h in hosts if h["status"] == s))
                                                     for s in reversed(STATUSES)), False),
        ("Probes ok / warn / crit", " / ".join(str(sum(1 for p in report["probes"] if p["status"] == s))
                                               for s in STATUSES), False),
        ("Tables vacuumed", sum(1 for x in changed if "vacuum" in x["action"]), False),
        ("Tables analyzed only", sum(1 for x in changed if "vacuum" not in x["action"]), False),
        ("Backups" + (" (would create)" if report["check_mode"] else ""), len(report["backups"]), False),
        ("Data-loss warnings", len(report.get("data_loss", [])), False),
        ("Redis keys purged", _fmt_num(sum(p["deleted"] or 0 for p in report["redis"]["purges"])), False),
    ]


NAV = (("hosts", "Hosts"), ("problems", "Problems"), ("data-loss", "Data loss"), ("charts", "Charts"),
       ("probes", "Probes"), ("vacuum", "Vacuum"), ("pg-report", "PostgreSQL report"), ("backups", "Backups"),
       ("retention", "Retention"), ("redis", "Redis"))


PER_HOST = ("problems", "probes", "backups", "offsite")


def per_host(report: dict) -> dict:
    """host -> its own rows of :data:`PER_HOST` (shown in the host's section)."""
    out: dict = {h["host"]: {k: [] for k in PER_HOST} for h in report["hosts"]}
    for key in PER_HOST:
        for row in report[key]:
            if row["host"] in out:
                out[row["host"]][key].append(row)
    return out


def _bad_first(rows: list, bad: t.Callable[[dict], bool]) -> list:
    return sorted(rows, key=lambda x: not bad(x))


def across_hosts(report: dict, vac_tables: list) -> dict:
    """The tables across hosts, the worst rows first (the template shows the first :data:`ROWS`)."""
    return {
        "problems": report["problems"],
        "data_loss": report["data_loss"],
        "probes": sorted(report["probes"], key=lambda p: -STATUS_VALUE.get(p["status"], 0)),
        "vacuum": vac_tables,
        "databases": report["pg_report"]["databases"],
        "backups": _bad_first(report["backups"], lambda b: b["verified"] == "failed"),
        "offsite": _bad_first(report["offsite"], lambda c: c["status"] == "failed" or not c["verified"]),
        "restores": _bad_first(report.get("restores", []), lambda x: bool(x["differences"])),
        "drills": _bad_first(report.get("drills", []), lambda x: bool(x["differences"])),
        "retention_backups": report["retention"]["backups"],
        "retention_data": report["retention"]["data"],
        "purges": report["redis"]["purges"],
        "memory": report["redis"]["memory"],
    }


@functools.lru_cache(maxsize=1)
def _template() -> t.Any:
    """:data:`TEMPLATE` compiled once per process (compiling costs more than rendering a small report)."""
    try:
        import jinja2  # pylint: disable=import-outside-toplevel
    except ImportError as exc:  # pragma: no cover (Jinja2 comes with ansible-core)
        raise RunReportError("the HTML report needs Jinja2 (it comes with ansible-core)") from exc

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=False)
    env.filters.update(num=_fmt_num, human_bytes=human_bytes, basename=lambda p: os.path.basename(str(p or "")),
                       status_class=lambda s: s if s in BADGE_CLASSES else "skipped")
    return env.from_string(TEMPLATE)


def render_html(report: dict, json_name: str = "") -> str:
    """The run report as one self-contained HTML document (no external resource; one script, the host filter).

    Rendered by Jinja2 with autoescape from :data:`TEMPLATE`: every value that
    came from a host is escaped in text and attributes.
    """
    template = _template()
    from markupsafe import Markup  # pylint: disable=import-outside-toplevel  # comes with Jinja2

    r = dict(report)
    r.setdefault("run", {})
    r["run"] = dict({"interrupted": False, "stopped": None, "duration_seconds": None}, **_dict(r["run"]))
    r.setdefault("data_loss", [])
    r.setdefault("offsite", [])
    vac_tables = [x for x in r["vacuum"]["tables"] if x["changed"] or x["skip_reason"] not in (None, "below_threshold")]
    return template.render(
        r=r, rep=r["pg_report"], top=TOP, rows=ROWS, json_name=json_name, nav=NAV, cards=cards(r),
        lists=across_hosts(r, vac_tables), per_host=per_host(r),
        charts=charts(r), title=f"runbook.ops {r['schedule']} run {r['stamp']}", css=CSS, csp=CSP,
        badge_classes=BADGE_CLASSES,
        script=Markup(SCRIPT),  # a constant of _run_report_filter, never report data
    ).lstrip() + "\n"


TEMPLATE = r"""
{%- macro badge(s) -%}
<span class="status status-{{ s if s in badge_classes else 'skipped' }}">{{ s or 'unknown' }}</span>
{%- endmacro -%}
{%- macro num(v) -%}<td class="num">{{ v | num }}</td>{%- endmacro -%}
{%- macro bytes(v) -%}<td class="num" data-value="{{ '' if v is none else v }}">{{ v | human_bytes }}</td>{%- endmacro -%}
{%- macro cell(v) -%}<td>{{ '-' if v is none else v }}</td>{%- endmacro -%}
{%- macro code(v) -%}<td><code>{{ '-' if v is none else v }}</code></td>{%- endmacro -%}
{%- macro head(names) -%}<thead><tr>{% for n in names %}<th>{{ n }}</th>{% endfor %}</tr></thead>{%- endmacro -%}
{%- macro empty(text) -%}<p class="empty">{{ text }}</p>{%- endmacro -%}
{%- macro more(items) -%}{% if items | length > rows %}<p class="more">The first {{ rows | num }} of {{ items | length | num }} rows,
the worst first; each host's own rows are in its section under <a href="#hosts">Hosts</a>.</p>{% endif %}{%- endmacro -%}
{%- macro line_chart(c) -%}
<figure id="{{ c.id }}" class="chart"><figcaption>{{ c.title }}</figcaption>
{%- if c.empty %}<p class="empty">{{ c.empty }}</p>{% else -%}
<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{{ c.width }}" height="{{ c.height }}" viewBox="0 0 {{ c.width }} {{ c.height }}">
<title>{{ c.title }}</title>
{%- for g in c.grid %}<line x1="{{ c.left }}" x2="{{ c.right }}" y1="{{ g.y }}" y2="{{ g.y }}" stroke="#d0d7de"/>
<text x="{{ c.left - 6 }}" y="{{ g.y + 4 }}" text-anchor="end" font-size="11">{{ g.label }}</text>{% endfor -%}
{%- for x in c.xticks %}<text x="{{ x.x }}" y="{{ c.axis_y }}" text-anchor="{{ x.anchor }}" font-size="11">{{ x.label }}</text>{% endfor -%}
<text x="{{ c.right }}" y="{{ c.axis_y + 16 }}" text-anchor="end" font-size="11" fill="#57606a">{{ c.utc }}</text>
{%- for s in c.series %}<polyline class="series" fill="none" stroke="{{ s.colour }}" stroke-width="2" points="{{ s.points }}"/>
{%- for d in s.dots %}<circle cx="{{ d.x }}" cy="{{ d.y }}" r="3" fill="{{ s.colour }}"><title>{{ d.title }}</title></circle>{% endfor -%}
<rect x="{{ c.left }}" y="{{ s.legend_y }}" width="12" height="12" fill="{{ s.colour }}"/>
<text x="{{ c.left + 18 }}" y="{{ s.legend_y + 10 }}" font-size="12">{{ s.label }}</text>
{%- endfor %}</svg>{% endif %}</figure>
{%- endmacro -%}
{%- macro bar_chart(c) -%}
<figure id="{{ c.id }}" class="chart"><figcaption>{{ c.title }}</figcaption>
{%- if c.empty %}<p class="empty">{{ c.empty }}</p>{% else -%}
<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{{ c.width }}" height="{{ c.height }}" viewBox="0 0 {{ c.width }} {{ c.height }}">
<title>{{ c.title }}</title>
{%- for g in c.groups %}<text x="{{ c.left - 6 }}" y="{{ g.y }}" text-anchor="end" font-size="11">{{ g.short }}<title>{{ g.label }}</title></text>
{%- for b in g.bars %}<rect class="bar" x="{{ c.left }}" y="{{ b.y }}" width="{{ b.w }}" height="{{ b.h }}" fill="{{ b.colour }}">
<title>{{ b.title }}</title></rect><text x="{{ b.tx }}" y="{{ b.ty }}" font-size="11">{{ b.text }}</text>{% endfor -%}
{%- endfor %}</svg>{% endif %}</figure>
{%- endmacro -%}
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title><style>{{ css }}</style></head><body>
<header><h1>{{ title }} {{ badge(r.status) }}{% if r.check_mode %}<span class="check">check mode: nothing was changed</span>{% endif %}
{%- if r.run.interrupted %}<span class="check">interrupted: the report holds what the run saw</span>{% endif %}
{%- if r.get('partial') %}<span class="check">partial</span>{% endif %}</h1>
<div class="meta">generated {{ r.generated_at }} &middot; {{ r.hosts | length }} hosts
{%- if r.run.duration_seconds is not none %} &middot; {{ r.run.duration_seconds | num }} s{% endif %}
{%- if json_name %} &middot; machine-readable: <code>{{ json_name }}</code>{% endif %} &middot; schema {{ r.format }} v{{ r.version }}</div></header>
<main><nav>{% for id, label in nav %}<a href="#{{ id }}">{{ label }}</a>{% endfor %}</nav>
<section id="summary"><div class="cards">
{%- for label, value, status in cards %}<div class="card">{{ label }}<b>{% if status %}{{ badge(value) }}{% else %}{{ value }}{% endif %}</b></div>
{% endfor -%}
</div></section>

<section id="hosts"><h2>Hosts</h2>
{%- if r.get('partial') %}<p class="stopped partial"><b>Partial report</b> (written without the callback
runbook.ops.run_report): {{ r.partial }}.</p>{% endif -%}
{%- if r.run.stopped %}<p class="stopped"><b>The run stopped</b> in the play <q>{{ r.run.stopped.play }}</q>
{%- if r.run.stopped.failed %} after {{ r.run.stopped.failed | join(', ') }} failed{% endif %}.
{%- if r.run.stopped.not_reached %} Not reached{% if r.run.stopped.serial %} (not updated){% endif %}:
{{- ' ' ~ r.run.stopped.not_reached | join(', ') }}.{% endif %}</p>{% endif -%}
{%- if r.hosts %}<p class="filter" id="host-filter-box" hidden><label>Filter hosts
<input id="host-filter" type="search" autocomplete="off" placeholder="name, status or outcome: failed, warning, db-fra1 ..."></label>
<span id="host-shown"></span></p>
{#- the per-host rows are written out, not through macros: a macro call costs much at fleet size #}
{%- for h in r.hosts %}{% set x = per_host[h.host] %}
<details class="host host-{{ h.outcome }}" data-filter="{{ (h.host ~ ' ' ~ h.status ~ ' ' ~ h.outcome | replace('_', ' ')) | lower }}"
{{- ' open' if h.outcome in ('failed', 'unreachable') }}><summary><b>{{ h.host }}</b>
<span class="status status-{{ h.status | status_class }}">{{ h.status or 'unknown' }}</span> {{ h.outcome | replace('_', ' ') }}
{%- if h.problems %} &middot; {{ h.problems | num }} problem{{ 's' if h.problems != 1 }}{% endif %}
{%- if h.reason %} &middot; {{ h.reason }}{% endif %}</summary>
<p>Steps: {{ h.steps | join(', ') or 'none' }} &middot; check mode: {{ 'yes' if h.check_mode else 'no' }}</p>
{%- if x.problems %}<table><thead><tr><th>Where</th><th>Severity</th><th>Message</th></tr></thead><tbody>
{%- for p in x.problems %}<tr><td>{{ p.where }}</td>
<td><span class="status status-{{ p.severity | status_class }}">{{ p.severity or 'unknown' }}</span></td><td>{{ p.message }}</td></tr>{% endfor -%}
</tbody></table>{% endif %}
{%- if x.probes %}<table><thead><tr><th>Probe</th><th>Kind</th><th>Status</th><th>Message</th><th>Latency (ms)</th></tr></thead><tbody>
{%- for p in x.probes %}<tr><td>{{ p.name }}</td><td>{{ p.kind }}</td>
<td><span class="status status-{{ p.status | status_class }}">{{ p.status or 'unknown' }}</span></td><td>{{ p.message }}</td>
<td class="num">{{ p.latency_ms | num }}</td></tr>{% endfor -%}
</tbody></table>{% endif %}
{%- if x.backups %}<table><thead><tr><th>Backup</th><th>Name</th><th>Size</th><th>Verification</th><th>File</th></tr></thead><tbody>
{%- for b in x.backups %}<tr><td>{{ b.kind }}</td><td>{{ b.name }}</td><td class="num">{{ b.size | human_bytes }}</td><td>{% if b.would_create %}would create
{%- else %}<span class="status status-{{ b.verified | status_class }}">{{ b.verified or 'unknown' }}</span>{% endif %}</td>
<td><code>{{ b.path | basename }}</code></td></tr>{% endfor -%}
</tbody></table>{% endif %}
{%- if x.offsite %}<table><thead><tr><th>Off-host copy</th><th>Name</th><th>Destination</th><th>Status</th><th>Message</th></tr></thead><tbody>
{%- for c in x.offsite %}<tr><td>{{ c.kind }}</td><td>{{ c.name }}</td><td><code>{{ c.destination }}</code></td>
{%- set v = 'passed' if c.verified else 'failed' %}<td><span class="status status-{{ v }}">{{ v }}</span> {{ c.status }}</td>
<td>{{ c.message }}</td></tr>{% endfor -%}
</tbody></table>{% endif %}</details>
{%- endfor %}{% else %}{{ empty("No host reported.") }}{% endif %}</section>

<section id="problems"><h2>Problems: what failed and why</h2>
{%- if r.problems %}<table>{{ head(["Host", "Where", "Severity", "Message"]) }}<tbody>
{%- for p in lists.problems[:rows] %}<tr><td>{{ p.host }}</td><td>{{ p.where }}</td><td>{{ badge(p.severity) }}</td><td>{{ p.message }}</td></tr>{% endfor -%}
</tbody></table>{{ more(lists.problems) }}{% else %}{{ empty("Nothing failed.") }}{% endif %}</section>

<section id="data-loss"><h2>Data-loss early warning</h2>
{%- if r.data_loss %}<table>{{ head(["Host", "Database", "Table", "Before", "After", "Since", "Warning"]) }}<tbody>
{%- for w in lists.data_loss[:rows] %}<tr><td>{{ w.host }}</td>
<td>{{ w.database }}</td>{{ code(w.table or '(backup size)') }}{{ num(w.before) }}{{ num(w.after) }}<td>{{ w.since }}</td><td>{{ w.message }}</td>
</tr>{% endfor -%}
</tbody></table>{{ more(lists.data_loss) }}{% else %}{{ empty("No new backup lost rows or size against the previous verified backup.") }}{% endif %}</section>

<section id="charts"><h2>Charts</h2><div class="charts">
{%- for c in charts %}{% if c.kind == 'line' %}{{ line_chart(c) }}{% else %}{{ bar_chart(c) }}{% endif %}{% endfor -%}
</div></section>

<section id="probes"><h2>Health probes</h2>
{%- if r.probes %}<table>{{ head(["Host", "Probe", "Kind", "Status", "Message", "Latency (ms)", "Attempts"]) }}<tbody>
{%- for p in lists.probes[:rows] %}<tr><td>{{ p.host }}</td><td>{{ p.name }}</td><td>{{ p.kind }}</td><td>{{ badge(p.status) }}</td>
<td>{{ p.message }}</td>{{ num(p.latency_ms) }}{{ num(p.attempts) }}</tr>{% endfor -%}
</tbody></table>{{ more(lists.probes) }}{% else %}{{ empty("No health probes ran in this run.") }}{% endif %}</section>

<section id="vacuum"><h2>Vacuum and analyze</h2>
{%- if lists.vacuum %}<table>{{ head(["Host", "Database", "Table", "Action", "Dead tuples before", "Dead tuples after", "Seconds", "Reason"]) }}<tbody>
{%- for x in lists.vacuum[:rows] %}<tr><td>{{ x.host }}</td>
<td>{{ x.database }}</td>{{ code(x.table) }}<td>{{ x.action }}</td>{{ num(x.dead_tuples_before) }}{{ num(x.dead_tuples_after) }}{{ num(x.duration) }}
<td>{{ x.reason }}</td></tr>{% endfor -%}
</tbody></table>{{ more(lists.vacuum) }}{% else %}{{ empty("No table was vacuumed or analyzed in this run.") }}{% endif %}</section>

<section id="pg-report"><h2>PostgreSQL report: top items</h2>
<h3>Database sizes</h3>
{%- if rep.databases %}<table>{{ head(["Host", "Database", "Size"]) }}<tbody>
{%- for d in lists.databases[:rows] %}<tr><td>{{ d.host }}</td><td>{{ d.database }}</td>{{ bytes(d.size_bytes) }}</tr>{% endfor -%}
</tbody></table>{{ more(lists.databases) }}{% else %}{{ empty("No database sizes in this run.") }}{% endif %}
<h3>Largest tables</h3>
{%- if rep.largest_tables %}<table>{{ head(["Host", "Database", "Table", "Total size", "Index size", "Live tuples", "Dead tuples"]) }}<tbody>
{%- for x in rep.largest_tables[:top] %}<tr><td>{{ x.host }}</td>
<td>{{ x.database }}</td>{{ code(x.table) }}{{ bytes(x.total_bytes) }}{{ bytes(x.index_bytes) }}{{ num(x.live_tuples) }}{{ num(x.dead_tuples) }}</tr>
{% endfor -%}
</tbody></table>{% else %}{{ empty("No table sizes in this run.") }}{% endif %}
<h3>Unused indexes</h3>
{%- if rep.unused_indexes %}<table>{{ head(["Host", "Database", "Table", "Index", "Size", "Scans", "Backs a constraint"]) }}<tbody>
{%- for x in rep.unused_indexes[:top] %}<tr><td>{{ x.host }}</td>
<td>{{ x.database }}</td>{{ code(x.table) }}{{ code(x.index) }}{{ bytes(x.size_bytes) }}{{ num(x.scans) }}
<td>{{ 'yes' if x.backs_constraint else 'no' }}</td></tr>{% endfor -%}
</tbody></table>{% else %}{{ empty("No unused indexes reported.") }}{% endif %}
<h3>Slow queries</h3>
{%- if rep.slow_queries %}<table>{{ head(["Host", "Database", "Calls", "Mean (ms)", "Max (ms)", "Query"]) }}<tbody>
{%- for x in rep.slow_queries[:top] %}<tr><td>{{ x.host }}</td>
<td>{{ x.database }}</td>{{ num(x.calls) }}{{ num(x.mean_ms) }}{{ num(x.max_ms) }}{{ code(x['query'][:500]) }}</tr>{% endfor -%}
</tbody></table>{% else %}{{ empty("No slow queries reported (pg_stat_statements not installed or section not selected).") }}{% endif %}
</section>

<section id="backups"><h2>Backups</h2>
{%- if r.backups %}<table>{{ head(["Host", "Kind", "Name", "Size", "Seconds", "sha256", "Verification", "Method", "File"]) }}<tbody>
{%- for b in lists.backups[:rows] %}<tr><td>{{ b.host }}</td><td>{{ b.kind }}</td>
<td>{{ b.name }}</td>{{ bytes(b.size) }}{{ num(b.duration_seconds) }}{{ code((b.sha256 or '-')[:16]) }}<td>{% if b.would_create %}
<span class="status status-skipped">would create</span>{% else %}{{ badge(b.verified) }}{% endif %}</td>
<td>{{ b.verification_method }}</td>{{ code(b.path | basename) }}</tr>{% endfor -%}
</tbody></table>{{ more(lists.backups) }}{% else %}{{ empty("No backups were made in this run.") }}{% endif %}
{%- if r.offsite %}<h3>Off-site copies</h3>
<table>{{ head(["Host", "Kind", "Name", "Destination", "Size", "Verified", "Status", "Copied at", "Message"]) }}<tbody>
{%- for c in lists.offsite[:rows] %}<tr><td>{{ c.host }}</td><td>{{ c.kind }}</td>
<td>{{ c.name }}</td>{{ code(c.destination) }}{{ bytes(c.size) }}<td>{{ badge('passed' if c.verified else 'failed') }}</td><td>{{ c.status }}</td>
<td>{{ c.copied_at }}</td><td>{{ c.message }}</td></tr>{% endfor -%}
</tbody></table>{{ more(lists.offsite) }}{% endif %}
{%- if r.restores %}<h3>Restores</h3><table>{{ head(["Host", "Database", "Target", "Backup", "Tables compared", "Tables that differ"]) }}<tbody>
{%- for x in lists.restores[:rows] %}<tr><td>{{ x.host }}</td><td>{{ x.database }}</td>
<td>{{ x.target_database }}</td>{{ code(x.backup | basename) }}{{ num(x.tables_compared) }}{{ num(x.differences) }}</tr>{% endfor -%}
</tbody></table>{{ more(lists.restores) }}{% endif %}
{%- if r.drills %}<h3>Disaster-recovery drills</h3><table>{{ head(["Host", "Scratch database", "Tables that differ"]) }}<tbody>
{%- for x in lists.drills[:rows] %}<tr><td>{{ x.host }}</td><td>{{ x.database }}</td>{{ num(x.differences) }}</tr>{% endfor -%}
</tbody></table>{{ more(lists.drills) }}{% endif %}
</section>

<section id="retention"><h2>Retention</h2>
<h3>Backups deleted by retention</h3>
{%- if r.retention.backups %}<table>{{ head(["Host", "Kind", "Name", "Backup", "Finished", "Reason"]) }}<tbody>
{%- for x in lists.retention_backups[:rows] %}<tr><td>{{ x.host }}</td><td>{{ x.kind }}</td>
<td>{{ x.name }}</td>{{ code(x.id) }}{{ cell(x.finished_at) }}<td>{{ x.reason }}</td></tr>{% endfor -%}
</tbody></table>{{ more(lists.retention_backups) }}{% else %}{{ empty("No backup was deleted by retention.") }}{% endif %}
<h3>Rows deleted by data retention</h3>
{%- if r.retention.data %}<table>{{ head(["Host", "Database", "Table", "Column", "Cutoff", "Rows", "Remaining"]) }}<tbody>
{%- for x in lists.retention_data[:rows] %}<tr><td>{{ x.host }}</td>
<td>{{ x.database }}</td>{{ code(x.table) }}<td>{{ x.column }}</td>{{ cell(x.cutoff) }}{{ num(x.rows) }}{{ num(x.remaining) }}</tr>{% endfor -%}
</tbody></table>{{ more(lists.retention_data) }}{% else %}{{ empty("No data retention ran in this run.") }}{% endif %}
</section>

<section id="redis"><h2>Redis</h2>
<h3>Purges</h3>
{%- if r.redis.purges %}<table>{{ head(["Host", "Pattern", "Matched", "Deleted", "Memory before", "Memory after"]) }}<tbody>
{%- for x in lists.purges[:rows] %}<tr><td>{{ x.host }}</td>{{ code(x.pattern) }}{{ num(x.matched) }}{{ num(x.deleted) }}{{ bytes(x.used_memory_before) }}
{{ bytes(x.used_memory_after) }}</tr>{% endfor -%}
</tbody></table>{{ more(lists.purges) }}{% else %}{{ empty("No Redis purge ran in this run.") }}{% endif %}
<h3>Memory</h3>
{%- if r.redis.memory %}<table>{{ head(["Host", "Used", "Peak", "maxmemory", "Policy"]) }}<tbody>
{%- for x in lists.memory[:rows] %}<tr><td>{{ x.host }}</td>{{ bytes(x.used_memory) }}{{ bytes(x.used_memory_peak) }}{{ bytes(x.maxmemory) }}
<td>{{ x.maxmemory_policy }}</td></tr>{% endfor -%}
</tbody></table>{{ more(lists.memory) }}{% else %}{{ empty("No Redis memory report in this run.") }}{% endif %}
</section>
</main><script>{{ script }}</script></body></html>
"""
