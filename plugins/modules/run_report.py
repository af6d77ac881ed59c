#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: run_report
short_description: Merge the per-host reports of a run into one JSON and HTML report and Prometheus metrics
version_added: 0.1.0
author: runbook.ops maintainers (@runbook-ops)
description:
  - Runs on the controller (C(delegate_to=localhost), C(run_once=true)); the role C(runbook.ops.report) does that at the
    end of every schedule playbook when the callback plugin C(runbook.ops.run_report) is not enabled. The callback
    (enabled in the repository's C(ansible.cfg)) writes the same run report itself from everything it saw, with every
    host the run targeted, also those that failed or were unreachable before the last play; see
    C(ansible-doc -t callback runbook.ops.run_report).
  - "Without the callback the report is partial, and says so (C(partial)): O(targeted_hosts) without a per-host
    report failed or were unreachable before the report play and are listed as C(failed), without their messages; a
    host whose step failed (C(failed_steps) / C(step_failures) of its report, remembered by the role
    C(runbook.ops.step)) is C(failed) with the step's task and message; the other hosts are C(ok)."
  - Reads the per-host JSON reports of one run (written by the role C(runbook.ops.report)) and writes
    C(<report_dir>/<name>-<stamp>.json), the run report (schema below), and C(<report_dir>/<name>-<stamp>.html),
    one self-contained HTML page (inline CSS and SVG charts, one inline script, the host filter, the only script its
    Content-Security-Policy allows; the policy forbids every fetch) with one collapsible section per host (failed
    and unreachable hosts first and open, the ok ones collapsed; its problems, probes, backups and off-host copies),
    vacuumed tables, the PostgreSQL report's top items, backups, retention, Redis purges (each table across hosts
    shows its first 200 rows, the worst first) and charts of database and backup sizes over time, probe latency and
    dead tuples (the largest series).
  - Every value that came from a host is HTML-escaped in the page and escaped in the metrics' label values.
  - "Run report schema (C(format=runbook.ops/run-report), C(version=1)): C(schedule), C(stamp), C(generated_at),
    C(check_mode), C(partial) (null, or what a report written without the callback cannot know),
    C(status) (worst of C(ok), C(warning), C(critical)), C(hosts) (per host C(host), C(status),
    C(outcome) (C(ok), C(changed), C(failed), C(unreachable), C(not_reached); without the callback C(ok) or C(failed)),
    C(reason), C(failures) (C(play), C(role), C(task), C(action), C(message), C(rescued)),
    C(check_mode), C(steps), C(problems), C(source), C(results) = the per-host results as written), C(problems)
    (C(host), C(where), C(severity), C(message)), C(probes), C(vacuum) (C(databases), C(tables)), C(pg_report)
    (C(databases), C(largest_tables), C(unused_indexes), C(slow_queries), C(bloat)), C(backups), C(restores),
    C(drills), C(retention) (C(backups), C(data)), C(redis) (C(purges), C(memory)), C(backup_history)
    (the backup manifests found on the hosts), C(offsite) (copies made by C(runbook.ops.backup_copy)),
    C(data_loss) (C(host), C(database), C(table) (null for the backup size), C(before), C(after), C(since),
    C(message)), C(run) (C(playbook), C(started_at), C(finished_at), C(duration_seconds), C(interrupted),
    C(stopped) = C(play), C(serial), C(failed), C(not_reached) when a play stopped the run) and
    C(backup_series) (last success and last failure per backup series, remembered in
    C(<report_dir>/.runbook-backup-series.json)). New keys may be added within a version; a key is never removed
    or changes meaning without a new version."
  - With O(metrics_dir), also writes C(<metrics_dir>/runbook_<name>.prom) in the Prometheus text format for
    node_exporter's textfile collector, atomically (a temporary file in the same directory, then a rename).
    Every sample has a C(schedule) label, so the files of different schedules never repeat a series.
  - Keeps the newest O(keep_last) runs of O(name) in O(report_dir) and deletes older ones (their JSON and HTML
    and the per-host reports they merged).
  - In check mode the module writes nothing and returns the paths it would write and the files retention would
    delete. The role runs it with C(check_mode=false), so a check run of a playbook still gets its report.
extends_documentation_fragment:
  - runbook.ops.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  report_dir:
    description: Directory of the run reports (created when missing).
    type: path
    required: true
  name:
    description: Schedule or procedure name (C(daily), C(weekly), ...), the first part of the file names.
    type: str
    required: true
  stamp:
    description: UTC time stamp of the run, C(YYYYmmddTHHMMSSZ); the second part of the file names.
    type: str
    required: true
  host_reports:
    description: Paths of the per-host JSON reports of this run.
    type: list
    elements: path
    required: true
  targeted_hosts:
    description:
      - Every host the report play targeted (C(ansible_play_hosts_all)). Those without a per-host report in
        O(host_reports) are in the report as C(failed), without a message.
    type: list
    elements: str
    default: []
  metrics_dir:
    description:
      - Directory of node_exporter's textfile collector (for example C(/var/lib/prometheus/node-exporter)).
      - Not set, no metrics are written.
    type: path
  keep_last:
    description: Runs of O(name) to keep in O(report_dir); C(0) keeps all.
    type: int
    default: 30
