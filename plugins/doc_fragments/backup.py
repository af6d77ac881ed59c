# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Options of every backup module (module_utils/_backup_options.py): pg_backup, redis_backup, file_backup.
    DOCUMENTATION = r"""
options:
  backup_dir:
    description: Directory on the managed host that receives the backups (created with mode 0700 if missing).
    type: path
    required: true
  keep_last:
    description:
      - Keep at most this many verified backups of each series (each database for M(runbook.ops.pg_backup), the
        series name for the other backup modules). The newest verified backup is always kept.
    type: int
  max_age_days:
    description: Delete verified backups of a series older than this many days (except the newest verified one).
    type: float
  prune_unverified:
    description:
      - Also delete backups that are not verified (verification skipped or failed) or incomplete, when they are
        older than the newest verified backup of their series. By default they are kept and reported.
    type: bool
    default: false
  owner:
    description: Owner (name or uid) of the created files and directories.
    type: str
  group:
    description: Group (name or gid) of the created files and directories.
    type: str
"""
