# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Options of the run_report callback that tell someone: the Pushgateway push and the notifications
    # (module_utils/_run_report_push.py, _run_report_notify.py).
    DOCUMENTATION = r"""
options:
  pushgateway_url:
    description:
      - Base URL of a Prometheus Pushgateway (for example C(http://pushgateway:9091)); empty pushes nothing.
      - At the end of every run (failed and interrupted runs too) the run's metrics replace the group
        C(job=runbook_ops), C(schedule=<name>) (and C(slice=<n>), see O(report_slice)).
      - A Pushgateway that is down or slow never fails the run; it delays it by at most O(pushgateway_timeout)
        and a warning says the metrics were not pushed.
      - The variable C(runbook_pushgateway_url) overrides it.
    type: str
    env:
      - name: RUNBOOK_PUSHGATEWAY_URL
    ini:
      - section: callback_runbook_report
        key: pushgateway_url
  pushgateway_timeout:
    description: Seconds the whole push may take (connect, send, answer). The variable C(runbook_pushgateway_timeout) overrides it.
    type: float
    default: 10
    env:
      - name: RUNBOOK_PUSHGATEWAY_TIMEOUT
    ini:
      - section: callback_runbook_report
        key: pushgateway_timeout
  report_slice:
    description:
      - The slice of a sliced job this run is (AWX job slicing), added to the Pushgateway group as C(slice),
        so that the slices of one schedule do not replace each other's metrics. Empty for an unsliced run.
      - The variable C(runbook_report_slice) overrides it.
    type: str
    env:
      - name: RUNBOOK_REPORT_SLICE
    ini:
      - section: callback_runbook_report
        key: report_slice
  notify_webhook_url:
    description:
      - Incoming webhook (Slack, Mattermost, Microsoft Teams connector) that gets one message at the end of a run whose status is
        O(notify_min_status) or worse; empty sends none.
      - The JSON holds C(text) (schedule, worst status, failed and unreachable hosts, top problems, the report's link; secrets redacted) and Teams'
        MessageCard fields.
      - The variable C(runbook_notify_webhook_url) overrides it.
    type: str
    env:
      - name: RUNBOOK_NOTIFY_WEBHOOK_URL
    ini:
      - section: callback_runbook_report
        key: notify_webhook_url
  notify_email_to:
    description:
      - Addresses that get the same message by email (SMTP); empty sends none.
      - In the environment or C(ansible.cfg) a comma-separated list. The variable C(runbook_notify_email_to) overrides it.
    type: list
    elements: str
    env:
      - name: RUNBOOK_NOTIFY_EMAIL_TO
    ini:
      - section: callback_runbook_report
        key: notify_email_to
  notify_email_from:
    description:
      - Sender of the email; default C(runbook-ops@<controller FQDN>).
      - The variable C(runbook_notify_email_from) overrides it.
    type: str
    env:
      - name: RUNBOOK_NOTIFY_EMAIL_FROM
    ini:
      - section: callback_runbook_report
        key: notify_email_from
  notify_smtp_host:
    description:
      - SMTP server. The variable C(runbook_notify_smtp_host) overrides it.
    type: str
    default: localhost
    env:
      - name: RUNBOOK_NOTIFY_SMTP_HOST
    ini:
      - section: callback_runbook_report
        key: notify_smtp_host
  notify_smtp_port:
    description:
      - SMTP port; C(0) is 25, 587 or 465 after O(notify_smtp_security). The variable C(runbook_notify_smtp_port) overrides it.
    type: int
    default: 0
    env:
      - name: RUNBOOK_NOTIFY_SMTP_PORT
    ini:
      - section: callback_runbook_report
        key: notify_smtp_port
  notify_smtp_security:
    description:
      - C(none), C(starttls) or C(ssl) (implicit TLS); TLS checks the server's certificate against the system's CAs or
        O(notify_smtp_ca_file). The variable
        C(runbook_notify_smtp_security) overrides it.
    type: str
    default: none
    env:
      - name: RUNBOOK_NOTIFY_SMTP_SECURITY
    ini:
      - section: callback_runbook_report
        key: notify_smtp_security
  notify_smtp_ca_file:
    description:
      - PEM file of the CA (or CAs) that signed the SMTP server's certificate, for a private CA; empty uses the system's CAs.
        With O(notify_smtp_security=starttls) or O(notify_smtp_security=ssl) the certificate and the host name O(notify_smtp_host)
        are always checked; a certificate that does not pass sends nothing, and the run report records why.
      - The variable C(runbook_notify_smtp_ca_file) overrides it.
    type: path
    env:
      - name: RUNBOOK_NOTIFY_SMTP_CA_FILE
    ini:
      - section: callback_runbook_report
        key: notify_smtp_ca_file
  notify_smtp_user:
    description:
      - SMTP login (none when empty). The variable C(runbook_notify_smtp_user) overrides it.
    type: str
    env:
      - name: RUNBOOK_NOTIFY_SMTP_USER
    ini:
      - section: callback_runbook_report
        key: notify_smtp_user
  notify_smtp_password:
    description:
      - SMTP password (never printed). The variable C(runbook_notify_smtp_password) overrides it.
    type: str
    env:
      - name: RUNBOOK_NOTIFY_SMTP_PASSWORD
    ini:
      - section: callback_runbook_report
        key: notify_smtp_password
  notify_min_status:
    description:
      - The least status of a run that sends the notifications, C(warning) or C(critical). The variable C(runbook_notify_min_status) overrides it.
    type: str
    default: warning
    env:
      - name: RUNBOOK_NOTIFY_MIN_STATUS
    ini:
      - section: callback_runbook_report
        key: notify_min_status
  notify_timeout:
    description:
      - Seconds each notification may take in all (for a webhook connect, send and answer; for an email the whole SMTP exchange). A failed
        notification is printed and recorded in the run report's JSON (C(notifications)), and never changes the run's result.
      - The variable C(runbook_notify_timeout) overrides it.
    type: float
    default: 10
    env:
      - name: RUNBOOK_NOTIFY_TIMEOUT
    ini:
      - section: callback_runbook_report
        key: notify_timeout
"""
