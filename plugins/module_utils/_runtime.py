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

Time bound: :meth:`Runtime.run`, :meth:`Runtime.run_to_file`,
:meth:`Runtime.run_from_file` and :meth:`Runtime.collect` take an optional
``timeout``; with one, the command runs in a process group of its own that is
killed (SIGKILL to the group, so nothing it started survives) when the
deadline passes, and RuntimeFailure says ``no complete answer within N s
(deadline)``. A runtime made with ``tool_timeout`` (a module option of that
name) gives that bound to every command that has none of its own, and its
failure names the option. The short
housekeeping commands of a container (``mktemp``, ``rm``) always hold
:data:`HOUSEKEEPING_TIMEOUT`; ``<engine> cp`` (:meth:`Runtime.copy_out`,
:meth:`Runtime.copy_in`) holds a total deadline derived from the file's size
(``_ratelimit.transfer_deadline``), or from the free space it lands in when its size cannot be read.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import typing as t

from ansible_collections.runbook.ops.plugins.module_utils._deadline import deadline_message
from ansible_collections.runbook.ops.plugins.module_utils._ratelimit import transfer_deadline, transfer_deadline_message

ENGINES = ("podman", "docker")
# seconds a housekeeping command inside a container (mktemp, rm) may take
HOUSEKEEPING_TIMEOUT = 60.0


def runtime_argument_spec() -> dict:
    """Options of modules that can run their tools inside a container."""
    return dict(
        container=dict(type="str"),
        engine=dict(type="str", default="podman", choices=list(ENGINES)),
    )


class RuntimeFailure(Exception):
    """A failure already worded for the user."""


def own_group() -> dict:
    """Popen arguments that start a command as the leader of a process group of its own, so that
    :func:`kill_group` stops everything it started.

    A group, not a session (``start_new_session``): Linux's autogroup scheduler gives every session an
    equal share of the CPU, so a command in a session of its own would compete as an equal with the
    module's threads, and a thread the module runs at a lower priority (pg_backup's row-count follower,
    nice +10) would no longer yield to it.
    """
    if sys.version_info >= (3, 11):
        return {"process_group": 0}
    return {"preexec_fn": os.setpgrp}  # pragma: no cover - Python < 3.11 on the managed host


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL to ``proc``'s process group (it leads one: :func:`own_group`) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except OSError:
        pass
    proc.wait()


def run_bounded(argv: list[str], timeout: float, env: dict | None = None,
                data: bytes | None = None) -> tuple[int, bytes, bytes]:
    """Run ``argv`` (no shell) in its own process group, killed with the group after ``timeout`` seconds.

    (rc, stdout, stderr); RuntimeFailure ``<argv[0]>: no complete answer within N s (deadline)`` when killed.
    """
    if isinstance(argv, str):
        raise ValueError("run_bounded takes an argv list and never a shell")
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, **own_group())
    try:
        out, err = proc.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        # not communicate() again: a process outside the group may hold the pipes (an ssh ControlMaster
        # is handed the client's descriptors) and would keep them open as long as its remote command runs
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass
        raise RuntimeFailure(deadline_message(timeout, os.path.basename(argv[0]))) from None
    except BaseException:
        kill_group(proc)
        raise
    return proc.returncode, out, err


