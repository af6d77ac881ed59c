# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile conditions, class 1 for container copies with the real podman engine: ``podman cp`` under its
total deadline derived from the file's size, or, when neither ``stat`` nor ``wc`` answers in the container,
from the free space the file lands in. The deadline is made tiny (the allowance and floor rate are patched),
so that the real engine is killed with its process group in the middle of a copy of a large sparse file
(no disk used inside the container); the error says how the deadline was derived.
"""
from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import pytest
from harness.podman import PodmanContainers, busybox_image, missing_tools, podman
from harness.procs import command_lines

from ansible_collections.runbook.ops.plugins.module_utils import _ratelimit
from ansible_collections.runbook.ops.plugins.module_utils._runtime import Runtime, RuntimeFailure

pytestmark = pytest.mark.integration

SPARSE = 256 * 1024 * 1024  # bytes: more than podman copies within the tiny deadline
SLACK = 20


class _Module:
    """What Runtime asks of an AnsibleModule here: where the engine is."""

    @staticmethod
    def get_bin_path(name, required=False):  # pylint: disable=unused-argument
        return shutil.which(name)


@pytest.fixture
def container():
    reason = missing_tools()
    if reason:
        pytest.skip(reason)
    containers = PodmanContainers(busybox_image())
    name = containers.start(f"runbook-slowcp-{uuid.uuid4().hex[:8]}")
    try:
        podman("exec", name, "truncate", "-s", str(SPARSE), "/tmp/big")
        yield name
    finally:
        containers.remove_all()


def _podman_cps(dest: Path) -> list[str]:
    """Command lines of the podman processes still copying to ``dest``."""
    return command_lines(lambda cmd: "podman" in cmd and " cp " in cmd and str(dest) in cmd)


def _tiny_deadline(monkeypatch) -> None:
    monkeypatch.setattr(_ratelimit, "COPY_ALLOWANCE", 0.2)
    monkeypatch.setattr(_ratelimit, "COPY_FLOOR_KIB_S", 1024 * 1024 * 1024)  # any size adds almost nothing


def _copy_out_killed(container: str, dest: Path) -> str:
    rt = Runtime(_Module(), container=container, engine="podman")
    t0 = time.monotonic()
    with pytest.raises(RuntimeFailure) as err:
        rt.copy_out("/tmp/big", str(dest))
    assert time.monotonic() - t0 < 60 + SLACK  # the size read holds 60 s; the copy its 0.2 s
    end = time.monotonic() + 10
    while _podman_cps(dest) and time.monotonic() < end:
        time.sleep(0.1)
    assert _podman_cps(dest) == [], "podman cp outlived its deadline"
    return str(err.value)


def test_a_real_podman_cp_is_killed_at_its_size_deadline(container, monkeypatch, tmp_path):
    _tiny_deadline(monkeypatch)
    dest = tmp_path / "big"
    msg = _copy_out_killed(container, dest)
    assert msg.startswith(f"podman cp {container}:/tmp/big {dest}: not finished within its total deadline of 0 s ("), msg
    assert "0.2 s allowance + 256.0 MiB at" in msg and "killed with its process group" in msg, msg


def test_a_real_podman_cp_of_unknown_size_is_bounded_by_the_free_space(container, monkeypatch, tmp_path):
    """No stat, no wc in the container: the copy is still bounded, by the free space at the destination."""
    podman("exec", container, "rm", "-f", "/bin/stat", "/bin/wc")
    _tiny_deadline(monkeypatch)
    dest = tmp_path / "big"
    msg = _copy_out_killed(container, dest)
    assert "its size unknown (neither stat nor wc answered in the container), at most the free space at" in msg, msg
    assert str(tmp_path) in msg and "killed with its process group" in msg, msg
