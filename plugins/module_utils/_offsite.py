# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Off-host copies of verified backups (backup_copy) and fetching them back (backup_fetch).

A *destination* is a directory-like place with one of three kinds:

* ``path``: a directory on the host (NFS mount, second disk, any directory);
* ``ssh``: a directory on another host, reached with the ``ssh`` client from
  the host that holds the backups (host to host, never through the controller);
* ``s3``: a bucket and prefix on S3-compatible object storage (boto3).

Each kind implements a few primitives (:class:`Destination`); the copy,
verification, resume and retention logic is shared and lives in
:func:`copy_backups` / :func:`fetch_backup`.

Layout at the destination (relative to the directory or ``bucket/prefix``)::

    <id>                      the backup's data (a file, or a directory tree)
    <id>.manifest.json        the backup's own manifest, byte for byte
    <id>.copy.json            the copy's manifest: written last, only after every
                              file verified (sha256 computed where it landed)
    .partial-copy-<id>/...    staging of a copy in progress (path and ssh)

A copy *counts* only when its ``.copy.json`` exists and says ``verified:
passed``. Path and SSH copies are written under ``.partial-copy-<id>/``,
verified there, then renamed into place; an interrupted copy leaves its
staging, which the next run resumes (a partial file is appended to). S3 has
no rename: each object is uploaded to its final key, where it only appears
once complete (a PUT or a completed multipart upload), and the copy still
counts only once ``.copy.json`` is written; a rerun skips objects whose
sha256 already matches.

Remote retention reads the ``.copy.json`` files (nothing else is ever
touched or deleted) and decides with :func:`_backup.plan_retention`, the
engine of local retention.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
import traceback
import typing as t

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B

try:
    import boto3
    import botocore.config
    import botocore.exceptions
    HAS_BOTO3 = True
    BOTO3_IMP_ERR = None
except ImportError:  # pragma: no cover - depends on the host
    boto3 = None
    HAS_BOTO3 = False
    BOTO3_IMP_ERR = traceback.format_exc()

COPY_FORMAT = "runbook.ops/offsite-copy"
COPY_VERSION = 1
COPY_SUFFIX = ".copy.json"
STAGING_PREFIX = ".partial-copy-"
TMP_PREFIX = ".partial-tmp-"
_BUF = 1024 * 1024
_ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")


class OffsiteError(Exception):
    """A failure already worded for the user."""


class Unreachable(OffsiteError):
    """The destination cannot be reached (or refused us): later backups are not attempted."""


# ---------------------------------------------------------------------------
# option spec (shared by backup_copy and backup_fetch; documented in doc_fragments/offsite.py)
# ---------------------------------------------------------------------------
def destination_spec() -> dict:
    return dict(
        destination=dict(
            type="dict",
            required=True,
            options=dict(
                type=dict(type="str", required=True, choices=["path", "ssh", "s3"]),
                path=dict(type="str"),
                host=dict(type="str"),
                user=dict(type="str"),
                port=dict(type="int", default=22),
                identity_file=dict(type="path"),
                known_hosts_file=dict(type="path"),
                host_key_checking=dict(type="str", default="yes", choices=["yes", "accept-new", "no"]),
                ssh_executable=dict(type="str", default="ssh"),
                bucket=dict(type="str"),
                prefix=dict(type="str", default=""),
                endpoint_url=dict(type="str"),
                region=dict(type="str"),
                access_key=dict(type="str", no_log=True),
                secret_key=dict(type="str", no_log=True),
                session_token=dict(type="str", no_log=True),
                sse=dict(type="str", default="none", choices=["none", "AES256", "aws:kms"]),
                sse_kms_key_id=dict(type="str", no_log=False),
                validate_certs=dict(type="bool", default=True),
                ca_bundle=dict(type="path"),
            ),
        ),
        timeout=dict(type="float", default=60),
        bwlimit=dict(type="int", default=0),
    )


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------
def check_relpath(rel: str, what: str = "path") -> str:
    """A relative path from a manifest, refused if it could leave the destination."""
    if not rel or rel.startswith("/") or "\\" in rel:
        raise OffsiteError(f"unsafe {what} {rel!r} in a manifest")
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts) or parts[0].startswith(".partial"):
        raise OffsiteError(f"unsafe {what} {rel!r} in a manifest")
    return rel


def check_id(backup_id: str) -> str:
    if not _ID_RE.match(backup_id or "") or backup_id.startswith(".partial"):
        raise OffsiteError(f"unsafe backup id {backup_id!r} in a manifest")
    return backup_id