class Runtime:
    """Run argv lists on the host (``container`` None) or inside ``container`` via ``engine``."""

    def __init__(self, module, container: str | None = None, engine: str = "podman",
                 tool_timeout: float | None = None) -> None:
        self.module = module
        self.container = container or None
        self.engine = engine
        # the module's tool_timeout option (None or 0: no bound): every command without a timeout of its own
        self.tool_timeout = float(tool_timeout) if tool_timeout else None
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

    def _bound(self, timeout: float | None) -> float | None:
        return timeout if timeout is not None else self.tool_timeout

    @staticmethod
    def _deadline_failure(argv: list[str], seconds: float, own_timeout: float | None) -> RuntimeFailure:
        """The failure of a command killed at its deadline; without a timeout of its own (``own_timeout``
        None) the deadline was tool_timeout's, and the failure names the option."""
        tool = os.path.basename(argv[0])
        if own_timeout is None:
            return RuntimeFailure(f"{tool} did not finish within tool_timeout={seconds:g}s; it was killed with its process group")
        return RuntimeFailure(deadline_message(seconds, tool))

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
            binary_data: bool = False, timeout: float | None = None) -> tuple[int, str, str]:
        """run_command(argv) with ``env`` in the environment (passed by name into a container).

        With ``timeout``: killed with its process group at the deadline (RuntimeFailure).
        """
        env = {k: v for k, v in (env or {}).items() if v is not None}
        argv = self.argv(cmd, env.keys(), interactive=data is not None)
        seconds = self._bound(timeout)
        if seconds is None:
            return self.module.run_command(argv, environ_update=env, data=data, binary_data=binary_data)
        raw = None
        if data is not None:
            raw = data.encode("utf-8") if isinstance(data, str) else data
            if not binary_data:
                raw += b"\n"  # as run_command does
        try:
            rc, out, err = run_bounded(argv, seconds, env=self._popen_env(env), data=raw)
        except RuntimeFailure:  # run_bounded's only failure: the deadline passed
            raise self._deadline_failure(argv, seconds, timeout) from None
        return rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def start(self, cmd: list[str], env: dict | None = None) -> subprocess.Popen:
        """Start ``cmd`` on the host in a process group of its own (stdin closed, stdout and stderr piped).

        For a command that runs while the module does other work; ``communicate()`` it, or stop it with
        :func:`kill_group`. Host only: inside a container the group would be the engine client's.
        """
        if self.container:
            raise RuntimeFailure("Runtime.start runs commands on the managed host only")
        env = {k: v for k, v in (env or {}).items() if v is not None}
        proc = subprocess.Popen(list(cmd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=self._popen_env(env), **own_group())
        proc.runbook_started = time.monotonic()  # type: ignore[attr-defined]  # collect's deadline counts from here
        return proc

    def collect(self, proc: subprocess.Popen, timeout: float | None = None) -> tuple[int, str, str]:
        """(rc, stdout, stderr) of a command from :meth:`start`, once it has exited; killed with its
        process group when ``timeout`` (else ``tool_timeout``) seconds have passed since it started."""
        seconds = self._bound(timeout)
        left = None
        if seconds is not None:
            left = max(0.0, seconds - (time.monotonic() - getattr(proc, "runbook_started", time.monotonic())))
        try:
            out, err = proc.communicate(timeout=left)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            raise self._deadline_failure(proc.args, seconds, timeout) from None
        return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def _popen_env(self, env: dict | None) -> dict:
        full = dict(os.environ)
        full.update({k: v for k, v in (env or {}).items() if v is not None})
        full.setdefault("LC_ALL", "C")
        return full

    def run_to_file(self, cmd: list[str], out: t.BinaryIO, env: dict | None = None,
                    chunk: int = 1024 * 1024, timeout: float | None = None) -> tuple[int, str]:
        """Run ``cmd`` with its stdout streamed into ``out`` (anything with ``write``); (rc, stderr).

        If ``out`` has a real file descriptor and no hashing is needed, prefer
        giving the tool an output path; this helper exists for output that must
        cross a container boundary.
        """
        env = {k: v for k, v in (env or {}).items() if v is not None}
        argv = self.argv(cmd, env.keys(), interactive=False)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                env=self._popen_env(env), **own_group())
        import threading

        timer = self._deadline_timer(proc, self._bound(timeout))
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
            kill_group(proc)
            th.join()
            self._stop_timer(timer)
            raise
        rc = proc.wait()
        th.join()
        self._stop_timer(timer, argv, timeout)
        return rc, b"".join(err_parts).decode("utf-8", "replace")

    @staticmethod
    def _deadline_timer(proc: subprocess.Popen, timeout: float | None):
        """A timer that kills ``proc``'s group at the deadline (joined by _stop_timer), or None."""
        if timeout is None:
            return None
        import threading

        state = {"fired": False}

        def fire() -> None:
            state["fired"] = True
            kill_group(proc)

        timer = threading.Timer(timeout, fire)
        timer.fired = state  # type: ignore[attr-defined]
        timer.daemon = True
        timer.start()
        return timer

    @staticmethod
    def _stop_timer(timer, argv: list[str] | None = None, own_timeout: float | None = None) -> None:
        """Stop the deadline timer; with ``argv``, fail if it fired (``own_timeout``: the caller's timeout)."""
        if timer is None:
            return
        timer.cancel()
        timer.join()
        if argv is not None and timer.fired["fired"]:
            raise Runtime._deadline_failure(argv, timer.interval, own_timeout)

    def run_from_file(self, cmd: list[str], src: t.BinaryIO, env: dict | None = None,
                      chunk: int = 1024 * 1024, timeout: float | None = None) -> tuple[int, str, str]:
        """Run ``cmd`` with ``src`` (anything with ``read``) streamed to its stdin; (rc, stdout, stderr)."""
        env = {k: v for k, v in (env or {}).items() if v is not None}
        argv = self.argv(cmd, env.keys(), interactive=True)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.PIPE,
                                env=self._popen_env(env), **own_group())
        import threading

        timer = self._deadline_timer(proc, self._bound(timeout))
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
        except BaseException:
            kill_group(proc)
            for th in threads:
                th.join()
            self._stop_timer(timer)
            raise
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
        rc = proc.wait()
        for th in threads:
            th.join()
        self._stop_timer(timer, argv, timeout)
        return rc, outs.get("out", b"").decode("utf-8", "replace"), outs.get("err", b"").decode("utf-8", "replace")

    def copy_out(self, src: str, dest: str) -> None:
        """Copy ``src`` from the container to ``dest`` on the host (``<engine> cp``), under a total deadline
        derived from the file's size (see :meth:`_cp`)."""
        if not self.container:
            raise RuntimeFailure("copy_out needs a container")
        size = self._size_inside(src)
        if size is not None:
            self._cp(f"{self.container}:{src}", dest, size)
            return
        # unknown: the file cannot be larger than the free space it lands in
        where = os.path.dirname(os.path.abspath(dest))
        free = os.statvfs(where)
        self._cp(f"{self.container}:{src}", dest, free.f_bavail * free.f_frsize,
                 f"its size unknown (neither stat nor wc answered in the container), at most the free space at {where}: ")

    def copy_in(self, src: str, dest: str) -> None:
        """Copy ``src`` on the host to ``dest`` inside the container, under a total deadline (see :meth:`_cp`)."""
        if not self.container:
            raise RuntimeFailure("copy_in needs a container")
        self._cp(src, f"{self.container}:{dest}", os.path.getsize(src) if os.path.isfile(src) else 0)

    def _cp(self, src: str, dest: str, size: int, basis: str = "") -> None:
        """``<engine> cp src dest``, killed with its process group at ``_ratelimit.transfer_deadline(size)``
        (a fixed allowance plus the size at a floor rate): a stuck engine cannot hold the module for ever.
        ``basis`` says where ``size`` came from when it is not the file's own."""
        argv = [self._engine_bin, "cp", src, dest]
        what = f"{self.engine} cp {src} {dest}"
        seconds, how = transfer_deadline(size)
        try:
            rc, _out, err_b = run_bounded(argv, seconds)
        except RuntimeFailure:  # run_bounded's only failure: the deadline passed
            raise RuntimeFailure(transfer_deadline_message(what, seconds, basis + how)) from None
        err = err_b.decode("utf-8", "replace")
        if rc != 0:
            raise RuntimeFailure(f"{what} failed: {err.strip()}")

    def _size_inside(self, path: str) -> int | None:
        """The size of a file inside the container (``stat``, else ``wc -c``); None when neither answers."""
        for cmd in (["stat", "-c", "%s", "--", path], ["wc", "-c", path]):
            try:
                rc, out, _err = run_bounded([self._engine_bin, "exec", self.container] + cmd, HOUSEKEEPING_TIMEOUT)
            except (RuntimeFailure, OSError):
                continue
            word = out.decode("utf-8", "replace").split()[:1]
            if rc == 0 and word and word[0].isdigit():
                return int(word[0])
        return None

    def remove(self, path: str) -> None:
        """Remove a path inside the container (best effort)."""
        if self.container:
            try:
                run_bounded([self._engine_bin, "exec", self.container, "rm", "-rf", "--", path], HOUSEKEEPING_TIMEOUT)
            except RuntimeFailure:
                pass  # best effort

    def mktemp_dir(self) -> str:
        """A new private temporary directory inside the container."""
        rc, out, err = run_bounded([self._engine_bin, "exec", self.container, "mktemp", "-d"], HOUSEKEEPING_TIMEOUT)
        if rc != 0:
            raise RuntimeFailure(f"cannot create a temporary directory in {self.describe()}: "
                                 f"{err.decode('utf-8', 'replace').strip()}")
        return out.decode("utf-8", "replace").strip()


def pipe_process(argv: list[str], **kwargs) -> subprocess.Popen:
    """A host process (argv list, no shell) for streaming through a pipe, e.g. ``zstd -c`` under a tar
    stream; ``run_command`` cannot stream. ``kwargs`` go to ``subprocess.Popen`` (stdin/stdout/stderr)."""
    if isinstance(argv, str) or kwargs.get("shell"):
        raise ValueError("pipe_process takes an argv list and never a shell")
    return subprocess.Popen(argv, **kwargs)
