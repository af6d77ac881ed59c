# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every off-host destination offers, and the errors of the offsite modules.

A *destination* is a directory-like place with one of three kinds, one file each:

* ``path`` (``_dest_path.py``): a directory on the host (NFS mount, second disk, any directory);
* ``ssh`` (``_dest_ssh.py``): a directory on another host, reached with the ``ssh`` client from
  the host that holds the backups (host to host, never through the controller);
* ``s3`` (``_dest_s3.py``): a bucket and prefix on S3-compatible object storage (boto3).

Each kind implements the few primitives of :class:`Destination`; the copy,
verification, resume and retention logic is shared (``_offsite_copy.py``,
``_offsite_retention.py``, ``_offsite_fetch.py``).
"""

from __future__ import annotations

import typing as t

from ansible_collections.runbook.ops.plugins.module_utils._ratelimit import RateLimiter

STAGING_PREFIX = ".partial-copy-"
TMP_PREFIX = ".partial-tmp-"


class OffsiteError(Exception):
    """A failure already worded for the user."""


class Unreachable(OffsiteError):
    """The destination cannot be reached (or refused us): later backups are not attempted."""


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
