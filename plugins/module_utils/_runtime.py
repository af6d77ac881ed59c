# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where a command runs: on the managed host, or inside a container (podman / docker).

Small and engine-agnostic. A :class:`Runtime` turns a command (an argv list)
into the argv to run on the host: unchanged for the host, or
``<engine> exec [-i] [-e NAME ...] <container> <argv...>`` for a container.
Environment values (passwords) are never put on a command line: they are
set in the environment of the engine client and passed by *name* with
``-e NAME``, which makes podman/docker copy the value from their own
environment into the container process.

Commands run through ``module.run_command`` (argv, never a shell). Two
helpers stream large data instead of buffering it in memory, which
``run_command`` cannot do: :meth:`Runtime.run_to_file` (a command's stdout
into an open file, e.g. pg_dump inside a container into an atomic backup
file on the host) and :meth:`Runtime.run_from_file` (a file into a command's
stdin). They use ``subprocess.Popen`` with an argv list, no shell.
"""

from __future__ import annotations

import os
import subprocess
import typing as t

ENGINES = ("podman", "docker")


def runtime_argument_spec() -> dict:
    """Options of modules that can run their tools inside a container."""
    return dict(
        container=dict(type="str"),
        engine=dict(type="str", default="podman", choices=list(ENGINES)),
    )


class RuntimeFailure(Exception):
    """A failure already worded for the user."""


class Runtime:
    """Run argv lists on the host (``container`` None) or inside ``container`` via ``engine``."""

    def __init__(self, module, container: str | None = None, engine: str = "podman") -> None:
        self.module = module
        self.container = container or None
        self.engine = engine
        self._engine_bin: str | None = None
        if self.container:
            if engine not in ENGINES:
                raise RuntimeFailure(f"engine: {engine!r} is not one of {', '.join(ENGINES)}")
            path = module.get_bin_path(engine)
            if not path:
                raise RuntimeFailure(f"engine: {engine} not found on the managed host (needed for container={self.container!r})")
            self._engine_bin = path

    @property
    def in_container(self) -> bool:
        return self.container is not None

    def describe(self) -> str:
        return f"container {self.container!r} ({self.engine})" if self.container else "the managed host"

    def argv(self, cmd: list[str], env_names: t.Iterable[str] = (), interactive: bool = False) -> list[str]:
        """The argv to run ``cmd`` where this runtime runs things."""
        if not self.container:
            return list(cmd)
        out = [self._engine_bin or self.engine, "exec"]
        if interactive:
            out.append("-i")
        for name in env_names:
            out += ["-e", name]
        return out + [self.container] + list(cmd)

    def run(self, cmd: list[str], env: dict | None = None, data: str | None = None,
            binary_data: bool = False) -> tuple[int, str, str]:
        """run_command(argv) with ``env`` in the environment (passed by name into a container)."""
        env = {k: v for k, v in (env or {}).items() if v is not None}
        argv = self.argv(cmd, env.keys(), interactive=data is not None)
        return self.module.run_command(argv, environ_update=env, data=data, binary_data=binary_data)

    def _popen_env(self, env: dict | None) -> dict:
        full = dict(os.environ)
        full.update({k: v for k, v in (env or {}).items() if v is not None})
        full.setdefault("LC_ALL", "C")
        return full

    def run_to_file(self, cmd: list[str], out: t.BinaryIO, env: dict | None = None,
                    chunk: int = 1024 * 1024) -> tuple[int, str]:
        """Run ``cmd`` with its stdout streamed into ``out`` (anything with ``write``); (rc, stderr).

        If ``out`` has a real file descriptor and no hashing is needed, prefer
        giving the tool an output path; this helper exists for output that must
        cross a container boundary.
        """
        env = {k: v for k, v in (env or {}).items() if v is not None}
        argv = self.argv(cmd, env.keys(), interactive=False)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                env=self._popen_env(env))
        import threading

        err_parts: list[bytes] = []

        def drain() -> None:
            err_parts.append(proc.stderr.read())

        th = threading.Thread(target=drain, daemon=True)
        th.start()
        try:
            while True:
                data = proc.stdout.read(chunk)
                if not data:
                    break
                out.write(data)
        except BaseException:
            proc.kill()
            proc.wait()
            th.join()
            raise
        rc = proc.wait()
        th.join()
        return rc, b"".join(err_parts).decode("utf-8", "replace")

    def run_from_file(self, cmd: list[str], src: t.BinaryIO, env: dict | None = None,
                      chunk: int = 1024 * 1024) -> tuple[int, str, str]:
        """Run ``cmd`` with ``src`` (anything with ``read``) streamed to its stdin; (rc, stdout, stderr)."""
        env = {k: v for k, v in (env or {}).items() if v is not None}
        argv = self.argv(cmd, env.keys(), interactive=True)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.PIPE,
                                env=self._popen_env(env))
        import threading

        outs: dict[str, bytes] = {}

        def drain(name: str, stream) -> None:
            outs[name] = stream.read()

        threads = [threading.Thread(target=drain, args=("out", proc.stdout), daemon=True),
                   threading.Thread(target=drain, args=("err", proc.stderr), daemon=True)]
        for th in threads:
            th.start()
        try:
            while True:
                data = src.read(chunk)
                if not data:
                    break
                proc.stdin.write(data)
        except BrokenPipeError:
            pass  # the command stopped reading (e.g. an error); its rc and stderr say why
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
        rc = proc.wait()
        for th in threads:
            th.join()
        return rc, outs.get("out", b"").decode("utf-8", "replace"), outs.get("err", b"").decode("utf-8", "replace")

    def copy_out(self, src: str, dest: str) -> None:
        """Copy ``src`` from the container to ``dest`` on the host (``<engine> cp``)."""
        if not self.container:
            raise RuntimeFailure("copy_out needs a container")
        rc, _out, err = self.module.run_command([self._engine_bin, "cp", f"{self.container}:{src}", dest])
        if rc != 0:
            raise RuntimeFailure(f"{self.engine} cp {self.container}:{src} {dest} failed: {err.strip()}")

    def copy_in(self, src: str, dest: str) -> None:
        """Copy ``src`` on the host to ``dest`` inside the container."""
        if not self.container:
            raise RuntimeFailure("copy_in needs a container")
        rc, _out, err = self.module.run_command([self._engine_bin, "cp", src, f"{self.container}:{dest}"])
        if rc != 0:
            raise RuntimeFailure(f"{self.engine} cp {src} {self.container}:{dest} failed: {err.strip()}")

    def remove(self, path: str) -> None:
        """Remove a path inside the container (best effort)."""
        if self.container:
            self.module.run_command([self._engine_bin, "exec", self.container, "rm", "-rf", "--", path])

    def mktemp_dir(self) -> str:
        """A new private temporary directory inside the container."""
        rc, out, err = self.module.run_command([self._engine_bin, "exec", self.container, "mktemp", "-d"])
        if rc != 0:
            raise RuntimeFailure(f"cannot create a temporary directory in {self.describe()}: {err.strip()}")
        return out.strip()


def pipe_process(argv: list[str], **kwargs) -> subprocess.Popen:
    """A host process (argv list, no shell) for streaming through a pipe, e.g. ``zstd -c`` under a tar
    stream; ``run_command`` cannot stream. ``kwargs`` go to ``subprocess.Popen`` (stdin/stdout/stderr)."""
    if isinstance(argv, str) or kwargs.get("shell"):
        raise ValueError("pipe_process takes an argv list and never a shell")
    return subprocess.Popen(argv, **kwargs)