class RateLimiter:
    """At most ``kib_per_s`` KiB per second over the whole run (0: no limit)."""

    def __init__(self, kib_per_s: int) -> None:
        self.rate = max(0, int(kib_per_s or 0)) * 1024
        self.start: float | None = None
        self.sent = 0

    def consume(self, n: int) -> None:
        if not self.rate or n <= 0:
            return
        if self.start is None:  # time spent before the first byte is no credit for a burst
            self.start = time.monotonic()
        self.sent += n
        ahead = self.sent / self.rate - (time.monotonic() - self.start)
        if ahead > 0:
            time.sleep(ahead)

    def chunk(self) -> int:
        return min(_BUF, max(16 * 1024, self.rate // 4)) if self.rate else _BUF


class LimitedReader:
    """A file object for boto3 uploads that hashes and rate-limits what is read."""

    def __init__(self, fh: t.BinaryIO, limiter: RateLimiter) -> None:
        self._fh = fh
        self._limiter = limiter

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all that is left when ``n`` < 0), fewer only at the end of the file:
        boto3 sizes multipart parts by what one read returns."""
        parts = []
        want = n if n is not None and n >= 0 else None
        while want is None or want > 0:
            step = self._limiter.chunk() if want is None else min(want, self._limiter.chunk())
            data = self._fh.read(step)
            if not data:
                break
            self._limiter.consume(len(data))
            parts.append(data)
            if want is not None:
                want -= len(data)
        return b"".join(parts)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def seekable(self) -> bool:
        return True

    def close(self) -> None:  # the caller closes the file it opened
        return None


def _stream(src: t.BinaryIO, write: t.Callable[[bytes], t.Any], limiter: RateLimiter) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    while True:
        data = src.read(limiter.chunk())
        if not data:
            break
        limiter.consume(len(data))
        write(data)
        digest.update(data)
        size += len(data)
    return size, digest.hexdigest()


# ---------------------------------------------------------------------------
# destinations
# ---------------------------------------------------------------------------
class Destination:
    """Primitives over relative ``/``-separated paths under the destination root."""

    kind = ""
    staged = True  # copies are written under STAGING_PREFIX<id>/ and renamed into place

    def __init__(self, opts: dict, timeout: float) -> None:
        self.opts = opts
        self.timeout = timeout

    # what a result shows (never credentials)
    url = ""

    def prepare(self, create: bool) -> bool:
        """Check that the destination is usable; create its directory if ``create``. True if it exists."""
        raise NotImplementedError

    def listing(self) -> dict[str, int]:
        """Every file under the root (recursively): {relative path: size}."""
        raise NotImplementedError

    def read(self, rel: str) -> bytes:
        raise NotImplementedError

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write a small file atomically (replacing it), mode 0600."""
        raise NotImplementedError

    def upload(self, local: str, rel: str, offset: int, limiter: RateLimiter) -> None:
        """Copy a local file to ``rel``, appending from ``offset`` (0: whole file). Mode 0600."""
        raise NotImplementedError

    def sha256(self, rels: list[str]) -> dict[str, str | None]:
        """sha256 computed at the destination (None when a file is missing)."""
        raise NotImplementedError

    def rename(self, src: str, dst: str) -> None:
        raise NotImplementedError

    def delete(self, rels: list[str]) -> None:
        """Remove files or directory trees (missing ones are fine)."""
        raise NotImplementedError

    def download(self, rel: str, write: t.Callable[[bytes], t.Any], limiter: RateLimiter) -> tuple[int, str]:
        """Stream a file to ``write``; (size, sha256 of what was read)."""
        raise NotImplementedError

    def close(self) -> None:
        return None


class PathDestination(Destination):
    kind = "path"

    def __init__(self, opts: dict, timeout: float) -> None:
        super().__init__(opts, timeout)
        if not opts.get("path"):
            raise OffsiteError("destination.path: required for type path (the directory that receives the copies)")
        self.root = os.path.abspath(opts["path"])
        self.url = "file://" + self.root

    def _full(self, rel: str) -> str:
        return os.path.join(self.root, *rel.split("/"))

    def prepare(self, create: bool) -> bool:
        if os.path.isdir(self.root):
            if not os.access(self.root, os.W_OK | os.X_OK):
                raise Unreachable(f"destination.path: {self.root} is not writable")
            return True
        if os.path.exists(self.root):
            raise Unreachable(f"destination.path: {self.root} exists and is not a directory")
        if create:
            try:
                os.makedirs(self.root, mode=B.DIR_MODE, exist_ok=True)
            except OSError as exc:
                raise Unreachable(f"destination.path: cannot create {self.root}: {exc}") from exc
            return True
        return False

    def listing(self) -> dict[str, int]:
        out = {}
        for root, _dirs, files in os.walk(self.root):
            for name in files:
                full = os.path.join(root, name)
                try:
                    out[os.path.relpath(full, self.root).replace(os.sep, "/")] = os.path.getsize(full)
                except OSError:
                    continue
        return out

    def read(self, rel: str) -> bytes:
        with open(self._full(rel), "rb") as fh:
            return fh.read()

    def _mkparent(self, full: str) -> None:
        os.makedirs(os.path.dirname(full), mode=B.DIR_MODE, exist_ok=True)

    def write_bytes(self, rel: str, data: bytes) -> None:
        full = self._full(rel)
        self._mkparent(full)
        tmp = os.path.join(os.path.dirname(full), f"{TMP_PREFIX}{os.getpid()}-{os.path.basename(full)}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, B.FILE_MODE)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, B.FILE_MODE)
            os.replace(tmp, full)
        except BaseException:
            B.discard_partial(tmp)
            raise
        B.fsync_path(os.path.dirname(full))

    def upload(self, local: str, rel: str, offset: int, limiter: RateLimiter) -> None:
        full = self._full(rel)
        self._mkparent(full)
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if offset else os.O_TRUNC)
        fd = os.open(full, flags, B.FILE_MODE)
        with os.fdopen(fd, "wb") as out, open(local, "rb") as src:
            src.seek(offset)
            _stream(src, out.write, limiter)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(full, B.FILE_MODE)

    def sha256(self, rels: list[str]) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for rel in rels:
            try:
                out[rel] = B.sha256_file(self._full(rel))
            except FileNotFoundError:
                out[rel] = None
        return out

    def rename(self, src: str, dst: str) -> None:
        target = self._full(dst)
        self._mkparent(target)
        if os.path.lexists(target):
            raise OffsiteError(f"{target} appeared while copying; refusing to overwrite it")
        B.fsync_tree(self._full(src))
        os.rename(self._full(src), target)
        B.fsync_path(os.path.dirname(target))

    def delete(self, rels: list[str]) -> None:
        for rel in rels:
            B.remove_path(self._full(rel))
        B.fsync_path(self.root)

    def download(self, rel: str, write: t.Callable[[bytes], t.Any], limiter: RateLimiter) -> tuple[int, str]:
        with open(self._full(rel), "rb") as src:
            return _stream(src, write, limiter)


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

    def close(self) -> None:
        if not self._control:
            return
        control, self._control = self._control, None
        if os.path.exists(f"{control}/cm"):
            try:
                subprocess.run(self._base_argv() + ["-o", f"ControlPath={control}/cm", "-O", "exit", self.opts["host"]],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=30, check=False)
            except (OSError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(control, ignore_errors=True)

    def _q(self, rel: str = "") -> str:
        return shlex.quote(posixpath.join(self.root, rel) if rel else self.root)

    def _run(self, remote: str, stdin: bytes | None = None, what: str = "", ok_rcs: tuple = (0,),
             timeout: float | None = -1.0) -> bytes:
        """One remote command. ``timeout`` -1: a bound for small commands; None: long work (hashing large
        files), where ServerAliveInterval still detects a dead connection."""
        bound = max(60.0, self.timeout * 4) if timeout == -1.0 else timeout
        try:
            proc = subprocess.run(self._argv(remote), input=stdin if stdin is not None else b"", capture_output=True,
                                  timeout=bound, check=False)
        except subprocess.TimeoutExpired as exc:
            raise Unreachable(f"ssh to {self.opts['host']} timed out ({what or 'remote command'})") from exc
        except OSError as exc:
            raise Unreachable(f"destination.ssh_executable: cannot run {self.opts.get('ssh_executable')}: {exc}") from exc
        if proc.returncode == 255:
            raise Unreachable(self._ssh_error(proc.stderr))
        if proc.returncode not in ok_rcs:
            err = proc.stderr.decode(errors="replace").strip()
            raise OffsiteError(f"{what or 'remote command'} on {self.opts['host']} failed (rc {proc.returncode}): {err}")
        return proc.stdout

    def _ssh_error(self, stderr: bytes) -> str:
        err = stderr.decode(errors="replace").strip()
        if "Permission denied" in err:
            hint = "the key (destination.identity_file) is not accepted for this user (destination.user)"
        elif "Host key verification failed" in err or "REMOTE HOST IDENTIFICATION" in err:
            hint = "the backup host's key is not in known_hosts (destination.known_hosts_file, destination.host_key_checking)"
        else:
            hint = "the backup host is unreachable or the connection was lost"
        return f"ssh to {self.url}: {hint}: {err}"

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
        with tempfile.TemporaryFile() as errfile:
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                                        stderr=errfile)
            except OSError as exc:
                raise Unreachable(f"destination.ssh_executable: cannot run {self.opts.get('ssh_executable')}: {exc}") from exc
            try:
                with open(local, "rb") as src:
                    src.seek(offset)
                    try:
                        _stream(src, proc.stdin.write, limiter)
                        proc.stdin.close()
                    except BrokenPipeError:
                        pass
                proc.wait(timeout=max(120.0, self.timeout * 4))
            except subprocess.TimeoutExpired as exc:
                raise Unreachable(f"ssh to {self.url}: the backup host stopped answering while receiving {rel}") from exc
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
            errfile.seek(0)
            err = errfile.read()
        if proc.returncode == 255:
            raise Unreachable(self._ssh_error(err))
        if proc.returncode != 0:
            raise OffsiteError(f"copying {local} to {self.url}/{rel} failed (rc {proc.returncode}): "
                               f"{err.decode(errors='replace').strip()}")

    def sha256(self, rels: list[str]) -> dict[str, str | None]:
        out: dict[str, str | None] = {rel: None for rel in rels}
        if not rels:
            return out
        cmd = f"cd {self._q()} && sha256sum -- " + " ".join(shlex.quote(r) for r in rels)
        text = self._run(cmd, what="computing sha256 at the destination", ok_rcs=(0, 1),
                         timeout=None).decode(errors="replace")
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
        argv = self._argv(f"cat -- {self._q(rel)}")
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,  # pylint: disable=consider-using-with
                                    stderr=subprocess.PIPE)
        except OSError as exc:
            raise Unreachable(f"destination.ssh_executable: cannot run {self.opts.get('ssh_executable')}: {exc}") from exc
        try:
            size, digest = _stream(proc.stdout, write, limiter)
            err = proc.stderr.read()
            proc.wait(timeout=max(120.0, self.timeout * 4))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        if proc.returncode == 255:
            raise Unreachable(self._ssh_error(err))
        if proc.returncode != 0:
            raise OffsiteError(f"reading {self.url}/{rel} failed: {err.decode(errors='replace').strip()}")
        return size, digest


