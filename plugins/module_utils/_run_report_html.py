# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Jinja2 template of the HTML run report (rendered with autoescape by ``_run_report.render_html``).

Every value is escaped by Jinja2's autoescape; the template marks nothing safe. The page is
self-contained: inline CSS and SVG, no script, and a Content-Security-Policy that forbids every fetch.
"""

from __future__ import annotations

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
{%- if r.hosts %}<table>{{ head(["Host", "Status", "Outcome", "Reason", "Check mode", "Steps", "Problems"]) }}<tbody>
{%- for h in r.hosts %}<tr class="host-{{ h.outcome }}"><td>{{ h.host }}</td><td>{{ badge(h.status) }}</td>
<td>{{ h.outcome | replace('_', ' ') }}</td><td>{{ h.reason }}</td><td>{{ 'yes' if h.check_mode else 'no' }}</td>
<td>{{ h.steps | join(', ') }}</td>{{ num(h.problems) }}</tr>{% endfor -%}
</tbody></table>{% else %}{{ empty("No host reported.") }}{% endif %}</section>

<section id="problems"><h2>Problems: what failed and why</h2>
{%- if r.problems %}<table>{{ head(["Host", "Where", "Severity", "Message"]) }}<tbody>
{%- for p in r.problems %}<tr><td>{{ p.host }}</td><td>{{ p.where }}</td><td>{{ badge(p.severity) }}</td><td>{{ p.message }}</td></tr>{% endfor -%}
</tbody></table>{% else %}{{ empty("Nothing failed.") }}{% endif %}</section>

<section id="data-loss"><h2>Data-loss early warning</h2>
{%- if r.data_loss %}<table>{{ head(["Host", "Database", "Table", "Before", "After", "Since", "Warning"]) }}<tbody>
{%- for w in r.data_loss %}<tr><td>{{ w.host }}</td>
<td>{{ w.database }}</td>{{ code(w.table or '(backup size)') }}{{ num(w.before) }}{{ num(w.after) }}<td>{{ w.since }}</td><td>{{ w.message }}</td>
</tr>{% endfor -%}
</tbody></table>{% else %}{{ empty("No new backup lost rows or size against the previous verified backup.") }}{% endif %}</section>

<section id="charts"><h2>Charts</h2><div class="charts">
{%- for c in charts %}{% if c.kind == 'line' %}{{ line_chart(c) }}{% else %}{{ bar_chart(c) }}{% endif %}{% endfor -%}
</div></section>

<section id="probes"><h2>Health probes</h2>
{%- if r.probes %}<table>{{ head(["Host", "Probe", "Kind", "Status", "Message", "Latency (ms)", "Attempts"]) }}<tbody>
{%- for p in r.probes %}<tr><td>{{ p.host }}</td><td>{{ p.name }}</td><td>{{ p.kind }}</td><td>{{ badge(p.status) }}</td>
<td>{{ p.message }}</td>{{ num(p.latency_ms) }}{{ num(p.attempts) }}</tr>{% endfor -%}
</tbody></table>{% else %}{{ empty("No health probes ran in this run.") }}{% endif %}</section>

<section id="vacuum"><h2>Vacuum and analyze</h2>
{%- if vac_tables %}<table>{{ head(["Host", "Database", "Table", "Action", "Dead tuples before", "Dead tuples after", "Seconds", "Reason"]) }}<tbody>
{%- for x in vac_tables %}<tr><td>{{ x.host }}</td>
<td>{{ x.database }}</td>{{ code(x.table) }}<td>{{ x.action }}</td>{{ num(x.dead_tuples_before) }}{{ num(x.dead_tuples_after) }}{{ num(x.duration) }}
<td>{{ x.reason }}</td></tr>{% endfor -%}
</tbody></table>{% else %}{{ empty("No table was vacuumed or analyzed in this run.") }}{% endif %}</section>

<section id="pg-report"><h2>PostgreSQL report: top items</h2>
<h3>Database sizes</h3>
{%- if rep.databases %}<table>{{ head(["Host", "Database", "Size"]) }}<tbody>
{%- for d in rep.databases %}<tr><td>{{ d.host }}</td><td>{{ d.database }}</td>{{ bytes(d.size_bytes) }}</tr>{% endfor -%}
</tbody></table>{% else %}{{ empty("No database sizes in this run.") }}{% endif %}
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
{%- for b in r.backups %}<tr><td>{{ b.host }}</td><td>{{ b.kind }}</td>
<td>{{ b.name }}</td>{{ bytes(b.size) }}{{ num(b.duration_seconds) }}{{ code((b.sha256 or '-')[:16]) }}<td>{% if b.would_create %}
<span class="status status-skipped">would create</span>{% else %}{{ badge(b.verified) }}{% endif %}</td>
<td>{{ b.verification_method }}</td>{{ code(b.path | basename) }}</tr>{% endfor -%}
</tbody></table>{% else %}{{ empty("No backups were made in this run.") }}{% endif %}
{%- if r.offsite %}<h3>Off-site copies</h3>
<table>{{ head(["Host", "Kind", "Name", "Destination", "Size", "Verified", "Status", "Copied at", "Message"]) }}<tbody>
{%- for c in r.offsite %}<tr><td>{{ c.host }}</td><td>{{ c.kind }}</td>
<td>{{ c.name }}</td>{{ code(c.destination) }}{{ bytes(c.size) }}<td>{{ badge('passed' if c.verified else 'failed') }}</td><td>{{ c.status }}</td>
<td>{{ c.copied_at }}</td><td>{{ c.message }}</td></tr>{% endfor -%}
</tbody></table>{% endif %}
{%- if r.restores %}<h3>Restores</h3><table>{{ head(["Host", "Database", "Target", "Backup", "Tables compared", "Tables that differ"]) }}<tbody>
{%- for x in r.restores %}<tr><td>{{ x.host }}</td><td>{{ x.database }}</td>
<td>{{ x.target_database }}</td>{{ code(x.backup | basename) }}{{ num(x.tables_compared) }}{{ num(x.differences) }}</tr>{% endfor -%}
</tbody></table>{% endif %}
{%- if r.drills %}<h3>Disaster-recovery drills</h3><table>{{ head(["Host", "Scratch database", "Tables that differ"]) }}<tbody>
{%- for x in r.drills %}<tr><td>{{ x.host }}</td><td>{{ x.database }}</td>{{ num(x.differences) }}</tr>{% endfor -%}
</tbody></table>{% endif %}
</section>

<section id="retention"><h2>Retention</h2>
<h3>Backups deleted by retention</h3>
{%- if r.retention.backups %}<table>{{ head(["Host", "Kind", "Name", "Backup", "Finished", "Reason"]) }}<tbody>
{%- for x in r.retention.backups %}<tr><td>{{ x.host }}</td><td>{{ x.kind }}</td>
<td>{{ x.name }}</td>{{ code(x.id) }}{{ cell(x.finished_at) }}<td>{{ x.reason }}</td></tr>{% endfor -%}
</tbody></table>{% else %}{{ empty("No backup was deleted by retention.") }}{% endif %}
<h3>Rows deleted by data retention</h3>
{%- if r.retention.data %}<table>{{ head(["Host", "Database", "Table", "Column", "Cutoff", "Rows", "Remaining"]) }}<tbody>
{%- for x in r.retention.data %}<tr><td>{{ x.host }}</td>
<td>{{ x.database }}</td>{{ code(x.table) }}<td>{{ x.column }}</td>{{ cell(x.cutoff) }}{{ num(x.rows) }}{{ num(x.remaining) }}</tr>{% endfor -%}
</tbody></table>{% else %}{{ empty("No data retention ran in this run.") }}{% endif %}
</section>

<section id="redis"><h2>Redis</h2>
<h3>Purges</h3>
{%- if r.redis.purges %}<table>{{ head(["Host", "Pattern", "Matched", "Deleted", "Memory before", "Memory after"]) }}<tbody>
{%- for x in r.redis.purges %}<tr><td>{{ x.host }}</td>{{ code(x.pattern) }}{{ num(x.matched) }}{{ num(x.deleted) }}{{ bytes(x.used_memory_before) }}
{{ bytes(x.used_memory_after) }}</tr>{% endfor -%}
</tbody></table>{% else %}{{ empty("No Redis purge ran in this run.") }}{% endif %}
<h3>Memory</h3>
{%- if r.redis.memory %}<table>{{ head(["Host", "Used", "Peak", "maxmemory", "Policy"]) }}<tbody>
{%- for x in r.redis.memory %}<tr><td>{{ x.host }}</td>{{ bytes(x.used_memory) }}{{ bytes(x.used_memory_peak) }}{{ bytes(x.maxmemory) }}
<td>{{ x.maxmemory_policy }}</td></tr>{% endfor -%}
</tbody></table>{% else %}{{ empty("No Redis memory report in this run.") }}{% endif %}
</section>
</main></body></html>
"""
