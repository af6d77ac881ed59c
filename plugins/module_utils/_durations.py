# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Human durations ("90d", "12h", "1w2d") as seconds, for ages and thresholds."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")


def parse_duration(value, default_unit: str = "d") -> float:
    """Seconds in ``value``: a number (in ``default_unit``) or a string such as
    ``"90d"``, ``"12h"``, ``"1w 2d"``, ``"30m"``, ``"45s"``.

    Raises ValueError with the offending text for anything else, zero or negative.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):
        seconds = float(value) * _UNITS[default_unit]
    else:
        text = str(value).strip().lower()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text) * _UNITS[default_unit]
        else:
            pos, seconds = 0, 0.0
            compact = text.replace(" ", "")
            for match in _PART.finditer(compact):
                if match.start() != pos:
                    break
                seconds += float(match.group(1)) * _UNITS[match.group(2)]
                pos = match.end()
            if pos != len(compact) or not compact:
                raise ValueError(f"{value!r} is not a duration (use e.g. 90d, 12h, 30m, 45s, 2w)")
    if seconds <= 0:
        raise ValueError(f"{value!r} must be a positive duration")
    return seconds