class S3Destination(Destination):
    """A bucket and prefix on S3-compatible storage. Credentials: the module's options or boto3's usual
    sources (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, profiles, instance roles)."""

    kind = "s3"
    staged = False
    multipart_threshold = 64 * _BUF  # larger files go up in parts (S3: at least 5 MiB each)
    multipart_chunksize = 16 * _BUF

    def __init__(self, opts: dict, timeout: float) -> None:
        super().__init__(opts, timeout)
        if not HAS_BOTO3:
            raise ImportError("boto3")
        if not opts.get("bucket"):
            raise OffsiteError("destination.bucket: required for type s3")
        self.bucket = opts["bucket"]
        self.prefix = (opts.get("prefix") or "").strip("/")
        self.url = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self.endpoint = opts.get("endpoint_url") or "AWS"
        cfg = botocore.config.Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2},
                                     signature_version="s3v4")
        kwargs: dict = {"config": cfg}
        if opts.get("endpoint_url"):
            kwargs["endpoint_url"] = opts["endpoint_url"]
        if opts.get("region"):
            kwargs["region_name"] = opts["region"]
        if opts.get("ca_bundle"):
            kwargs["verify"] = opts["ca_bundle"]
        elif not opts.get("validate_certs", True):
            kwargs["verify"] = False
        for opt, arg in (("access_key", "aws_access_key_id"), ("secret_key", "aws_secret_access_key"),
                         ("session_token", "aws_session_token")):
            if opts.get(opt):
                kwargs[arg] = opts[opt]
        if bool(opts.get("access_key")) != bool(opts.get("secret_key")):
            raise OffsiteError("destination.access_key and destination.secret_key: give both or neither")
        self.extra: dict = {}
        if opts.get("sse") and opts["sse"] != "none":
            self.extra["ServerSideEncryption"] = opts["sse"]
            if opts.get("sse_kms_key_id"):
                self.extra["SSEKMSKeyId"] = opts["sse_kms_key_id"]
        elif opts.get("sse_kms_key_id"):
            raise OffsiteError("destination.sse_kms_key_id: needs destination.sse=aws:kms")
        self.client = boto3.session.Session().client("s3", **kwargs)
        from boto3.s3.transfer import TransferConfig  # pylint: disable=import-outside-toplevel
        self.transfer = TransferConfig(use_threads=False, multipart_threshold=self.multipart_threshold,
                                       multipart_chunksize=self.multipart_chunksize)

    def key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def _error(self, exc: Exception, what: str) -> OffsiteError:
        if isinstance(exc, botocore.exceptions.NoCredentialsError):
            return Unreachable(f"S3 {self.url} ({self.endpoint}): no credentials: set destination.access_key/secret_key or "
                               "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
        if isinstance(exc, botocore.exceptions.ClientError):
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
                        "InvalidClientTokenId", "AccessDenied", "403") or status == 403:
                return Unreachable(f"S3 {self.url} ({self.endpoint}) rejected the credentials while {what} ({code or status}): check "
                                   "destination.access_key/secret_key (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) "
                                   "and the bucket policy")
            if code in ("NoSuchBucket", "404") and what == "checking the bucket":
                return Unreachable(f"destination.bucket: bucket {self.bucket!r} does not exist at {self.url}")
            return OffsiteError(f"S3 {self.url}: {what} failed: {code or status}: {err.get('Message', '')}".rstrip(": "))
        if isinstance(exc, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionError,
                            botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError)):
            return Unreachable(f"S3 {self.url} at {self.endpoint} is unreachable while {what}: {exc}")
        if isinstance(exc, botocore.exceptions.BotoCoreError):
            return OffsiteError(f"S3 {self.url}: {what} failed: {exc}")
        return OffsiteError(f"S3 {self.url}: {what} failed: {exc}")

    def _call(self, what: str, fn: t.Callable, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._error(exc, what) from exc

    def prepare(self, create: bool) -> bool:
        self._call("checking the bucket", self.client.head_bucket, Bucket=self.bucket)
        # head_bucket may succeed for a bucket owner with wrong keys on some stores; a list call signs with them
        self._call("listing the bucket", self.client.list_objects_v2, Bucket=self.bucket, Prefix=self.key(""), MaxKeys=1)
        return True

    def listing(self) -> dict[str, int]:
        out = {}
        base = self.key("")
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base):
                for obj in page.get("Contents", []):
                    rel = obj["Key"][len(base):]
                    if rel:
                        out[rel] = int(obj["Size"])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._error(exc, "listing the destination") from exc
        return out

    def read(self, rel: str) -> bytes:
        resp = self._call(f"reading {rel}", self.client.get_object, Bucket=self.bucket, Key=self.key(rel))
        return resp["Body"].read()

    def write_bytes(self, rel: str, data: bytes) -> None:
        self._call(f"writing {rel}", self.client.put_object, Bucket=self.bucket, Key=self.key(rel), Body=data,
                   **self.extra)

    def upload(self, local: str, rel: str, offset: int, limiter: RateLimiter) -> None:
        with open(local, "rb") as fh:
            self._call(f"uploading {rel}", self.client.upload_fileobj, LimitedReader(fh, limiter), self.bucket,
                       self.key(rel), ExtraArgs=dict(self.extra) or None, Config=self.transfer)

    def sha256(self, rels: list[str]) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for rel in rels:
            try:
                _size, digest = self.download(rel, lambda _d: None, RateLimiter(0))
                out[rel] = digest
            except OffsiteError as exc:
                if isinstance(exc, Unreachable) or "NoSuchKey" not in str(exc) and "404" not in str(exc):
                    raise
                out[rel] = None
        return out

    def rename(self, src: str, dst: str) -> None:  # pragma: no cover - S3 copies are not staged
        raise NotImplementedError

    def delete(self, rels: list[str]) -> None:
        keys = []
        listing = None
        for rel in rels:
            keys.append(self.key(rel))
            # a "directory" backup: every object under it
            if listing is None:
                listing = self.listing()
            keys += [self.key(r) for r in listing if r.startswith(rel + "/")]
        for i in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[i:i + 1000]]
            resp = self._call("deleting at the destination", self.client.delete_objects, Bucket=self.bucket,
                              Delete={"Objects": batch, "Quiet": True})
            errors = resp.get("Errors") or []
            if errors:
                raise OffsiteError(f"S3 {self.url}: deleting {errors[0].get('Key')} failed: {errors[0].get('Code')}")

    def download(self, rel: str, write: t.Callable[[bytes], t.Any], limiter: RateLimiter) -> tuple[int, str]:
        resp = self._call(f"reading {rel}", self.client.get_object, Bucket=self.bucket, Key=self.key(rel))
        body = resp["Body"]
        try:
            try:
                return _stream(body, write, limiter)
            except (botocore.exceptions.BotoCoreError, OSError) as exc:
                raise self._error(exc, f"reading {rel}") from exc
        finally:
            body.close()


