# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Secrets out of failure messages before they reach a report, a state file or the job's artifacts."""

from __future__ import annotations

import re
import typing as t


_SECRET_PATTERNS = (
    # password=..., PGPASSWORD: ..., "token": "..."
    re.compile(r"""(?i)((?:pass(?:word|wd)?|pwd|secret|token|api[_-]?key|auth)["']?\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&}]+)"""),
    # scheme://user:secret@host
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)([^@\s]+)(?=@)"),
)
REDACTED = "********"


def redact(text: t.Any, secrets: t.Iterable[str] = ()) -> str:
    """``text`` with known secret values and password-looking assignments replaced by ``********``."""
    out = "" if text is None else str(text)
    for secret in sorted({str(s) for s in secrets if s and len(str(s)) >= 4}, key=len, reverse=True):
        out = out.replace(secret, REDACTED)
    for pattern in _SECRET_PATTERNS:
        out = pattern.sub(lambda m: m.group(1) + REDACTED, out)
    return out
