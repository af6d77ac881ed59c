# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: run_report
type: aggregate
short_description: Write the run report (JSON, HTML, Prometheus metrics, AWX artifacts) of every run
version_added: 0.1.0
author: runbook.ops maintainers (@runbook-ops)
description:
  - Sees every result of every host, whatever happens to it, and at the end of the run writes
    C(<report_dir>/<name>-<stamp>.json) and C(.html) (the run report, schema in the module
    C(runbook.ops.run_report)) and C(<metrics_dir>/runbook_<name>.prom), and publishes the summary as
    the custom stat C(runbook_run_report) (AWX job artifacts).
  - "Every host the playbook targets is in the report with its outcome: C(ok), C(changed), C(failed),
    C(unreachable) or C(not_reached) (a serial play or a failed play stopped the run before the host was
    reached), and for each failure the play, role, task and message (secrets redacted)."
  - "The step results are the C(<role>_results) facts the roles set, the manifests read by
    C(runbook.ops.backup_history) and the results of C(runbook.ops.backup_copy)."
  - The report is written however the run ends (failed or unreachable hosts, a play stopped by
    C(max_fail_percentage), check mode); an interrupted run writes what it saw, best effort.
  - "Enable it with C(callbacks_enabled = runbook.ops.run_report) in C(ansible.cfg) (the repository's does)
    or C(ANSIBLE_CALLBACKS_ENABLED=runbook.ops.run_report) (AWX job template or execution environment).
    The collection's playbooks load it themselves, without configuration (C(playbooks/callback_plugins))."
  - At the start of each play it sets the play variable C(runbook_run_report_callback), which turns off the partial
    run report of the role C(runbook.ops.report).
  - Inventory or extra variables override the options below (C(runbook_report_dir), C(runbook_metrics_dir),
    C(runbook_report_keep_last), C(runbook_report_name), C(runbook_data_loss_rows_share),
    C(runbook_data_loss_size_share)); they are read from the first host of the first play.
requirements:
  - enable in configuration
extends_documentation_fragment:
  - runbook.ops.run_report_callback
  - runbook.ops.run_report_alerts