KINDS = {"path": PathDestination, "ssh": SshDestination, "s3": S3Destination}


def make_destination(opts: dict, timeout: float) -> Destination:
    return KINDS[opts["type"]](opts, timeout)


# ---------------------------------------------------------------------------
# copy manifests and remote records
# ---------------------------------------------------------------------------
def copy_manifest_name(backup_id: str) -> str:
    return backup_id + COPY_SUFFIX


def data_tops(manifest: dict) -> list[str]:
    """Top-level names of a backup's data (its file, or its directory)."""
    return sorted({check_relpath(e["path"]).split("/", 1)[0] for e in manifest.get("files", [])})


def parse_copy_manifest(data: bytes) -> dict | None:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != COPY_FORMAT:
        return None
    try:
        check_id(doc["id"])
        for entry in doc.get("files", []):
            check_relpath(entry["path"])
        B.parse_time(doc["backup_finished_at"])
    except (KeyError, TypeError, ValueError, OffsiteError):
        return None
    return doc


def remote_record(doc: dict, listing: dict[str, int], url: str) -> B.BackupRecord:
    complete = bool(doc.get("files")) and all(listing.get(e["path"]) == int(e["size"]) for e in doc["files"])
    return B.BackupRecord(
        id=doc["id"], name=doc.get("name", ""), kind=doc.get("kind", ""),
        finished_at=B.parse_time(doc["backup_finished_at"]),
        verified=doc.get("verified") == B.VERIFY_PASSED, complete=complete,
        path=f"{url}/{doc['id']}", manifest_path=copy_manifest_name(doc["id"]), manifest=doc,
    )


