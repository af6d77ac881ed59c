# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared by the docker engine tests: the ``docker`` CLI and a tiny rootfs for ``docker import``.

No registry here: images are made with ``docker import`` from a rootfs holding only merged-/usr symlinks,
empty mount points and optional extra files; containers bind-mount this machine's /usr and /etc read-only,
so they run this machine's programs (pg_dump, redis-server, python3).
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile

import pytest


def docker_engine_missing() -> str:
    """Why the docker engine tests cannot run here ('' when they can)."""
    if shutil.which("docker") is None:
        return "no docker client (scripts/setup_docker.sh installs docker.io)"
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        return "no Docker engine answering (scripts/setup_docker.sh starts one)"
    return ""


HERE = os.path.dirname(os.path.abspath(__file__))


def pytest_collection_modifyitems(items):
    """Skip this directory's tests (only these) when there is no Docker engine, saying why."""
    mine = [item for item in items if os.path.dirname(str(item.path)) == HERE]
    why = docker_engine_missing() if mine else ""
    for item in mine if why else []:
        item.add_marker(pytest.mark.skip(reason=why))


def _docker(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    res = subprocess.run(["docker", *args], capture_output=True, text=True, check=False, **kw)
    if check and res.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: rc={res.returncode}: {res.stderr.strip()}")
    return res


def _rootfs_tar(files: dict[str, bytes] | None = None) -> bytes:
    """A rootfs for docker import: merged-/usr symlinks, empty mount points and ``files`` (path -> content)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in ("usr", "etc", "proc", "sys", "dev", "run", "data", "var", "var/lib", "tmp", "app"):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if name == "tmp" else 0o755
            tar.addfile(info)
        for link, target in (("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"), ("lib64", "usr/lib64")):
            info = tarfile.TarInfo(link)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
        for path, content in (files or {}).items():
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


@pytest.fixture(scope="session")
def docker_cli():
    """``docker_cli(*args, check=True)``: run the docker CLI, fail the test on a non-zero exit unless check=False."""
    return _docker


@pytest.fixture(scope="session")
def rootfs_tar():
    """``rootfs_tar(files=None)``: the bytes of a tiny rootfs tar for ``docker import -``."""
    return _rootfs_tar
