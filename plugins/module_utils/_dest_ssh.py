# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A destination that is a directory on another host, reached with the ``ssh`` client (argv, no local shell)."""

from __future__ import annotations

import os
import posixpath
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import typing as t

from ansible_collections.runbook.ops.plugins.module_utils._dest_base import TMP_PREFIX, Destination, OffsiteError, Unreachable
from ansible_collections.runbook.ops.plugins.module_utils._ratelimit import (
    RateLimiter, stream, transfer_deadline, transfer_deadline_message,
)
from ansible_collections.runbook.ops.plugins.module_utils._runtime import RuntimeFailure, kill_group, own_group, run_bounded


class _Doomsday:
    """Kills ``proc`` with its process group when the total deadline of a transfer passes: a peer that keeps
    the connection alive but moves almost nothing cannot hold the run (ServerAlive only catches a dead one)."""

    def __init__(self, proc: subprocess.Popen, seconds: float, also: t.Callable[[], None]) -> None:
        self.fired = False
        self._proc = proc
        self._also = also
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        kill_group(self._proc)
        self._also()

    def stop(self) -> None:
        self._timer.cancel()
        self._timer.join()


class SshDestination(Destination):
    """A directory on another host; every operation is one ``ssh`` run (argv, no local shell).

    The remote side needs a POSIX shell and coreutils/findutils (cat, find, mv, rm,
    sha256sum, sync). Only key authentication (BatchMode): no password can be asked for.
    """

    kind = "ssh"

    def __init__(self, opts: dict, timeout: float) -> None:
        super().__init__(opts, timeout)
        for opt in ("host", "path"):
            if not opts.get(opt):
                raise OffsiteError(f"destination.{opt}: required for type ssh")
        self.root = posixpath.normpath(opts["path"])
        if not self.root.startswith("/"):
            raise OffsiteError("destination.path: must be an absolute directory on the backup host for type ssh")
        who = f"{opts['user']}@" if opts.get("user") else ""
        port = f":{opts['port']}" if opts.get("port") not in (None, 22) else ""
        self.url = f"ssh://{who}{opts['host']}{port}{self.root}"
        self._control: str | None = None

    def _base_argv(self) -> list[str]:
        o = self.opts
        argv = [o.get("ssh_executable") or "ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={max(1, int(self.timeout))}",
                "-o", "ServerAliveInterval=10", "-o", f"ServerAliveCountMax={max(1, int(self.timeout // 10))}",
                "-o", f"StrictHostKeyChecking={o.get('host_key_checking') or 'yes'}", "-o", "LogLevel=ERROR",
                "-p", str(o.get("port") or 22)]
        if o.get("known_hosts_file"):
            argv += ["-o", f"UserKnownHostsFile={o['known_hosts_file']}"]
        if o.get("identity_file"):
            argv += ["-i", o["identity_file"], "-o", "IdentitiesOnly=yes"]
        if o.get("user"):
            argv += ["-l", o["user"]]
        return argv

    def _argv(self, remote: str) -> list[str]:
        argv = self._base_argv()
        if self._control:
            # share the one connection opened by open_master (falls back to a new one if it is gone)
            argv += ["-o", "ControlMaster=no", "-o", f"ControlPath={self._control}/cm"]
        return argv + [self.opts["host"], "--", remote]

    def open_master(self) -> None:
        """One SSH connection for the whole run (ControlMaster): each later command reuses it instead of a new
        handshake. It ends in close(), or by itself 30 s after the last command (ControlPersist)."""
        self._control = tempfile.mkdtemp(prefix="runbook-ssh-")
        argv = self._base_argv() + ["-o", "ControlMaster=yes", "-o", f"ControlPath={self._control}/cm",
                                    "-o", "ControlPersist=30", self.opts["host"], "--", "true"]
        with tempfile.TemporaryFile() as errfile:
            try:
                # files, not pipes: the backgrounded master keeps its stdio open
                proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errfile,
                                      timeout=max(60.0, self.timeout * 4), check=False)
            except subprocess.TimeoutExpired as exc:
                self.close()
                raise Unreachable(f"ssh to {self.url} timed out") from exc
            except OSError as exc:
                self.close()
                raise Unreachable(f"destination.ssh_executable: cannot run {self.opts.get('ssh_executable')}: {exc}") from exc
            errfile.seek(0)
            err = errfile.read()
        if proc.returncode != 0:
            self.close()
            raise Unreachable(self._ssh_error(err))

    def _drop_master(self) -> None:
        """End the shared connection and every command still running through it: a command killed at its
        deadline handed its pipes to the master, which would otherwise keep them open (and the remote command
        running). Later commands connect on their own (ControlMaster=no falls back when the master is gone)."""
        control = self._control
        if control and os.path.exists(f"{control}/cm"):
            try:
                subprocess.run(self._base_argv() + ["-o", f"ControlPath={control}/cm", "-O", "exit", self.opts["host"]],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=30, check=False)
            except (OSError, subprocess.TimeoutExpired):
                pass

    def close(self) -> None:
        if not self._control:
            return
        self._drop_master()
        shutil.rmtree(self._control, ignore_errors=True)
        self._control = None

    def _q(self, rel: str = "") -> str:
        return shlex.quote(posixpath.join(self.root, rel) if rel else self.root)

    def _run(self, remote: str, stdin: bytes | None = None, what: str = "", ok_rcs: tuple = (0,),
             deadline: tuple[float, str] | None = None) -> bytes:
        """One remote command, killed with its process group past its bound: a small command's, or for long
        work (hashing large files) ``deadline``, (seconds, how they were derived) from ``transfer_deadline``."""
        seconds = deadline[0] if deadline else max(60.0, self.timeout * 4)
        try:
            rc, out, err = run_bounded(self._argv(remote), seconds, data=stdin if stdin is not None else b"")
        except RuntimeFailure:  # run_bounded's only failure: the bound passed
            self._drop_master()
            if deadline:
                raise OffsiteError(transfer_deadline_message(f"{what} at {self.url} over ssh", *deadline)) from None
            raise Unreachable(f"ssh to {self.opts['host']} timed out ({what or 'remote command'})") from None
        except OSError as exc:
            raise Unreachable(f"destination.ssh_executable: cannot run {self.opts.get('ssh_executable')}: {exc}") from exc
        if rc == 255:
            raise Unreachable(self._ssh_error(err))
        if rc not in ok_rcs:
            text = err.decode(errors="replace").strip()
            raise OffsiteError(f"{what or 'remote command'} on {self.opts['host']} failed (rc {rc}): {text}")
        return out

    def _ssh_error(self, stderr: bytes) -> str:
        err = stderr.decode(errors="replace").strip()
        if "Permission denied" in err:
            hint = "the key (destination.identity_file) is not accepted for this user (destination.user)"
        elif "REMOTE HOST IDENTIFICATION HAS CHANGED" in err:
            return self._changed_key_error(err)
        elif "Host key verification failed" in err:
            hint = "the backup host's key is not in known_hosts (destination.known_hosts_file, destination.host_key_checking)"
        else:
            hint = "the backup host is unreachable or the connection was lost"
        return f"ssh to {self.url}: {hint}: {err}"

    def _changed_key_error(self, err: str) -> str:
        """The host key differs from the one recorded: say which key was sent and which entry it contradicts
        (ssh's own warning banner is long; its facts are kept, its layout is not)."""
        sent = re.search(r"fingerprint for the (\S+) key sent by the remote host is\s+(\S+?)\.?\s*$", err, re.M)
        offending = re.search(r"Offending (\S+) key in (\S+)", err)
        what = f"the {sent.group(1)} host key {sent.group(2)}" if sent else "a host key"
        where = f" ({offending.group(1)} key at {offending.group(2)})" if offending else ""
        return (f"ssh to {self.url}: the backup host's host key has changed: it sent {what}, not the key recorded "
                f"in known_hosts{where}; refused (destination.host_key_checking: "
                f"{self.opts.get('host_key_checking') or 'yes'}). If the change is expected, replace that entry in "
                "destination.known_hosts_file with the new key after checking it on the backup host")

    def prepare(self, create: bool) -> bool:
        if not self._control:
            self.open_master()
        if create:
            self._run(f"umask 077 && mkdir -p -- {self._q()} && test -w {self._q()}", what="creating the destination")
            return True
        out = self._run(f"if test -d {self._q()}; then echo yes; else echo no; fi", what="checking the destination")
        return out.strip() == b"yes"

    def listing(self) -> dict[str, int]:
        out = self._run(f"test -d {self._q()} || exit 0; cd {self._q()} && find . -type f -printf '%s %P\\0'",
                        what="listing the destination")
        result = {}
        for item in out.split(b"\0"):
            if not item:
                continue
            size, _sep, rel = item.decode(errors="replace").partition(" ")
            if size.isdigit() and rel:
                result[rel] = int(size)
        return result

    def read(self, rel: str) -> bytes:
        return self._run(f"cat -- {self._q(rel)}", what=f"reading {rel}")

    def write_bytes(self, rel: str, data: bytes) -> None:
        full = posixpath.join(self.root, rel)
        parent = posixpath.dirname(full)
        tmp = posixpath.join(parent, f"{TMP_PREFIX}{os.getpid()}-{posixpath.basename(full)}")
        q, qt, qp = shlex.quote(full), shlex.quote(tmp), shlex.quote(parent)
        self._run(f"umask 077 && mkdir -p -- {qp} && cat > {qt} && chmod 600 {qt} && sync -- {qt} && mv -f -- {qt} {q}"
                  f" && sync -- {qp} || {{ rc=$?; rm -f -- {qt}; exit $rc; }}", stdin=data, what=f"writing {rel}")

    def upload(self, local: str, rel: str, offset: int, limiter: RateLimiter) -> None:
        full = posixpath.join(self.root, rel)
        q, qp = shlex.quote(full), shlex.quote(posixpath.dirname(full))
        redirect = ">>" if offset else ">"
        argv = self._argv(f"umask 077 && mkdir -p -- {qp} && cat {redirect} {q} && chmod 600 {q} && sync -- {q}")
        seconds, how = transfer_deadline(os.path.getsize(local) - offset, limiter.rate // 1024)
        with tempfile.TemporaryFile() as errfile:
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                                        stderr=errfile, **own_group())
            except OSError as exc:
                raise Unreachable(f"destination.ssh_executable: cannot run {self.opts.get('ssh_executable')}: {exc}") from exc
            doom = _Doomsday(proc, seconds, self._drop_master)
            try:
                with open(local, "rb") as src:
                    src.seek(offset)
                    try:
                        stream(src, proc.stdin.write, limiter)
                        proc.stdin.close()
                    except BrokenPipeError:
                        pass
                proc.wait(timeout=max(120.0, self.timeout * 4))
            except subprocess.TimeoutExpired as exc:
                raise Unreachable(f"ssh to {self.url}: the backup host stopped answering while receiving {rel}") from exc
            finally:
                doom.stop()
                if proc.poll() is None:
                    kill_group(proc)
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
            errfile.seek(0)
            err = errfile.read()
        if doom.fired:
            raise OffsiteError(transfer_deadline_message(f"copying {local} to {self.url}/{rel} over ssh", seconds, how))
        if proc.returncode == 255:
            raise Unreachable(self._ssh_error(err))
        if proc.returncode != 0:
            raise OffsiteError(f"copying {local} to {self.url}/{rel} failed (rc {proc.returncode}): "
                               f"{err.decode(errors='replace').strip()}")

    def _size(self, rel: str) -> int:
        """The size of one file at the destination, 0 when it is missing (reading it then fails, and says so)."""
        out = self._run(f"stat -c %s -- {self._q(rel)} 2>/dev/null || echo 0", what=f"reading the size of {rel}")
        text = out.strip()
        return int(text) if text.isdigit() else 0

    def sha256(self, rels: list[str]) -> dict[str, str | None]:
        out: dict[str, str | None] = {rel: None for rel in rels}
        if not rels:
            return out
        files = " ".join(shlex.quote(r) for r in rels)
        # a checksum reads each file once: the bound of a transfer of their total size
        sizes = self._run(f"cd {self._q()} && stat -c %s -- {files} 2>/dev/null; exit 0",
                          what="reading the sizes of the files to hash")
        deadline = transfer_deadline(sum(int(w) for w in sizes.split() if w.isdigit()))
        text = self._run(f"cd {self._q()} && sha256sum -- {files}", what=f"computing sha256 of {len(rels)} file(s)",
                         ok_rcs=(0, 1), deadline=deadline).decode(errors="replace")
        for line in text.splitlines():
            digest, _sep, rel = line.partition("  ")
            rel = rel.lstrip("*")
            if rel in out:
                out[rel] = digest
        return out

    def rename(self, src: str, dst: str) -> None:
        qs, qd = self._q(src), self._q(dst)
        qp = shlex.quote(posixpath.dirname(posixpath.join(self.root, dst)))
        self._run(f"mkdir -p -- {qp} && if test -e {qd}; then echo 'exists' >&2; exit 3; fi && sync -- {qs}"
                  f" && mv -T -- {qs} {qd} && sync -- {qp}", what=f"renaming {src} to {dst}")

    def delete(self, rels: list[str]) -> None:
        if rels:
            self._run(f"cd {self._q()} && rm -rf -- " + " ".join(shlex.quote(r) for r in rels) + " && sync -- .",
                      what="deleting at the destination")

    def download(self, rel: str, write: t.Callable[[bytes], t.Any], limiter: RateLimiter) -> tuple[int, str]:
        seconds, how = transfer_deadline(self._size(rel), limiter.rate // 1024)
        argv = self._argv(f"cat -- {self._q(rel)}")
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,  # pylint: disable=consider-using-with
                                    stderr=subprocess.PIPE, **own_group())
        except OSError as exc:
            raise Unreachable(f"destination.ssh_executable: cannot run {self.opts.get('ssh_executable')}: {exc}") from exc
        doom = _Doomsday(proc, seconds, self._drop_master)
        try:
            size, digest = stream(proc.stdout, write, limiter)
            err = proc.stderr.read()
            proc.wait(timeout=max(120.0, self.timeout * 4))
        finally:
            doom.stop()
            if proc.poll() is None:
                kill_group(proc)
            proc.stdout.close()
            proc.stderr.close()
        if doom.fired:
            raise OffsiteError(transfer_deadline_message(f"reading {self.url}/{rel} over ssh", seconds, how))
        if proc.returncode == 255:
            raise Unreachable(self._ssh_error(err))
        if proc.returncode != 0:
            raise OffsiteError(f"reading {self.url}/{rel} failed: {err.decode(errors='replace').strip()}")
        return size, digest