notes:
  - "Metrics: C(runbook_run_timestamp_seconds), C(runbook_run_check_mode), C(runbook_run_status), C(runbook_run_partial),
    C(runbook_run_duration_seconds), C(runbook_run_interrupted), C(runbook_host_status), C(runbook_host_outcome)
    (label C(outcome)), C(runbook_host_unreachable), C(runbook_probe_status) (0 ok, 1 warning, 2 critical),
    C(runbook_probe_latency_seconds), C(runbook_backup_last_success_timestamp_seconds),
    C(runbook_backup_last_failure_timestamp_seconds) (0 when the series never failed),
    C(runbook_backup_last_success_size_bytes), C(runbook_backups_on_disk), C(runbook_backup_data_loss_warnings),
    C(runbook_backup_offsite_last_verified_timestamp_seconds), C(runbook_pg_dead_tuples) (C(when=before|after)),
    C(runbook_pg_database_size_bytes), C(runbook_redis_used_memory_bytes), C(runbook_redis_purged_keys)."
  - The HTML page is rendered by Jinja2 (part of ansible-core) with autoescape."
seealso:
  - module: runbook.ops.backup_history
  - plugin: runbook.ops.run_report
    plugin_type: callback
    description: The callback writes the same report at the end of every run, with every host the run targeted.
"""

EXAMPLES = r"""
- name: Merge the per-host reports of this run
  runbook.ops.run_report:
    report_dir: /var/tmp/runbook-reports
    name: daily
    stamp: "{{ _report_stamp }}"
    host_reports: "{{ ansible_play_hosts | map('extract', hostvars, 'report_file') | list }}"
    targeted_hosts: "{{ ansible_play_hosts_all }}"
    metrics_dir: /var/lib/prometheus/node-exporter
    keep_last: 30
  delegate_to: localhost
  run_once: true
  check_mode: false
"""

RETURN = r"""
json_path:
  description: The run report (JSON).
  returned: always
  type: str
  sample: /var/tmp/runbook-reports/daily-20261124T020000Z.json
html_path:
  description: The HTML report.
  returned: always
  type: str
  sample: /var/tmp/runbook-reports/daily-20261124T020000Z.html
url:
  description: C(file://) URL of the HTML report.
  returned: always
  type: str
metrics_path:
  description: The Prometheus textfile, or null without O(metrics_dir).
  returned: always
  type: str
  sample: /var/lib/prometheus/node-exporter/runbook_daily.prom
status:
  description: Worst status of the run, C(ok), C(warning) or C(critical).
  returned: always
  type: str
deleted:
  description: Files of older runs deleted by O(keep_last) (would delete, in check mode).
  returned: always
  type: list
  elements: str
hint:
  description: How to get the full report (the callback plugin C(runbook.ops.run_report)); the role prints it.
  returned: always
  type: str
summary:
  description: The compact run report (what the role publishes with set_stats for AWX).
  returned: always
  type: dict
  sample:
    schedule: daily
    stamp: 20261124T020000Z
    status: warning
    partial: null
    hosts: {db1: ok, web1: warning}
    probes: {ok: 7, warning: 1, critical: 0}
    tables_vacuumed: 2
    tables_analyzed_only: 1
    outcomes: {db1: changed, web1: ok}
    failed_hosts: []
    not_reached: []
    stopped: null
    data_loss: []
    dead_tuples_before: 33334
    dead_tuples_after: 0
    backups: []
    backups_deleted: 0
    rows_deleted: 0
    redis_keys_deleted: 0
    problems: [{host: web1, where: probe disk /, severity: warning, message: "disk 87% used"}]
    json: /var/tmp/runbook-reports/daily-20261124T020000Z.json
    html: /var/tmp/runbook-reports/daily-20261124T020000Z.html
    metrics: null
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.runbook.ops.plugins.module_utils._run_report import build
from ansible_collections.runbook.ops.plugins.module_utils._run_report_common import RunReportError
from ansible_collections.runbook.ops.plugins.module_utils._run_report_read import load_host_report
from ansible_collections.runbook.ops.plugins.module_utils._run_report_redact import redact
from ansible_collections.runbook.ops.plugins.module_utils._run_report_partial import ENABLE_HINT, partial_run


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            report_dir=dict(type="path", required=True),
            name=dict(type="str", required=True),
            stamp=dict(type="str", required=True),
            host_reports=dict(type="list", elements="path", required=True),
            targeted_hosts=dict(type="list", elements="str", default=[]),
            metrics_dir=dict(type="path"),
            keep_last=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        # what the module knows of the run without the callback (build reads the reports again: a few ms)
        run = partial_run([load_host_report(path) for path in p["host_reports"]], p["targeted_hosts"], redact)
        result = build(p["report_dir"], p["name"], p["stamp"], p["host_reports"], p["metrics_dir"],
                       p["keep_last"], module.check_mode, run=run)
    except RunReportError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=True, hint=ENABLE_HINT, **result)


if __name__ == "__main__":
    main()