def read_copies(dest: Destination, listing: dict[str, int]) -> dict[str, dict]:
    """Copy manifests of ours at the destination root: {backup id: manifest}. Foreign files are ignored."""
    out = {}
    for rel in sorted(listing):
        if "/" in rel or not rel.endswith(COPY_SUFFIX) or rel.startswith("."):
            continue
        doc = parse_copy_manifest(dest.read(rel))
        if doc is not None and copy_manifest_name(doc["id"]) == rel:
            out[doc["id"]] = doc
    return out


def copy_entry(kind: str, name: str, backup: str, url: str, size: int, verified: bool, copied_at: str | None,
               status: str, msg: str, backup_id: str = "") -> dict:
    return {"kind": kind, "name": name, "backup": backup, "id": backup_id, "destination": url, "size": size,
            "verified": verified, "copied_at": copied_at, "status": status, "msg": msg}


# ---------------------------------------------------------------------------
# backup_copy
# ---------------------------------------------------------------------------
class CopyRun:
    def __init__(self, dest: Destination, params: dict, check: bool) -> None:
        self.dest = dest
        self.p = params
        self.check = check
        self.limiter = RateLimiter(params.get("bwlimit") or 0)
        self.url = dest.url
        self.result: dict = {"changed": False, "destination": self.url, "copies": [], "retention": {}, "deleted": [],
                             "leftovers_removed": [], "series": []}
        self.listing: dict[str, int] = {}
        self.copies: dict[str, dict] = {}
        self.unreachable: str | None = None
        self.local_ok: set[str] = set()
        self.checked: set[str] = set()

    # -- local side ---------------------------------------------------------------
    def local_backups(self) -> list[B.BackupRecord]:
        p = self.p
        d = p["backup_dir"]
        if not os.path.isdir(d):
            raise OffsiteError(f"backup_dir: {d} is not a directory")
        names = set(p.get("names") or [])
        out = []
        for rec in B.read_manifests(d, p.get("kind")):
            if names and rec.name not in names:
                continue
            out.append(rec)
        return out

    # -- the run -------------------------------------------------------------------
    def run(self) -> dict:
        p = self.p
        if p.get("keep_last") is not None and p["keep_last"] < 1:
            raise OffsiteError("keep_last: must be at least 1 (the newest verified copy is always kept)")
        if p.get("max_age_days") is not None and p["max_age_days"] < 0:
            raise OffsiteError("max_age_days: must not be negative")
        if (p.get("bwlimit") or 0) < 0:
            raise OffsiteError("bwlimit: must not be negative")
        local = self.local_backups()
        exists = self.dest.prepare(create=not self.check)
        self.listing = self.dest.listing() if exists else {}
        self.copies = read_copies(self.dest, self.listing)
        wanted = {rec.id for rec in local if rec.countable}
        self._leftovers(wanted)
        for rec in local:
            if not rec.countable:
                continue
            if self.unreachable:
                self._add(rec, rec.manifest.get("size", 0), False, None, "failed",
                          f"not attempted: {self.unreachable}")
                continue
            try:
                self._one(rec)
            except Unreachable as exc:
                self.unreachable = str(exc)
                self._add(rec, rec.manifest.get("size", 0), False, None, "failed", str(exc))
            except (OffsiteError, B.BackupError, OSError) as exc:
                msg = str(exc)
                if B.is_no_space(exc):
                    msg = f"the destination is full: {exc}; the copy was not counted and will be resumed"
                self._add(rec, rec.manifest.get("size", 0), False, None, "failed", msg)
        if self.unreachable:
            self.result["retention_skipped"] = f"destination unreachable: {self.unreachable}"
        else:
            self._retention()
        failed = [c for c in self.result["copies"] if c["status"] == "failed"]
        if failed:
            self.result["failed"] = True
            self.result["msg"] = (f"{len(failed)} of {len(self.result['copies'])} backup(s) not copied to {self.url}: "
                                  + "; ".join(f"{c['id']}: {c['msg']}" for c in failed[:5]))
        return self.result

    def _add(self, rec: B.BackupRecord, size: int, verified: bool, copied_at: str | None, status: str, msg: str) -> None:
        self.result["copies"].append(copy_entry(rec.kind, rec.name, rec.path, self.url, int(size or 0), verified,
                                                copied_at, status, msg, rec.id))
        if status == "copied":
            self.result["changed"] = True

    def _leftovers(self, wanted: set[str]) -> None:
        """Staging of copies whose backup is no longer here to finish them, and temporary manifest files."""
        stale = set()
        for rel in self.listing:
            top = rel.split("/", 1)[0]
            if top.startswith(STAGING_PREFIX) and top[len(STAGING_PREFIX):] not in wanted:
                stale.add(top)
            elif top.startswith(TMP_PREFIX) and "/" not in rel:
                stale.add(top)
        if not stale:
            return
        if not self.check:
            self.dest.delete(sorted(stale))
        self.result["leftovers_removed"] = [f"{self.url}/{s}" for s in sorted(stale)]
        self.result["changed"] = True
        for rel in list(self.listing):
            if rel.split("/", 1)[0] in stale:
                del self.listing[rel]

    def _one(self, rec: B.BackupRecord) -> None:
        manifest = rec.manifest
        check_id(rec.id)
        entries = [dict(e, path=check_relpath(e["path"])) for e in manifest.get("files", [])]
        mname = os.path.basename(rec.manifest_path)
        size = sum(int(e["size"]) for e in entries)
        doc = self.copies.get(rec.id)
        redo = ""
        if doc is not None:
            problems = self._check_copy(doc)
            if not problems and doc.get("verified") == B.VERIFY_PASSED:
                self._add(rec, size, True, doc.get("copied_at"), "present", "already at the destination, verified")
                return
            redo = "; ".join(problems) or "the earlier copy did not verify"
            self._check_local(rec)  # the bad copy goes only when a good backup replaces it
            if not self.check:
                # ours: drop the bad copy (its manifest first, so it stops counting at once)
                self.dest.delete([copy_manifest_name(rec.id)])
                self.dest.delete([mname] + data_tops(manifest))
            for rel in [copy_manifest_name(rec.id), mname] + [e["path"] for e in entries]:
                self.listing.pop(rel, None)
        else:
            in_the_way = [e["path"] for e in entries if e["path"] in self.listing]
            in_the_way += [mname] if mname in self.listing else []
            if in_the_way:
                # final names without our copy manifest: a copy interrupted after its files landed (S3, or
                # between rename and manifest), adopted only when every byte matches; never overwritten
                digests = self.dest.sha256(in_the_way)
                expected = {e["path"]: e["sha256"] for e in entries}
                expected[mname] = B.sha256_file(rec.manifest_path)
                bad = [r for r in in_the_way if digests.get(r) != expected[r]]
                if bad and self.dest.staged:
                    raise OffsiteError(f"{', '.join(bad)} at the destination was not written by backup_copy "
                                       "(no copy manifest) and differs from the backup; not overwritten")
                if bad:  # S3: an object of an unfinished copy (no copy manifest) that did not match: replace it
                    for rel in bad:
                        self.listing.pop(rel, None)
        self._check_local(rec)
        if self.check:
            self._add(rec, size, False, None, "copied", "would be copied (check mode)" + (f"; {redo}" if redo else ""))
            return
        self._copy(rec, entries, mname)
        doc = self._commit(rec, entries, mname, size)
        self.copies[rec.id] = doc
        self._add(rec, size, True, doc["copied_at"], "copied",
                  "copied and verified at the destination" + (f" (re-copied: {redo})" if redo else ""))

    def _check_local(self, rec: B.BackupRecord) -> None:
        if rec.id in self.local_ok:
            return
        problems = B.verify_files(rec)
        if problems:
            raise OffsiteError(f"the local backup does not match its manifest ({'; '.join(problems)}); not copied")
        self.local_ok.add(rec.id)

    def _check_copy(self, doc: dict) -> list[str]:
        self.checked.add(doc["id"])
        problems = []
        for e in doc.get("files", []):
            have = self.listing.get(e["path"])
            if have is None:
                problems.append(f"{e['path']}: missing at the destination")
            elif have != int(e["size"]):
                problems.append(f"{e['path']}: {have} bytes at the destination, {e['size']} copied")
        if problems or self.p.get("verify_existing") != "sha256":
            return problems
        digests = self.dest.sha256([e["path"] for e in doc.get("files", [])])
        for e in doc.get("files", []):
            if digests.get(e["path"]) != e["sha256"]:
                problems.append(f"{e['path']}: sha256 at the destination does not match the copy's manifest")
        return problems

    def _copy(self, rec: B.BackupRecord, entries: list[dict], mname: str) -> None:
        src_dir = os.path.dirname(os.path.abspath(rec.manifest_path))
        staging = STAGING_PREFIX + rec.id if self.dest.staged else ""
        # tops already under their final name (an adopted, byte-identical earlier copy; see _one)
        done = {top for top in data_tops(rec.manifest)
                if all(e["path"] in self.listing for e in entries if e["path"].split("/", 1)[0] == top)}
        for e in entries:
            if staging and e["path"].split("/", 1)[0] in done:
                continue
            rel = f"{staging}/{e['path']}" if staging else e["path"]
            local = os.path.join(src_dir, *e["path"].split("/"))
            have = self.listing.get(rel)
            size = int(e["size"])
            if have == size and self.dest.sha256([rel]).get(rel) == e["sha256"]:
                continue  # landed in an earlier run
            offset = have if (have is not None and 0 < have < size and self.dest.staged) else 0
            for attempt in (1, 2):
                self.dest.upload(local, rel, offset, self.limiter)
                got = self.dest.sha256([rel]).get(rel)
                if got == e["sha256"]:
                    break
                if attempt == 2:
                    raise OffsiteError(f"{e['path']}: sha256 at the destination ({got}) does not match the backup's "
                                       f"({e['sha256']}) after two attempts; the copy is not counted")
                offset = 0  # a resumed partial that does not verify: copy the whole file again
            self.listing[rel] = size
        if staging:
            for top in data_tops(rec.manifest):
                if top not in done:
                    self.dest.rename(f"{staging}/{top}", top)
            self.dest.delete([staging])

    def _commit(self, rec: B.BackupRecord, entries: list[dict], mname: str, size: int) -> dict:
        with open(rec.manifest_path, "rb") as fh:
            mbytes = fh.read()
        self.dest.write_bytes(mname, mbytes)
        files = [{"path": e["path"], "size": int(e["size"]), "sha256": e["sha256"]} for e in entries]
        files.append({"path": mname, "size": len(mbytes), "sha256": hashlib.sha256(mbytes).hexdigest()})
        # verify where it landed: every file, after the renames
        digests = self.dest.sha256([f["path"] for f in files]) if self.dest.staged else \
            {mname: self.dest.sha256([mname]).get(mname), **{e["path"]: e["sha256"] for e in entries}}
        bad = [f["path"] for f in files if digests.get(f["path"]) != f["sha256"]]
        if bad:
            raise OffsiteError(f"{', '.join(bad)}: sha256 at the destination does not match after the copy; "
                               "the copy is not counted")
        now = B.format_time(B.utcnow())
        doc = {
            "format": COPY_FORMAT, "version": COPY_VERSION, "kind": rec.kind, "name": rec.name, "id": rec.id,
            "backup_finished_at": rec.manifest.get("finished_at"), "backup_verified": rec.manifest.get("verified"),
            "source_host": socket.gethostname(), "source_path": rec.path, "source_manifest": mname,
            "destination": self.url, "copied_at": now, "size": size,
            "verified": B.VERIFY_PASSED,
            "verification": {"method": "sha256 at the destination", "at": now, "files": len(files)},
            "files": files, "written_by": "runbook.ops.backup_copy",
        }
        data = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
        self.dest.write_bytes(copy_manifest_name(rec.id), data)
        for f in files:
            self.listing[f["path"]] = f["size"]
        self.listing[copy_manifest_name(rec.id)] = len(data)
        return doc

    # -- remote retention -----------------------------------------------------------
    def _recheck_others(self) -> None:
        """Copies whose backup is gone locally are re-checked too: one that no longer matches stops counting
        (its copy manifest is rewritten as failed), so retention never keeps it in place of a good one."""
        for backup_id, doc in sorted(self.copies.items()):
            if backup_id in self.checked or doc.get("verified") != B.VERIFY_PASSED:
                continue
            if self.p.get("kind") and doc.get("kind") != self.p["kind"]:
                continue
            if self.p.get("names") and doc.get("name") not in self.p["names"]:
                continue
            problems = self._check_copy(doc)
            if not problems:
                continue
            bad = dict(doc, verified=B.VERIFY_FAILED, verification=dict(
                doc.get("verification") or {}, error="; ".join(problems), at=B.format_time(B.utcnow())))
            if not self.check:
                data = (json.dumps(bad, indent=2, sort_keys=True) + "\n").encode()
                self.dest.write_bytes(copy_manifest_name(backup_id), data)
                self.listing[copy_manifest_name(backup_id)] = len(data)
            self.result["changed"] = True
            self.copies[backup_id] = bad
            self.result.setdefault("warnings", []).append(
                f"the copy {backup_id} at {self.url} no longer matches ({'; '.join(problems)}) and its backup is gone "
                "from this host: it no longer counts (its copy manifest says verified: failed)")

    def _retention(self) -> None:
        p = self.p
        if p.get("verify_existing") != "none":
            self._recheck_others()
        series: dict[tuple[str, str], list[B.BackupRecord]] = {}
        for doc in self.copies.values():
            rec = remote_record(doc, self.listing, self.url)
            if p.get("kind") and rec.kind != p["kind"]:
                continue
            if p.get("names") and rec.name not in p["names"]:
                continue
            series.setdefault((rec.kind, rec.name), []).append(rec)
        if self.check:  # what this run would have copied counts as it would after a real run
            for c in self.result["copies"]:
                if c["status"] == "copied" and c["id"] not in self.copies:
                    local = next((r for r in self.local_backups() if r.id == c["id"]), None)
                    if local is not None:
                        series.setdefault((c["kind"], c["name"]), []).append(B.BackupRecord(
                            id=c["id"], name=c["name"], kind=c["kind"], finished_at=local.finished_at, verified=True,
                            complete=True, path=f"{self.url}/{c['id']}",
                            manifest_path=copy_manifest_name(c["id"])))
        now = B.utcnow()
        for (kind, name), records in sorted(series.items()):
            latest = B.latest_verified(records)
            self.result["series"].append({
                "kind": kind, "name": name, "destination": self.url, "copies": sum(1 for r in records if r.countable),
                "last_verified_backup_finished_at": B.format_time(latest.finished_at) if latest else None,
                "last_verified_copied_at": (latest.manifest.get("copied_at") if latest and latest.manifest else None),
            })
            if p.get("keep_last") is None and p.get("max_age_days") is None:
                continue
            plan = B.plan_retention(records, p.get("keep_last"), p.get("max_age_days"), now)
            key = name if not any(k != kind and n == name for k, n in series) else f"{kind}:{name}"
            made_now = {c["id"] for c in self.result["copies"] if c["status"] == "copied"}
            keep = [d.as_dict() for d in plan.keep]
            delete = []
            for d in plan.delete:
                if d.record.id in made_now:
                    # the artefact a run just made is never removed by that run
                    keep.append(dict(d.as_dict(), action="keep", reason="copied by this run (never deleted by the run "
                                     f"that made it; retention would: {d.reason})"))
                    continue
                delete.append(d.as_dict())
                if not self.check:
                    self._delete_copy(d.record)
                self.result["deleted"].append(d.record.path)
                self.result["changed"] = True
            self.result["retention"][key] = {"keep": keep, "delete": delete}

    def _delete_copy(self, rec: B.BackupRecord) -> None:
        doc = rec.manifest
        tops = sorted({f["path"].split("/", 1)[0] for f in doc.get("files", [])} - {copy_manifest_name(rec.id)})
        # data and the backup's manifest first, the copy manifest (what made it count) last
        self.dest.delete(tops)
        self.dest.delete([copy_manifest_name(rec.id)])


