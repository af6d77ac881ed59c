# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Options shared by backup_copy and backup_fetch (documented in doc_fragments/offsite.py)."""

from __future__ import annotations


def destination_spec() -> dict:
    return dict(
        destination=dict(
            type="dict",
            required=True,
            options=dict(
                type=dict(type="str", required=True, choices=["path", "ssh", "s3"]),
                path=dict(type="str"),
                host=dict(type="str"),
                user=dict(type="str"),
                port=dict(type="int", default=22),
                identity_file=dict(type="path"),
                known_hosts_file=dict(type="path"),
                host_key_checking=dict(type="str", default="yes", choices=["yes", "accept-new", "no"]),
                ssh_executable=dict(type="str", default="ssh"),
                bucket=dict(type="str"),
                prefix=dict(type="str", default=""),
                endpoint_url=dict(type="str"),
                region=dict(type="str"),
                access_key=dict(type="str", no_log=True),
                secret_key=dict(type="str", no_log=True),
                session_token=dict(type="str", no_log=True),
                sse=dict(type="str", default="none", choices=["none", "AES256", "aws:kms"]),
                sse_kms_key_id=dict(type="str", no_log=False),
                validate_certs=dict(type="bool", default=True),
                ca_bundle=dict(type="path"),
            ),
        ),
        timeout=dict(type="float", default=60),
        bwlimit=dict(type="int", default=0),
    )
