# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Files on a backup destination: atomic writes, checksums, fsync, modes and owners, free space.

The lowest layer of the backup modules. Data is written under a temporary name in the destination
directory (``.partial-<pid>-<final name>``), flushed (file and directory fsync), checksummed and only
then renamed to its final name, so nothing under a final name is ever partial. :func:`atomic_writer`
does this for data a module writes itself; :func:`new_partial` / :func:`commit_partial` /
:func:`discard_partial` for files or directories an external tool writes. ``_backup`` builds manifests,
retention and leftovers on top of it and re-exports these names (``B.new_partial``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import typing as t

PARTIAL_PREFIX = ".partial-"
FILE_MODE = 0o600
DIR_MODE = 0o700

_BUF = 1024 * 1024


class BackupError(Exception):
    """A failure already worded for the user; modules turn it into fail_json."""


# ---------------------------------------------------------------------------
# checksums, fsync, modes
# ---------------------------------------------------------------------------
def sha256_file(path: str, bufsize: int = _BUF) -> str:
    """Hex sha256 of a file's contents."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(bufsize)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()


def list_files(path: str) -> list[str]:
    """Files under ``path`` relative to it (sorted), or ``[basename]``-style ``[""]`` for a file."""
    if not os.path.isdir(path):
        return [""]
    out = []
    for root, _dirs, files in os.walk(path):
        for name in files:
            out.append(os.path.relpath(os.path.join(root, name), path))
    return sorted(out)


def file_entries(path: str, relative_to: str, known: dict[str, tuple[int, str]] | None = None) -> list[dict]:
    """``[{path, size, sha256}]`` for a file or every file of a directory.

    ``path`` entries are relative to ``relative_to`` (the destination directory),
    with ``/`` separators, so a manifest stays valid when the directory moves.
    ``known`` maps a file's path under ``path`` to ``(size, sha256)`` already computed while it was
    written; used only when the size still matches, else the file is hashed.
    """
    entries = []
    for rel in list_files(path):
        full = os.path.join(path, rel) if rel else path
        size = os.path.getsize(full)
        seen = (known or {}).get(rel.replace(os.sep, "/"))
        entries.append({
            "path": os.path.relpath(full, relative_to).replace(os.sep, "/"),
            "size": size,
            "sha256": seen[1] if seen is not None and seen[0] == size else sha256_file(full),
        })
    return entries


def fsync_path(path: str) -> None:
    """fsync a file or a directory."""
    flags = os.O_RDONLY
    if os.path.isdir(path):
        flags |= getattr(os, "O_DIRECTORY", 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: str) -> None:
    """fsync a file, or every file and directory under a directory (then the directory)."""
    if os.path.isdir(path):
        for root, dirs, files in os.walk(path):
            for name in files:
                fsync_path(os.path.join(root, name))
            for name in dirs:
                fsync_path(os.path.join(root, name))
    fsync_path(path)


def resolve_ids(owner: str | None, group: str | None, uid: int = -1, gid: int = -1) -> tuple[int, int]:
    """Numeric ids of ``owner`` / ``group`` (names or numbers), defaulting to ``uid`` / ``gid``."""
    import grp
    import pwd

    try:
        if owner:
            uid = int(owner) if owner.isdigit() else pwd.getpwnam(owner).pw_uid
        if group:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    except KeyError as exc:
        raise BackupError(f"unknown owner/group: {exc.args[0]}") from exc
    return uid, gid


def apply_mode(path: str, owner: str | None = None, group: str | None = None,
               file_mode: int = FILE_MODE, dir_mode: int = DIR_MODE) -> None:
    """Set modes (0600 files, 0700 directories) and optionally owner/group, recursively."""
    uid, gid = resolve_ids(owner, group)

    def one(p: str) -> None:
        is_dir = os.path.isdir(p) and not os.path.islink(p)
        os.chmod(p, dir_mode if is_dir else file_mode)
        if uid != -1 or gid != -1:
            os.chown(p, uid, gid)

    if os.path.isdir(path):
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                one(os.path.join(root, name))
    one(path)


def ensure_dir(path: str, owner: str | None = None, group: str | None = None, check_mode: bool = False) -> bool:
    """Create the destination directory (mode 0700) if missing; True if it was (would be) created."""
    if os.path.isdir(path):
        return False
    if os.path.exists(path):
        raise BackupError(f"destination {path} exists and is not a directory")
    if check_mode:
        return True
    os.makedirs(path, mode=DIR_MODE, exist_ok=True)
    apply_mode(path, owner, group)
    parent = os.path.dirname(os.path.abspath(path))
    fsync_path(parent)
    return True


# ---------------------------------------------------------------------------
# atomic files
# ---------------------------------------------------------------------------
def partial_name(final_path: str, pid: int | None = None) -> str:
    """The temporary path for ``final_path``: same directory, ``.partial-<pid>-<name>``."""
    pid = os.getpid() if pid is None else pid
    directory, base = os.path.split(os.path.abspath(final_path))
    return os.path.join(directory, f"{PARTIAL_PREFIX}{pid}-{base}")


def new_partial(final_path: str, directory: bool = False) -> str:
    """Reserve the temporary path for ``final_path`` (a mode-0700 dir if ``directory``) and return it.

    Refuses if the final name already exists: backups never overwrite.
    """
    if os.path.lexists(final_path):
        raise BackupError(f"{final_path} already exists; refusing to overwrite a backup")
    partial = partial_name(final_path)
    remove_path(partial)
    if directory:
        os.mkdir(partial, DIR_MODE)
    else:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        os.close(fd)
    return partial


def commit_partial(partial: str, final_path: str, owner: str | None = None, group: str | None = None) -> None:
    """Set modes, fsync everything, rename to the final name, fsync the directory."""
    apply_mode(partial, owner, group)
    fsync_tree(partial)
    if os.path.lexists(final_path):
        raise BackupError(f"{final_path} appeared while writing; refusing to overwrite it")
    os.rename(partial, final_path)
    fsync_path(os.path.dirname(os.path.abspath(final_path)))


def discard_partial(partial: str) -> None:
    """Remove a temporary file or directory (best effort, never raises)."""
    try:
        remove_path(partial)
    except OSError:
        pass


def remove_path(path: str) -> None:
    """Remove a file or directory tree if it exists."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


class HashingFile:
    """A binary file opened for writing that hashes what is written (sha256) and counts bytes."""

    def __init__(self, fh: t.BinaryIO) -> None:
        self._fh = fh
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        self.size += len(data)
        return self._fh.write(data)

    def fileno(self) -> int:
        return self._fh.fileno()

    def flush(self) -> None:
        self._fh.flush()

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


@contextlib.contextmanager
def atomic_writer(final_path: str, mode: str = "wb", owner: str | None = None,
                  group: str | None = None) -> t.Iterator[t.Any]:
    """Write ``final_path`` atomically::

        with atomic_writer(path) as fh:        # binary; mode="w" for text (UTF-8)
            fh.write(data)

    Writes go to ``.partial-<pid>-<name>`` in the same directory (mode 0600);
    on a clean exit the file is flushed, fsynced, renamed into place and the
    directory fsynced. On an exception the partial file is removed and the
    exception propagates. Binary writers are :class:`HashingFile` objects, so
    ``fh.hexdigest()`` and ``fh.size`` give the sha256 and size of what was written.
    """
    if mode not in ("wb", "w"):
        raise ValueError("atomic_writer mode must be 'wb' or 'w'")
    partial = new_partial(final_path)
    try:
        with open(partial, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as raw:
            yield HashingFile(raw) if mode == "wb" else raw
            raw.flush()
            os.fsync(raw.fileno())
        commit_partial(partial, final_path, owner, group)
    except BaseException:
        discard_partial(partial)
        raise


# ---------------------------------------------------------------------------
# space
# ---------------------------------------------------------------------------
def free_bytes(path: str) -> int:
    """Bytes available to unprivileged writers on the filesystem holding ``path``."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def check_free_space(directory: str, needed: int, what: str = "the backup") -> int:
    """Raise BackupError naming the directory and the numbers if ``needed`` bytes do not fit; return free bytes."""
    free = free_bytes(directory)
    if needed > free:
        raise BackupError(
            f"not enough space in {directory} for {what}: about {human_bytes(needed)} ({needed} bytes) needed, "
            f"{human_bytes(free)} ({free} bytes) free"
        )
    return free


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def is_no_space(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