def copy_backups(dest: Destination, params: dict, check: bool) -> dict:
    return CopyRun(dest, params, check).run()


# ---------------------------------------------------------------------------
# backup_fetch
# ---------------------------------------------------------------------------
def pick_copy(dest: Destination, listing: dict[str, int], kind: str, name: str, backup: str) -> B.BackupRecord:
    copies = read_copies(dest, listing)
    records = [remote_record(d, listing, dest.url) for d in copies.values() if d.get("kind") == kind and d.get("name") == name]
    if backup == "latest":
        rec = B.latest_verified(records)
        if rec is None:
            raise OffsiteError(f"no complete, verified copy of {kind} series {name!r} at {dest.url} "
                               f"({len(records)} copy manifest(s) of that series)")
        return rec
    wanted = os.path.basename(backup.rstrip("/"))
    if wanted.endswith(B.MANIFEST_SUFFIX):
        wanted = wanted[:-len(B.MANIFEST_SUFFIX)]
    for rec in records:
        if rec.id == wanted:
            if not rec.countable:
                raise OffsiteError(f"backup: the copy {wanted} at {dest.url} is incomplete or not verified")
            return rec
    raise OffsiteError(f"backup: no copy {wanted!r} of {kind} series {name!r} at {dest.url}")


def fetch_backup(dest: Destination, params: dict, check: bool) -> dict:
    """Download a verified copy into ``dest_dir`` (atomically, mode 0600), checking every sha256 against the
    copy's manifest; the local result is a backup with its manifest, as the restore modules take it."""
    p = params
    local_dir = os.path.abspath(p["dest_dir"])
    if not dest.prepare(create=False):
        raise Unreachable(f"destination: {dest.url} does not exist")
    listing = dest.listing()
    rec = pick_copy(dest, listing, p["kind"], p["name"], p.get("backup") or "latest")
    doc = rec.manifest
    files = [dict(f, path=check_relpath(f["path"])) for f in doc["files"]]
    mname = doc.get("source_manifest") or rec.id + B.MANIFEST_SUFFIX
    base = os.path.basename(mname)[:-len(B.MANIFEST_SUFFIX)] if mname.endswith(B.MANIFEST_SUFFIX) else rec.id
    local_path = os.path.join(local_dir, base)
    local_manifest = os.path.join(local_dir, mname)
    result = {"changed": False, "destination": dest.url, "id": rec.id, "kind": rec.kind, "name": rec.name,
              "backup": local_path, "manifest": local_manifest, "finished_at": doc.get("backup_finished_at"),
              "copied_at": doc.get("copied_at"), "source_host": doc.get("source_host"),
              "size": sum(int(f["size"]) for f in files if f["path"] != mname), "checksum": None, "fetched": []}
    if os.path.exists(local_manifest):
        try:
            problems = B.verify_files(B.load_manifest(local_manifest), local_dir)
        except B.BackupError as exc:
            problems = [str(exc)]
        if problems:
            raise OffsiteError(f"dest_dir: {local_manifest} exists but does not match ({'; '.join(problems)}); "
                               "remove it or choose another dest_dir")
        result["checksum"] = "ok"
        result["status"] = "present"
        return result
    result["status"] = "fetched"
    result["changed"] = True
    if check:
        return result
    B.ensure_dir(local_dir)
    B.check_free_space(local_dir, result["size"], f"the copy {rec.id}")
    limiter = RateLimiter(p.get("bwlimit") or 0)
    tops = data_tops({"files": [f for f in files if f["path"] != mname]})
    partials = {}
    try:
        for top in tops:
            final = os.path.join(local_dir, top)
            is_dir = any(f["path"].startswith(top + "/") for f in files)
            partials[top] = B.new_partial(final, directory=is_dir)
        for f in files:
            if f["path"] == mname:
                continue
            top, _sep, rest = f["path"].partition("/")
            target = os.path.join(partials[top], *rest.split("/")) if rest else partials[top]
            os.makedirs(os.path.dirname(target), mode=B.DIR_MODE, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, B.FILE_MODE)
            with os.fdopen(fd, "wb") as out:
                size, digest = dest.download(f["path"], out.write, limiter)
                out.flush()
                os.fsync(out.fileno())
            if digest != f["sha256"] or size != int(f["size"]):
                raise OffsiteError(f"{f['path']} from {dest.url}: sha256 {digest} ({size} bytes) does not match the "
                                   f"copy's manifest ({f['sha256']}, {f['size']} bytes); not used")
            result["fetched"].append(f["path"])
        mbytes = dest.read(mname)
        want = next((f for f in files if f["path"] == mname), None)
        if want is None or hashlib.sha256(mbytes).hexdigest() != want["sha256"]:
            raise OffsiteError(f"{mname} from {dest.url} does not match the copy's manifest; not used")
        manifest = json.loads(mbytes.decode("utf-8"))
        # the backup's own checksums must agree with what the copy verified
        own = {e["path"]: e["sha256"] for e in manifest.get("files", [])}
        if own != {f["path"]: f["sha256"] for f in files if f["path"] != mname}:
            raise OffsiteError(f"{mname} from {dest.url} lists other files or checksums than the copy's manifest")
        for top, partial in partials.items():
            B.commit_partial(partial, os.path.join(local_dir, top))
        partials = {}
        with B.atomic_writer(local_manifest, "wb") as fh:
            fh.write(mbytes)
    except BaseException:
        for partial in partials.values():
            B.discard_partial(partial)
        raise
    problems = B.verify_files(B.load_manifest(local_manifest), local_dir)
    if problems:
        raise OffsiteError(f"the fetched backup does not verify: {'; '.join(problems)}")
    result["checksum"] = "ok"
    return result


