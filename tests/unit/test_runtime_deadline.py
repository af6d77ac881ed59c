# SPDX-License-Identifier: GPL-3.0-or-later
"""Runtime commands with a deadline: killed with their whole process group, with real processes.

Bounds are wide (a hang would exceed them by far); nothing measures speed.
"""
from __future__ import annotations

import io
import time

import pytest
from harness.procs import wait_gone

from ansible_collections.runbook.ops.plugins.module_utils._runtime import Runtime, RuntimeFailure


class _Module:
    """The slice of AnsibleModule a host Runtime uses with a timeout (no engine lookup)."""

    def get_bin_path(self, name):
        return None


@pytest.mark.parametrize("how", ["run", "run_to_file", "run_from_file"])
def test_a_command_past_its_deadline_is_killed_with_what_it_started(tmp_path, how):
    pidfile = tmp_path / "child"
    # a background grandchild, then a foreground sleep: both must die at the deadline
    script = f"sh -c 'echo $$ > {pidfile}; exec sleep 300' & while true; do echo x; sleep 0.2; done"
    rt = Runtime(_Module())
    t0 = time.monotonic()
    with pytest.raises(RuntimeFailure, match=r"^sh: no complete answer within 1 s \(deadline\)$"):
        if how == "run":
            rt.run(["sh", "-c", script], timeout=1)
        elif how == "run_to_file":
            rt.run_to_file(["sh", "-c", script], io.BytesIO(), timeout=1)
        else:
            rt.run_from_file(["sh", "-c", script], io.BytesIO(b"data"), timeout=1)
    assert time.monotonic() - t0 < 1 + 10
    assert wait_gone(int(pidfile.read_text()))


def test_commands_within_their_deadline_are_unchanged():
    rt = Runtime(_Module())
    out = io.BytesIO()
    assert rt.run(["echo", "hi"], timeout=30) == (0, "hi\n", "")
    assert rt.run_to_file(["sh", "-c", "echo out; echo err >&2; exit 3"], out, timeout=30) == (3, "err\n")
    assert out.getvalue() == b"out\n"
    assert rt.run_from_file(["cat"], io.BytesIO(b"abc"), timeout=30) == (0, "abc", "")
    assert rt.run(["cat"], data="line", timeout=30) == (0, "line\n", "")
