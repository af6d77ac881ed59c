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


@pytest.mark.parametrize("how", ["run", "run_to_file", "run_from_file", "collect"])
def test_tool_timeout_bounds_every_command_without_its_own(tmp_path, how):
    """A runtime made with tool_timeout (pg_backup's and pg_restore's option) kills a command that has no
    timeout of its own at that bound, with what it started, and the failure names the option."""
    pidfile = tmp_path / "child"
    script = f"sh -c 'echo $$ > {pidfile}; exec sleep 300' & sleep 300"
    rt = Runtime(_Module(), tool_timeout=1)
    t0 = time.monotonic()
    with pytest.raises(RuntimeFailure, match=r"^sh did not finish within tool_timeout=1s; it was killed with its process group$"):
        if how == "run":
            rt.run(["sh", "-c", script])
        elif how == "run_to_file":
            rt.run_to_file(["sh", "-c", script], io.BytesIO())
        elif how == "run_from_file":
            rt.run_from_file(["sh", "-c", script], io.BytesIO(b"data"))
        else:
            rt.collect(rt.start(["sh", "-c", script]))
    assert time.monotonic() - t0 < 1 + 10
    assert wait_gone(int(pidfile.read_text()))


def test_collect_counts_tool_timeout_from_the_start():
    """pg_backup starts pg_dump early and collects it later: the bound counts from the start."""
    rt = Runtime(_Module(), tool_timeout=2)
    proc = rt.start(["sleep", "300"])
    proc.runbook_started -= 3  # as if started 3 s ago: the bound has passed, collect kills at once
    t0 = time.monotonic()
    with pytest.raises(RuntimeFailure, match="tool_timeout=2s"):
        rt.collect(proc)
    assert time.monotonic() - t0 < 5
    assert proc.returncode is not None


def test_an_own_timeout_wins_over_tool_timeout_and_keeps_its_wording():
    rt = Runtime(_Module(), tool_timeout=300)
    with pytest.raises(RuntimeFailure, match=r"^sleep: no complete answer within 1 s \(deadline\)$"):
        rt.run(["sleep", "300"], timeout=1)
    # an own timeout equal to tool_timeout is still the caller's, not the option's
    with pytest.raises(RuntimeFailure, match=r"^sleep: no complete answer within 1 s \(deadline\)$"):
        Runtime(_Module(), tool_timeout=1).run_to_file(["sleep", "300"], io.BytesIO(), timeout=1)
    assert Runtime(_Module(), tool_timeout=0).tool_timeout is None
    assert Runtime(_Module(), tool_timeout=30).run(["echo", "hi"]) == (0, "hi\n", "")
