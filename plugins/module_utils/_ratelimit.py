# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A bandwidth limit over a whole run, and streaming through it while hashing."""

from __future__ import annotations

import hashlib
import time
import typing as t

BUF = 1024 * 1024


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
        return min(BUF, max(16 * 1024, self.rate // 4)) if self.rate else BUF


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


def stream(src: t.BinaryIO, write: t.Callable[[bytes], t.Any], limiter: RateLimiter) -> tuple[int, str]:
    """Copy ``src`` to ``write`` at the limiter's pace: (bytes copied, their sha256)."""
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


# The total deadline of one file transfer (a container copy, an SSH upload or download): a fixed allowance
# for connecting and flushing, plus the file's size at the slowest rate a healthy transfer is expected to keep.
COPY_ALLOWANCE = 120.0
COPY_FLOOR_KIB_S = 1024  # 1 MiB/s


def _human(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def transfer_deadline(size: int, kib_per_s: int = 0) -> tuple[float, str]:
    """(seconds, how they were derived) for moving ``size`` bytes; with a bandwidth limit ``kib_per_s``
    the rate is half of it when that is slower than the floor (the limit is an average, not a promise)."""
    rate = COPY_FLOOR_KIB_S
    basis = f"the {COPY_FLOOR_KIB_S} KiB/s floor"
    if kib_per_s and kib_per_s / 2 < rate:
        rate = max(1, kib_per_s // 2)
        basis = f"half of bwlimit {kib_per_s} KiB/s"
    seconds = COPY_ALLOWANCE + max(0, size) / (rate * 1024)
    return seconds, f"{COPY_ALLOWANCE:g} s allowance + {_human(max(0, size))} at {rate} KiB/s ({basis})"


def transfer_deadline_message(what: str, seconds: float, how: str) -> str:
    """The one wording of a transfer killed at its total deadline."""
    return (f"{what}: not finished within its total deadline of {seconds:.0f} s ({how}); "
            "killed with its process group")
