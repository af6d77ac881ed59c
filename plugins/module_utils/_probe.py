# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Health probes of runbook.ops: every kind, put together over the core.

Where things are:

- ``_deadline.py``: the one deadline helper (also used by the PostgreSQL and Redis client layers);
- ``_probe_schema.py``: statuses, results, the schema of probe definitions and thresholds;
- ``_probe_core.py``: the runner (one child process per attempt, killed at the deadline);
- ``_probe_network.py``: http, websocket, tcp, certificate;
- ``_probe_data.py``: postgres, redis, celery;
- ``_probe_host.py``: systemd, container, disk, memory, load, pm2, command.

This file registers the families' kinds in ``KINDS`` and re-exports what
``health_probe`` and the tests use.
"""

from __future__ import annotations

from ansible_collections.runbook.ops.plugins.module_utils import _probe_data, _probe_host, _probe_network
from ansible_collections.runbook.ops.plugins.module_utils._probe_core import (
    Attempt, Context, attempt, attempt_budget, evaluate, failure_message, probe_budget, run_probe, run_probes,
    should_fail, summarize,
)
from ansible_collections.runbook.ops.plugins.module_utils._probe_data import (
    check_celery, check_postgres, check_redis,
)
from ansible_collections.runbook.ops.plugins.module_utils._probe_host import (
    container_verdict, disk_usage, parse_meminfo, parse_pm2_jlist, parse_systemctl_show, pm2_verdict,
    systemd_verdict,
)
from ansible_collections.runbook.ops.plugins.module_utils._probe_network import (
    cert_not_after, check_certificate, check_http, check_tcp, check_websocket,
)
from ansible_collections.runbook.ops.plugins.module_utils._probe_schema import (
    CRITICAL, FAIL_ON, KINDS, OK, STATUSES, WARNING, Field, Kind, Metric, Outcome, ProbeDefinitionError,
    ProbeFailure, ProbeResult, secret_values, validate_probes, worst,
)

__all__ = [
    "Attempt",
    "CRITICAL",
    "Context",
    "FAIL_ON",
    "Field",
    "KINDS",
    "Kind",
    "Metric",
    "OK",
    "Outcome",
    "ProbeDefinitionError",
    "ProbeFailure",
    "ProbeResult",
    "STATUSES",
    "WARNING",
    "attempt",
    "attempt_budget",
    "cert_not_after",
    "check_celery",
    "check_certificate",
    "check_http",
    "check_postgres",
    "check_redis",
    "check_tcp",
    "check_websocket",
    "container_verdict",
    "disk_usage",
    "evaluate",
    "failure_message",
    "parse_meminfo",
    "parse_pm2_jlist",
    "parse_systemctl_show",
    "pm2_verdict",
    "probe_budget",
    "run_probe",
    "run_probes",
    "secret_values",
    "should_fail",
    "summarize",
    "systemd_verdict",
    "validate_probes",
    "worst",
]

for _family in (_probe_network, _probe_data, _probe_host):
    KINDS.update(_family.KINDS)
