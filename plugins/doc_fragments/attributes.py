# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Attributes common to runbook.ops modules.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
"""

    # Read-only modules: check mode fully supported, never changed.
    READ_ONLY = r"""
options: {}
attributes:
  check_mode:
    support: full
    details: The module only reads; it runs the same in check mode.
  diff_mode:
    support: none
"""

    # Modules of the action group runbook.ops.postgres (meta/runtime.yml).
    ACTION_GROUP_POSTGRES = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/runbook.ops.postgres) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - runbook.ops.postgres
"""

    # Modules of the action group runbook.ops.redis (meta/runtime.yml).
    ACTION_GROUP_REDIS = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/runbook.ops.redis) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - runbook.ops.redis
"""