# ---------------------------------------------------------------------------
# module glue
# ---------------------------------------------------------------------------
def run_module(module, body: t.Callable[[Destination], dict]) -> t.NoReturn:
    """Build the destination, run ``body``, map errors to fail_json (never with credentials)."""
    from ansible.module_utils.basic import missing_required_lib  # pylint: disable=import-outside-toplevel

    p = module.params
    if (p.get("bwlimit") or 0) < 0:
        module.fail_json(msg="bwlimit: must not be negative")
    if p["timeout"] <= 0:
        module.fail_json(msg="timeout: must be positive")
    try:
        dest = make_destination(p["destination"], p["timeout"])
    except ImportError:
        module.fail_json(msg=missing_required_lib("boto3") + " (needed for destination.type=s3)", exception=BOTO3_IMP_ERR)
    except OffsiteError as exc:
        module.fail_json(msg=str(exc))
    partial: dict = {"destination": dest.url}
    try:
        result = body(dest)
    except (OffsiteError, B.BackupError) as exc:
        module.fail_json(msg=str(exc), **partial)
    except OSError as exc:
        msg = f"{dest.url}: {exc}"
        if B.is_no_space(exc):
            msg = f"no space left: {exc}"
        module.fail_json(msg=msg, **partial)
    finally:
        dest.close()
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)
