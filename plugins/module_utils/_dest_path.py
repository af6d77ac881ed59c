# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A destination that is a directory on the host itself (NFS mount, second disk, any directory)."""

from __future__ import annotations

import os
import typing as t

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
from ansible_collections.runbook.ops.plugins.module_utils._dest_base import TMP_PREFIX, Destination, OffsiteError, Unreachable
from ansible_collections.runbook.ops.plugins.module_utils._ratelimit import RateLimiter, stream


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
            stream(src, out.write, limiter)
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
            return stream(src, write, limiter)