"""

import atexit
import datetime as dt
import json
import os
import re
import sys
import time

from ansible.plugins.callback import CallbackBase

try:
    from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
    from ansible_collections.runbook.ops.plugins.module_utils import _run_report as R
    from ansible_collections.runbook.ops.plugins.module_utils import _run_report_notify as N
    from ansible_collections.runbook.ops.plugins.module_utils._run_report_common import STAMP_RE, RunReportError
    from ansible_collections.runbook.ops.plugins.module_utils._run_report_redact import redact
    from ansible_collections.runbook.ops.plugins.module_utils import _run_report_partial as P
    from ansible_collections.runbook.ops.plugins.module_utils import _run_report_slices as S
    from ansible_collections.runbook.ops.plugins.module_utils import _run_report_push as PUSH
except ImportError:  # pragma: no cover (the collection is always importable where the plugin loads)
    R = P = N = S = PUSH = None

_VARS = ("runbook_report_dir", "runbook_metrics_dir", "runbook_report_keep_last", "runbook_report_name",
         "runbook_data_loss_rows_share", "runbook_data_loss_size_share",
         "runbook_report_store", "runbook_report_slice_count", "runbook_report_job", "awx_job_id", "awx_workflow_job_id",
         "runbook_report_slices_merge")
_VARS += N.VARS if N else ()
_FACT_STEP = re.compile(r"^([a-z][a-z0-9_]*)_results$")
# a play variable that tells the role runbook.ops.report that this plugin writes the run report
ACTIVE_VAR = "runbook_run_report_callback"
_SECRET_VAR = re.compile(r"(?i)(pass(word)?|secret|token|api_?key)")


def _plain(value):
    """Results as plain JSON data (ansible's tagged strings, sets, dates become JSON types)."""
    return json.loads(json.dumps(value, default=str))


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "runbook.ops.run_report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.started = dt.datetime.now(dt.timezone.utc)
        self.clock = time.monotonic()
        self.playbook = None
        self.plays = []          # [{"name", "hosts": [...], "serial": bool, "started": bool, "reached": set()}]
        self.hosts = {}          # host -> {"events": n, "changed": bool, "failed": bool, "unreachable": bool, ...}
        self.results = {}        # host -> {step: result}
        self.history = {}        # host -> [backup_history entries]
        self.backup_failures = []
        self.settings = {}
        self.secrets = set()
        self.done = False
        self.play = None
        self.current = None
        self.stamp = None
        self.sources = {}
        atexit.register(self._at_exit)

    # -- what the run targets ---------------------------------------------------------------
    def v2_playbook_on_start(self, playbook):
        if getattr(playbook, "_file_name", None) == "__adhoc_playbook__":
            return  # an ad-hoc command (ansible -m ...): no run report
        self.playbook = getattr(playbook, "_file_name", None)
        for play in playbook.get_plays():
            self.plays.append({"uuid": play._uuid, "name": play.get_name(),  # pylint: disable=protected-access
                               "hosts": self._hosts_of(play), "serial": bool(play.serial), "started": False,
                               "reached": set(), "failed": set()})

    @staticmethod
    def _hosts_of(play):
        """The hosts a play targets (limit applied, serial batches not), or None when its pattern is a template."""
        pattern = play.hosts
        if isinstance(pattern, str) and "{{" in pattern:
            return None
        try:
            inventory = play.get_variable_manager()._inventory  # pylint: disable=protected-access
            return [h.name for h in inventory.get_hosts(pattern, ignore_restrictions=True)]
        except Exception:  # pylint: disable=broad-exception-caught
            return None

    def v2_playbook_on_play_start(self, play):
        if self.playbook is None:
            return  # an ad-hoc command (ansible -m ...): no run report
        self.play = play
        # a serial play starts once per batch, as a copy with the same uuid
        self.current = next((p for p in self.plays if p["uuid"] == play._uuid), None)  # pylint: disable=protected-access
        if self.current is None:
            self.current = {"uuid": play._uuid, "name": play.get_name(),  # pylint: disable=protected-access
                            "hosts": None, "serial": bool(play.serial), "started": False, "reached": set(), "failed": set()}
            self.plays.append(self.current)
        self.current["started"] = True
        self._announce(play)
        if self.current["hosts"] is None:
            self.current["hosts"] = self._hosts_of(play) or []
        if not self.settings:
            self._read_settings(play)
        self._put_first()

    def _announce(self, play):
        """Tell the role runbook.ops.report (its report_run_enabled) that this plugin writes the run report."""
        try:
            play.vars[ACTIVE_VAR] = self.CALLBACK_NAME
        except (AttributeError, TypeError) as exc:  # pragma: no cover (Play.vars is a dict in every ansible-core)
            self._display.warning(f"runbook.ops.run_report: cannot tell the report role it is enabled: {exc}")

    def _read_settings(self, play):
        """The report settings: inventory / extra variables of the play's first host, else the plugin options."""
        hosts = self._hosts_of(play) or []
        found = {}
        try:
            from ansible.template import Templar  # pylint: disable=import-outside-toplevel
            vm = play.get_variable_manager()
            inventory = vm._inventory  # pylint: disable=protected-access
            host = inventory.get_host(hosts[0]) if hosts else None
            variables = vm.get_vars(play=play, host=host)
            templar = Templar(loader=play._loader, variables=variables)  # pylint: disable=protected-access
            for name in _VARS:
                if name in variables:
                    found[name] = templar.template(variables[name])
            self._remember_secrets(variables)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            self._display.warning(f"runbook.ops.run_report: cannot read the report variables: {exc}")
        report_dir = found.get("runbook_report_dir") or self.get_option("report_dir")
        metrics = found.get("runbook_metrics_dir", self.get_option("metrics_dir"))
        self.settings = {
            "report_dir": str(report_dir),
            "metrics_dir": os.path.join(str(report_dir), "metrics") if metrics is None else str(metrics),
            "keep_last": int(found.get("runbook_report_keep_last", self.get_option("keep_last"))),
            "name": str(found.get("runbook_report_name") or self.get_option("name") or ""),
            "thresholds": {
                "rows_share": float(found.get("runbook_data_loss_rows_share", self.get_option("data_loss_rows_share"))),
                "size_share": float(found.get("runbook_data_loss_size_share", self.get_option("data_loss_size_share"))),
            },
        }
        self.settings["notify"] = N.settings(found, self.get_option)
        slice_ = self.settings["notify"]["push"].get("slice") or found.get("awx_job_id")
        count = found.get("runbook_report_slice_count", self.get_option("report_slice_count"))
        try:
            count = int(count or 0)
        except (TypeError, ValueError):
            self._display.warning(f"runbook.ops.run_report: report_slice_count: must be a whole number, got {count!r};"
                                  " the slice reports are stored but not merged")
            count = 0
        self.settings["slices"] = {
            # merge_slices.yml sets runbook_report_slices_merge: the merge is not a slice of its own
            "store": "" if found.get("runbook_report_slices_merge") else
                     str(found.get("runbook_report_store") or self.get_option("report_store") or ""),
            "count": count,
            "job": str(found.get("runbook_report_job") or self.get_option("report_job")
                       or found.get("awx_workflow_job_id") or found.get("awx_job_id") or ""),
            "slice": "" if slice_ is None else str(slice_),
        }
        push = self.settings["notify"]["push"]
        if count > 1 and not push.get("slice"):
            # a sliced job without slice labels: no slice pushes its part over the schedule's group; the
            # whole job's metrics are pushed once merged (_store_slice)
            self.settings["push_merged"] = push
            self.settings["notify"] = dict(self.settings["notify"], push={})

    def _remember_secrets(self, value, name="", depth=0):
        """Values of variables (or nested keys, e.g. runbook_pg_login.login_password) named like secrets."""
        if depth > 4:
            return
        if isinstance(value, dict):
            for key, item in value.items():
                self._remember_secrets(item, str(key), depth + 1)
        elif isinstance(value, (list, tuple)):
            for item in value:
                self._remember_secrets(item, name, depth + 1)
        elif isinstance(value, str) and _SECRET_VAR.search(name) and "{{" not in value:
            self.secrets.add(value)

    def _put_first(self):
        """Run this plugin's callbacks before the stdout callback's.

        Ansible calls the stdout callback first, and AWX's stdout callback (awx_display) reads the
        custom stats (the job artifacts) in its own v2_playbook_on_stats, before any other plugin
        would run: moving this plugin first lets it publish the run report's summary in time.
        Ansible offers callbacks no handle on the run, so the TaskQueueManager is taken from the
        caller's frame (send_callback).
        """
        frame = sys._getframe(1)  # pylint: disable=protected-access
        while frame is not None:
            tqm = frame.f_locals.get("self")
            plugins = getattr(tqm, "_callback_plugins", None)
            if isinstance(plugins, list) and self in plugins:
                if plugins[0] is not self:
                    plugins.remove(self)
                    plugins.insert(0, self)
                return
            frame = frame.f_back

    # -- results -------------------------------------------------------------------------------
    def _host(self, result):
        name = result._host.get_name()  # pylint: disable=protected-access
        return name, self.hosts.setdefault(name, {"events": 0, "changed": False, "failed": False,
                                                  "unreachable": False, "failures": []})

    def _seen(self, result):
        name, host = self._host(result)
        if self.playbook is None:
            return name, host
        host["events"] += 1
        if self.current is not None:
            self.current["reached"].add(name)
        return name, host

    def _where(self, result, message):
        task = result._task  # pylint: disable=protected-access
        role = getattr(task, "_role", None)
        return {"play": self.play.get_name() if self.play else "", "role": role.get_name() if role else "",
                "task": task.get_name(), "action": P.short_action(task.action),
                "message": redact(message, self.secrets)}

    def _collect(self, name, result):
        data = result._result  # pylint: disable=protected-access
        action = P.short_action(result._task.action)  # pylint: disable=protected-access
        steps = self.results.setdefault(name, {})
        facts = data.get("ansible_facts") or {}
        # the report role's per-host JSON: the run report takes its stamp and lists it as the host's source
        if action == "set_fact" and isinstance(facts.get("_report_stamp"), str) and STAMP_RE.match(facts["_report_stamp"]):
            self.stamp = self.stamp or facts["_report_stamp"]
        if action in ("set_fact", "host_report") and isinstance(facts.get("report_file"), str):
            self.sources[name] = facts["report_file"]
        for key, value in facts.items():
            m = _FACT_STEP.match(str(key))
            if m and action == "set_fact":
                steps[m.group(1)] = _plain(value)
        if action == "backup_history" and isinstance(data.get("backups"), list):
            self.history[name] = _plain(data["backups"])
        if action == "backup_copy":
            items = data.get("results") if isinstance(data.get("results"), list) else [data]
            steps.setdefault("backup_copy", []).extend(_plain(i) for i in items if isinstance(i, dict))

    def v2_runner_on_ok(self, result):
        name, host = self._seen(result)
        host["changed"] = host["changed"] or bool(result._result.get("changed"))  # pylint: disable=protected-access
        self._collect(name, result)

    def v2_runner_on_skipped(self, result):
        self._seen(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        name, host = self._seen(result)
        if ignore_errors:
            return
        data = result._result  # pylint: disable=protected-access
        message = data.get("msg") or data.get("stderr") or data.get("message") or "failed"
        failure = self._where(result, message)
        host["failed"] = True
        host["failures"].append(failure)
        if self.current is not None:
            self.current["failed"].add(name)
        args = (data.get("invocation") or {}).get("module_args") or {}
        self.backup_failures += P.backup_failures(name, failure["action"], args, failure["message"])

    def v2_runner_on_unreachable(self, result):
        name, host = self._seen(result)
        host["unreachable"] = True
        if self.current is not None:
            self.current["failed"].add(name)
        data = result._result  # pylint: disable=protected-access
        host["failures"].append(self._where(result, data.get("msg") or "unreachable"))

    # -- the end ---------------------------------------------------------------------------
    def _outcomes(self, stats=None, interrupted=False):
        """host -> outcome, failures, reason; and where the run stopped (None when every play ran to its end)."""
        dead = set()
        missed = {}
        stopped = None
        for p in self.plays:
            for h in p["hosts"] or []:
                if h in dead or h in missed or h in p["reached"]:
                    continue
                if p["started"] and interrupted:
                    missed[h] = f"not reached: the run was interrupted in the play {p['name']!r}"
                elif p["started"]:
                    missed[h] = f"not reached: the play {p['name']!r} stopped before this host"
                else:
                    missed[h] = f"not reached: the run stopped before the play {p['name']!r}"
                if stopped is None:
                    last = p if p["started"] else next(x for x in reversed(self.plays) if x["started"])
                    stopped = {"play": last["name"], "serial": last["serial"], "failed": sorted(last["failed"])}
            dead |= p["failed"]
        out = {}
        targeted = list(dict.fromkeys([h for p in self.plays for h in (p["hosts"] or [])] + list(self.hosts)))
        for h in targeted:
            seen = self.hosts.get(h) or {"events": 0, "changed": False, "failed": False, "unreachable": False,
                                         "failures": []}
            failed = bool(stats.failures.get(h)) if stats is not None else seen["failed"]
            # a failure a block rescued: shown, but the host did not fail
            failures = [dict(f, rescued=True) for f in seen["failures"]] if seen["failed"] and not failed \
                else seen["failures"]
            if seen["unreachable"] and (stats is None or stats.dark.get(h)):
                outcome = "unreachable"
            elif failed:
                outcome = "failed"
            elif not seen["events"]:
                outcome = "not_reached"
            else:
                outcome = "changed" if seen["changed"] else "ok"
            out[h] = {"outcome": outcome, "failures": failures,
                      "reason": missed.get(h, "") if outcome not in ("failed", "unreachable") else ""}
        if stopped:
            stopped["not_reached"] = sorted(h for h in missed if out[h]["outcome"] not in ("failed", "unreachable"))
        return out, stopped

    def _write(self, stats=None, interrupted=False):
        if self.done or R is None or self.playbook is None or not self.plays:
            return None
        self.done = True
        if not self.settings and self.play is not None:
            self._read_settings(self.play)
        settings = self.settings
        hosts, stopped = self._outcomes(stats, interrupted)
        finished = dt.datetime.now(dt.timezone.utc)
        check_mode = False
        try:
            from ansible import context  # pylint: disable=import-outside-toplevel
            check_mode = check_mode or bool(context.CLIARGS.get("check"))
        except Exception:  # pylint: disable=broad-exception-caught
            pass
        name = settings.get("name") or os.path.splitext(os.path.basename(self.playbook or "run"))[0]
        stamp = self.stamp or self.started.strftime("%Y%m%dT%H%M%SZ")
        run = {"playbook": self.playbook, "started_at": B.format_time(self.started),
               "finished_at": B.format_time(finished), "duration_seconds": round(time.monotonic() - self.clock, 3),
               "interrupted": interrupted, "stopped": stopped, "check_mode": check_mode, "hosts": hosts,
               "backup_failures": self.backup_failures}
        reports = [{"host": h, "schedule": name, "stamp": stamp, "check_mode": check_mode, "source": self.sources.get(h),
                    "results": self.results.get(h, {}), "backup_history": self.history.get(h, [])}
                   for h in hosts]
        try:
            done = R.build_run(settings.get("report_dir", "/var/tmp/runbook-reports"), name, stamp, reports, run,
                               settings.get("metrics_dir") or None, settings.get("keep_last", 30),
                               settings.get("thresholds"))
        except (OSError, RunReportError) as exc:
            self._display.warning(f"runbook.ops.run_report: the run report could not be written: {exc}")
            return None
        if stats is not None:
            stats.set_custom_stats("runbook_run_report", done["summary"])
        self._display.display(f"Run report ({done['status']}): {done['url']}")
        self._store_slice(settings.get("slices") or {}, name, stamp, done, settings)
        N.after_run(settings.get("notify") or {}, done, self.secrets, self._display)
        return done

    def _store_slice(self, cfg, name, stamp, done, settings):
        """With a report store: this run's report in it; when it is the last slice of its job, the merged report."""
        if not cfg.get("store"):
            return
        job = cfg.get("job") or stamp
        slice_ = cfg.get("slice") or "1"
        try:
            with open(done["json_path"], encoding="utf-8") as fh:
                report = json.load(fh)
            path = S.write_slice(cfg["store"], name, job, slice_, report, cfg.get("count") or 1)
            self._display.display(f"Slice {slice_} of job {job}: {path}")
            if cfg.get("count", 0) > 1 and len(S.slice_files(os.path.dirname(path))) >= cfg["count"]:
                merged = R.build_slices(cfg["store"], name, job, cfg["count"], [], thresholds=settings.get("thresholds"))
                self._display.display(f"Merged run report of {cfg['count']} slices ({merged['status']}): {merged['url']}")
                push = settings.get("push_merged") or {}
                if push.get("url"):
                    with open(merged["json_path"], encoding="utf-8") as fh:
                        error = PUSH.push_metrics(push, json.load(fh))
                    if error:
                        self._display.warning("runbook.ops.run_report: the whole job's metrics were not pushed "
                                              f"(the run's result is unchanged): {error}")
        except (OSError, ValueError, RunReportError) as exc:
            self._display.warning(f"runbook.ops.run_report: the slice report could not be stored or merged: {exc}")

    def v2_playbook_on_stats(self, stats):
        self._write(stats)

    def _at_exit(self):
        if not self.done and self.plays:
            self._write(None, interrupted=True)
