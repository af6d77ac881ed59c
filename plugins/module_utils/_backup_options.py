# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The options every backup module shares (pg_backup, redis_backup, file_backup).

Documented once in the ``runbook.ops.backup`` doc fragment; a change here goes there too.
"""

from __future__ import annotations


def backup_options_spec(**options) -> dict:
    """Where backups go, who owns them and how many are kept; then the module's own ``options``."""
    spec = dict(
        backup_dir=dict(type="path", required=True),
        keep_last=dict(type="int"),
        max_age_days=dict(type="float"),
        prune_unverified=dict(type="bool", default=False),
        owner=dict(type="str"),
        group=dict(type="str"),
    )
    spec.update(options)
    return spec
