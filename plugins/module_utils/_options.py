# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Options that select what a module deletes, cancels or terminates, taken as the user wrote them.

Ansible turns a string given to a ``type: list`` option into a list by splitting it at its
commas: ``pattern: "report:2026,11:*"`` became ``["report:2026", "11:*"]`` and redis_purge
deleted ``11:*``. So such options are declared ``type: raw`` and read with :func:`whole_list`:
a YAML list is taken element by element, a string without a comma is a list of that one
string, and a string with a comma is refused with an error naming the option (it is never
split). A singular option (redis_purge's ``pattern``) is ``type: str`` and taken whole.
"""

from __future__ import annotations

import os
import typing as t


class OptionError(ValueError):
    """A selection option given in a form that could be misread; the message names the option."""


def whole_list(value: t.Any, option: str, single: str | None = None, path: bool = False) -> list[str]:
    """The strings of a list option declared ``type: raw`` (see the module docstring).

    ``single`` names a singular string option to suggest for one value; ``path`` expands
    ``~`` and environment variables like Ansible's ``type: path``.
    """
    if value is None:
        return []
    if isinstance(value, str):
        if "," in value:
            hint = f" or {single}: {value!r} for one value" if single else ""
            raise OptionError(
                f"{option}: got the string {value!r}. It contains a comma, and Ansible would split it into "
                f"{value.split(',')!r}; this option selects what to act on, so it takes a YAML "
                f"list only: {option}: [{value!r}]{hint}")
        items: list = [value]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        items = [value]
    else:
        raise OptionError(f"{option}: expected a list of strings, got {type(value).__name__} {value!r}")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, bool) or item is None or not isinstance(item, (str, int, float)):
            raise OptionError(f"{option}[{i}]: expected a string, got {type(item).__name__} {item!r}")
        text = str(item)
        out.append(os.path.expanduser(os.path.expandvars(text)) if path else text)
    return out
