# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The connection of the molecule scenarios' systemd hosts: nsenter into the podman container named like
the host, with the container's own environment.

`podman exec` (the podman connection) starts podman, conmon and runc for every command, and Ansible runs
three or four commands per task: on a 2-core CI machine that was most of the molecule scenarios' CPU time
(6.8 against 2.5 CPU seconds for five tasks, measured machine-wide). community.docker.nsenter enters the
container's namespaces directly, but its commands inherit the controller's environment, which a real host
never sees (the controller's pip and TLS settings broke pip inside the hosts). This connection runs each
command with the environment of the container's first process instead, as `podman exec` does.
"""
from __future__ import annotations

import shlex
import subprocess

from ansible.errors import AnsibleConnectionFailure
from ansible_collections.community.docker.plugins.connection.nsenter import Connection as NsenterConnection

DOCUMENTATION = r"""
name: podman_nsenter
short_description: nsenter into a running podman container, with the container's environment
description:
  - Runs commands in the namespaces of the first process of the podman container named like the host
    (its address), with that process's environment, like C(podman exec). For the molecule scenarios of
    runbook.ops only; rootful podman, root on the controller.
author: runbook.ops contributors
"""


class Connection(NsenterConnection):
    """community.docker.nsenter, the PID looked up by container name, each command under ``env -i`` with the
    container's own environment."""

    transport = "podman_nsenter"

    def _connect(self):
        if not self._connected:
            name = self._play_context.remote_addr
            proc = subprocess.run(["podman", "container", "inspect", "--format", "{{.State.Pid}}", name],
                                  capture_output=True, text=True, timeout=60, check=False)
            pid = proc.stdout.strip()
            if proc.returncode != 0 or not pid.isdigit() or pid == "0":
                raise AnsibleConnectionFailure(f"podman container {name!r} is not running: {proc.stderr.strip() or pid}")
            self._nsenter_pid = int(pid)
            self._play_context.remote_user = "root"  # nsenter needs root, as in community.docker.nsenter
            self._connected = True
        return self

    def _container_env(self) -> list[str]:
        with open(f"/proc/{self._nsenter_pid}/environ", "rb") as fh:
            return [item.decode("utf-8", "surrogateescape") for item in fh.read().split(b"\0") if item]

    def exec_command(self, cmd, in_data=None, sudoable=True):
        self._connect()
        prefix = ["/usr/bin/env", "-i"] + self._container_env()
        if isinstance(cmd, (list, tuple)):
            cmd = prefix + list(cmd)
        else:
            if isinstance(cmd, bytes):
                cmd = cmd.decode("utf-8", "surrogateescape")
            cmd = " ".join(shlex.quote(part) for part in prefix) + " " + cmd
        return super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
