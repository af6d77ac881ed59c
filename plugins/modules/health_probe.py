#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: health_probe
short_description: Check every part of the stack concurrently and return one verdict
version_added: 0.1.0
author: runbook.ops maintainers (@runbook-ops)
description:
  - Runs a list of health probes concurrently on the managed host (HTTP, WebSocket, TCP, PostgreSQL,
    Redis, Celery, systemd, containers, disk, memory, load, certificates, PM2, commands) and returns
    one structured result per probe plus a summary by status.
  - Each probe reports V(ok), V(warning) or V(critical) with the measured value, a short message,
    its latency and the number of attempts. Numbers are compared with warning and critical thresholds.
  - Every probe definition is validated before any probe runs; a bad definition fails the task naming
    the probe (index and name) and the field.
  - The module never reports C(changed) and runs the same in check mode.
extends_documentation_fragment:
  - runbook.ops.attributes
  - runbook.ops.attributes.READ_ONLY
options:
  probes:
    description:
      - The probes, each a dict with C(name), C(kind) and the fields of its kind (below).
      - Unknown fields are an error, so typos are caught before anything runs.
      - "Fields of every kind: C(timeout) (seconds one attempt may take in total, default 10: connect, TLS
        handshake, every read and the whole exchange; a peer that sends a byte now and then does not extend it),
        C(retries) (extra attempts
        while the probe is critical, default 0), C(delay) (seconds between attempts, default 1),
        C(warn) and C(crit) (thresholds of the kind's primary metric) and
        C(thresholds) (C({metric: {warn: N, crit: N}}) for any metric of the kind)."
      - "A metric where higher is worse is critical when C(value >= crit) and a warning when C(value >= warn);
        where lower is worse (C(days_left), C(workers)) critical when C(value <= crit), a warning when
        C(value <= warn). C(warn) must not be beyond C(crit)."
      - "V(http): C(url) (required), C(method) (default GET), C(status_code) (list, default [200]),
        C(headers), C(body) (request body), C(body_regex), C(json_query) (jmespath over the JSON body, must
        be true or equal C(json_equals)), C(follow_redirects) (default true), C(use_proxy) (default false),
        C(validate_certs) (default true), C(ca_path), C(client_cert), C(client_key).
        Metric C(latency_ms) (primary)."
      - "V(websocket): C(url) (C(ws://) or C(wss://), required), C(headers), C(origin), C(subprotocols) and the
        TLS fields of V(http). Passes when the server answers the Upgrade with 101 and the correct
        C(Sec-WebSocket-Accept). Metric C(latency_ms)."
      - "V(tcp): C(host), C(port) (required). Metric C(latency_ms)."
      - "V(postgres): C(login_host), C(login_port), C(login_unix_socket), C(login_user), C(login_password),
        C(login_db), C(ssl_mode), C(ca_cert), C(ssl_cert), C(ssl_key) as in the PostgreSQL modules, and
        C(expect_role) (V(primary) or V(replica)). Connects and runs C(SELECT 1). Metrics C(connections_pct)
        (client connections in percent of C(max_connections), primary, default warn 80 crit 95),
        C(replication_lag_s) (on a replica), C(latency_ms)."
      - "V(redis): C(login_host), C(login_port), C(login_unix_socket), C(login_user), C(login_password),
        C(db), C(tls), C(validate_certs), C(ca_certs), C(client_cert_file), C(client_key_file) as in the Redis
        modules. Sends PING. Metrics C(memory_pct) (C(used_memory) in percent of C(maxmemory), primary, default
        warn 80 crit 95, not measured without C(maxmemory)), C(connected_clients), C(rejected_connections),
        C(latency_ms)."
      - "V(celery): C(broker_url) (required, e.g. C(redis://host:6379/0)), C(queues) (default [celery]),
        C(workers) (worker names that must answer), C(reply_timeout) (seconds to wait for replies, default 2),
        C(stuck_after) (seconds after which an active task counts as stuck). Needs the C(celery) library on the
        managed host. Metrics C(queue_depth) (the deepest of C(queues), primary), C(workers) (answering ping;
        lower is worse, default crit 0), C(stuck_tasks) (default crit 1)."
      - "V(systemd): C(unit) (required), C(settle_seconds) (re-check after this long that the unit is still
        active with the same main PID, start time and restart count), C(expect_state) (default [active]),
        C(scope) (V(system) or V(user)). Metric C(restarts) (C(NRestarts))."
      - "V(container): C(container) (name or id) or C(service) (compose service label), C(project),
        C(engine) (V(auto), V(podman), V(docker)). Critical when not running or unhealthy, warning while the
        health check is starting. Metric C(restarts)."
      - "V(disk): C(path) (default C(/)). Metrics C(usage_pct) (primary) and C(inodes_pct), default warn 85 crit 95."
      - "V(memory): metric C(used_pct) (from C(MemAvailable)), default warn 90 crit 95."
      - "V(load): C(period) (1, 5 or 15 minutes, default 5). Metric C(load_per_cpu), default warn 1.5 crit 3."
      - "V(certificate): C(path) of a PEM or DER file, or C(host), C(port) (default 443) and C(server_name)
        (SNI, default C(host)) of a live TLS endpoint. Metric C(days_left) (lower is worse, default warn 30
        crit 7); an expired certificate is critical. RV(results[].details) has C(not_after) (ISO 8601) and
        C(not_after_timestamp) (Unix time) of the certificate's expiry."
      - "V(pm2): C(apps) (names that must be online; default all), C(pm2_bin), C(pm2_home). Every app must be
        C(online). Metric C(restarts) (the highest restart count)."
      - "V(command): C(argv) (list, required, run without a shell), C(expect_rc) (default [0]),
        C(stdout_regex), C(environment). The command also runs in check mode, so give read-only commands."
    type: list
    elements: dict
    required: true
  max_workers:
    description: Number of probe attempts run at the same time (each in a child process of its own).
    type: int
    default: 8
  fail_on:
    description:
      - V(critical) fails the task when any probe is critical, V(warning) when any is warning or critical,
        V(never) never fails for probe results. Results and summary are returned in every case.
    type: str
    default: critical
    choices: [critical, warning, never]
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
requirements:
  - psycopg 3 for V(postgres) probes, redis-py for V(redis) probes, celery for V(celery) probes,
    jmespath for C(json_query), cryptography (or the C(openssl) command) for V(certificate) probes,
    on the managed host.
