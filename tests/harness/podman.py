# SPDX-License-Identifier: GPL-3.0-or-later
"""podman for the tests: a busybox image built from Debian's busybox-static (no registry), and the containers
of one test, every one removed at the end."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

IMAGE = "localhost/runbook-busybox:test"


def podman(*args: str, check: bool = True, timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, timeout=timeout)


def missing_tools() -> str | None:
    """Why the image cannot be built here (a reason to skip), or None."""
    if not shutil.which("podman"):
        return "podman is not installed: run scripts/setup_podman.sh"
    if not shutil.which("busybox"):
        return "busybox-static is not installed: run scripts/setup_podman.sh"
    return None


def busybox_image() -> str:
    """IMAGE, built on first use: busybox-static and a link per applet."""
    busybox = shutil.which("busybox")
    if podman("image", "exists", IMAGE, check=False).returncode != 0:
        root = tempfile.mkdtemp(prefix="runbook-busybox-rootfs-")
        try:
            os.makedirs(os.path.join(root, "bin"))
            os.makedirs(os.path.join(root, "tmp"))
            shutil.copy2(busybox, os.path.join(root, "bin", "busybox"))
            applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
            for applet in applets:
                link = os.path.join(root, "bin", applet)
                if not os.path.exists(link):
                    os.symlink("busybox", link)
            tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
            subprocess.run(["podman", "import", "-", IMAGE], stdin=tar.stdout, check=True, capture_output=True)
            tar.stdout.close()
            tar.wait()
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return IMAGE


class PodmanContainers:
    """Containers of one test: ``start`` runs one; every one is removed at the end."""

    def __init__(self, image: str) -> None:
        self.image = image
        self.names: list[str] = []

    def start(self, name: str, health_cmd: str | None = None, labels: dict | None = None,
              command: list[str] | None = None) -> str:
        argv = ["run", "-d", "--name", name, "--network", "none"]
        if health_cmd:
            argv += ["--health-cmd", health_cmd, "--health-interval", "1h", "--health-retries", "1"]
        for k, v in (labels or {}).items():
            argv += ["--label", f"{k}={v}"]
        self.names.append(name)
        podman(*argv, self.image, *(command or ["sh", "-c", "touch /tmp/healthy; exec sleep 3600"]))
        return name

    @staticmethod
    def healthcheck(name: str) -> int:
        """Run the HEALTHCHECK once (podman has no systemd timers here) and return its exit code."""
        return podman("healthcheck", "run", name, check=False).returncode

    @staticmethod
    def stop(name: str) -> None:
        podman("stop", "-t", "0", name)

    def remove_all(self) -> None:
        for n in self.names:
            podman("rm", "-f", "-t", "0", n, check=False)
