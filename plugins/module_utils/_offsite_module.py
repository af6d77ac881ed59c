# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The module glue of backup_copy and backup_fetch: build the destination of kind ``destination.type``, run, map errors."""

from __future__ import annotations

import typing as t

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
from ansible_collections.runbook.ops.plugins.module_utils._dest_base import Destination, OffsiteError
from ansible_collections.runbook.ops.plugins.module_utils._dest_path import PathDestination
from ansible_collections.runbook.ops.plugins.module_utils._dest_s3 import BOTO3_IMP_ERR, S3Destination
from ansible_collections.runbook.ops.plugins.module_utils._dest_ssh import SshDestination


KINDS = {"path": PathDestination, "ssh": SshDestination, "s3": S3Destination}


def make_destination(opts: dict, timeout: float) -> Destination:
    return KINDS[opts["type"]](opts, timeout)


def run_module(module, body: t.Callable[[Destination], dict]) -> t.NoReturn:
    """Build the destination, run ``body``, map errors to fail_json (never with credentials)."""
    from ansible.module_utils.basic import missing_required_lib  # pylint: disable=import-outside-toplevel

    p = module.params
    if (p.get("bwlimit") or 0) < 0:
        module.fail_json(msg="bwlimit: must not be negative")
    if p["timeout"] <= 0:
        module.fail_json(msg="timeout: must be positive")
    try:
        dest = make_destination(p["destination"], p["timeout"])
    except ImportError:
        module.fail_json(msg=missing_required_lib("boto3") + " (needed for destination.type=s3)", exception=BOTO3_IMP_ERR)
    except OffsiteError as exc:
        module.fail_json(msg=str(exc))
    partial: dict = {"destination": dest.url}
    try:
        result = body(dest)
    except (OffsiteError, B.BackupError) as exc:
        module.fail_json(msg=str(exc), **partial)
    except OSError as exc:
        msg = f"{dest.url}: {exc}"
        if B.is_no_space(exc):
            msg = f"no space left: {exc}"
        module.fail_json(msg=msg, **partial)
    finally:
        dest.close()
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)