notes:
  - "Time bound: every attempt of a probe runs in a child process under one deadline of its C(timeout)
    (plus C(settle_seconds) for V(systemd)). An attempt that has not answered by then is critical with
    C(no complete answer within N s (deadline)); its process, with everything it started, is killed at the
    latest 1 s after the deadline, so no thread, socket or process outlives the module."
  - "A probe takes at most (C(timeout) + C(settle_seconds) + 1 s) x (C(retries) + 1) + C(delay) x C(retries);
    the module at most the sum of its probes' bounds divided among O(max_workers) (with as many workers as
    probes: the longest probe's bound)."
  - Passwords in probe definitions (C(login_password), passwords in C(broker_url), secret-looking
    headers) are never returned or logged.
seealso:
  - name: ansible/ansible issue 24450
    description: The systemd module reports success when a service dies right after starting; see C(settle_seconds).
    link: https://github.com/ansible/ansible/issues/24450
  - module: runbook.ops.pg_report
  - module: runbook.ops.redis_maintenance
"""

EXAMPLES = r"""
- name: Check the stack
  runbook.ops.health_probe:
    max_workers: 10
    fail_on: critical
    probes:
      - name: api
        kind: http
        url: https://app.example.com/health
        json_query: status == 'ok'
        warn: 500
        crit: 2000
        retries: 2
        delay: 1
      - name: websocket
        kind: websocket
        url: wss://app.example.com/ws/
      - name: db
        kind: postgres
        login_host: 127.0.0.1
        login_password: "{{ vault_pg_password }}"
        thresholds:
          connections_pct: {warn: 70, crit: 90}
      - name: cache
        kind: redis
        login_host: 127.0.0.1
      - name: workers
        kind: celery
        broker_url: redis://127.0.0.1:6379/0
        queues: [celery, emails]
        stuck_after: 600
        thresholds:
          queue_depth: {warn: 100, crit: 1000}
      - name: backend
        kind: systemd
        unit: myapp-backend.service
        settle_seconds: 5
      - name: web container
        kind: container
        service: web
      - name: data disk
        kind: disk
        path: /var/lib/postgresql
      - name: tls
        kind: certificate
        host: app.example.com
      - name: migrations applied
        kind: command
        argv: [/srv/app/manage.py, showmigrations, --plan]
        stdout_regex: '\[X\]'
  register: health

