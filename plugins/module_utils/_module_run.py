# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How every client-backed module ends: one result, or one clear failure, with the client closed."""

from __future__ import annotations

import typing as t


def run_and_exit(module, client, error_type: type[Exception], body: t.Callable[[t.Any], dict]) -> None:
    """Run ``body(client)``; exit with its dict, or fail with the message of an ``error_type``.

    The client (anything with ``close()``) is closed on both paths; other exceptions propagate
    so that Ansible shows their traceback.
    """
    try:
        result = body(client)
    except error_type as exc:
        client.close()
        module.fail_json(msg=str(exc))
    client.close()
    module.exit_json(**result)