- name: Report warnings without failing
  ansible.builtin.debug:
    msg: "{{ health.summary.warning_probes }}"
  when: health.summary.warning > 0
"""

RETURN = r"""
status:
  description: The worst status of all probes.
  returned: always
  type: str
  sample: warning
results:
  description: One entry per probe, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The probe's name.
      type: str
      returned: always
    kind:
      description: The probe's kind.
      type: str
      returned: always
    status:
      description: V(ok), V(warning) or V(critical).
      type: str
      returned: always
    message:
      description: What was found, and which threshold was crossed.
      type: str
      returned: always
    value:
      description: The primary metric's value; null when the kind measures none or the probe failed before measuring.
      type: raw
      returned: always
    unit:
      description: Unit of RV(results[].value).
      type: str
      returned: always
    latency_ms:
      description: Duration of the last attempt in milliseconds (the request time for network probes).
      type: float
      returned: always
    duration_ms:
      description: Duration of all attempts and delays in milliseconds.
      type: float
      returned: always
    attempts:
      description: Attempts made (1 + retries used).
      type: int
      returned: always
    metrics:
      description: Every measured metric with its value, unit, warn, crit and status.
      type: dict
      returned: always
    details:
      description: Kind-specific details such as the HTTP status code, answering workers, queue depths or containers.
      type: dict
      returned: always
  sample:
    - name: api
      kind: http
      status: ok
      message: HTTP 200 in 12 ms
      value: 12.3
      unit: ms
      latency_ms: 12.3
      duration_ms: 12.9
      attempts: 1
      metrics: {latency_ms: {value: 12.3, unit: ms, warn: 500, crit: 2000, status: ok}}
      details: {status_code: 200, url: "https://app.example.com/health"}
summary:
  description: Counts by status, the overall status and the names of warning and critical probes.
  returned: always
  type: dict
  sample: {ok: 8, warning: 1, critical: 0, total: 9, status: warning, critical_probes: [], warning_probes: [tls]}
duration_ms:
  description: Wall-clock time of the whole run in milliseconds (about the slowest probe).
  returned: always
  type: float
  sample: 231.5
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils._probe import (
    FAIL_ON, Context, ProbeDefinitionError, failure_message, run_probes, secret_values, should_fail, summarize,
    validate_probes,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            probes=dict(type="list", elements="dict", required=True),
            max_workers=dict(type="int", default=8),
            fail_on=dict(type="str", default="critical", choices=list(FAIL_ON)),
        ),
        supports_check_mode=True,
    )
    module.no_log_values.update(secret_values(module.params["probes"]))
    if module.params["max_workers"] < 1:
        module.fail_json(msg=f"max_workers: must be >= 1, got {module.params['max_workers']}")
    try:
        probes = validate_probes(module.params["probes"])
    except ProbeDefinitionError as exc:
        module.fail_json(msg="invalid probe definitions: " + "; ".join(exc.errors), errors=exc.errors)

    started = time.monotonic()
    results = run_probes(probes, module.params["max_workers"], Context(check_mode=module.check_mode,
                                                                       which=module.get_bin_path))
    summary = summarize(results)
    out = dict(
        changed=False,
        status=summary["status"],
        results=[r.as_dict() for r in results],
        summary=summary,
        duration_ms=round((time.monotonic() - started) * 1000, 1),
    )
    if should_fail(summary, module.params["fail_on"]):
        module.fail_json(msg=failure_message(results, module.params["fail_on"]), **out)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
