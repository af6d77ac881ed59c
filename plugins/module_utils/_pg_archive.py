# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Exact row counts read from pg_dump's own archive, while pg_dump writes it.

pg_backup's row counts are the number of rows each table has *in the backup*:
a follower thread reads the custom-format file (or the directory-format data
files) as pg_dump writes them, decompresses each table's COPY data and counts
its lines. COPY's text format escapes newlines inside values (``\\n``), so
every row is exactly one line, and pg_dump ends every table's data with the
terminator line ``\\.`` followed by two empty lines; rows = lines - 3. The
tables are not read a second time, and the counts are those of the dump's own
snapshot whatever writes happen meanwhile.

Archive layout (pg_dump's ``pg_backup_archiver.c`` / ``pg_backup_custom.c`` /
``pg_backup_directory.c``, archive versions 1.12 to 1.16, PostgreSQL 9.x to
18): a header (``PGDMP``, version, int and offset sizes, format, compression,
creation time, names), the TOC (one entry per object: dump id, tag, type,
schema, ... and a format-specific field: a data offset for custom, a file name
for directory), then, in the custom format, data blocks (type byte, dump id,
length-prefixed chunks ending with a zero length). Integers are a sign byte
and ``intSize`` little-endian bytes; strings are an integer length (-1 for
NULL) and the bytes.

Decompression is zlib's (it releases the GIL), and counting newlines is
``bytes.count``: the follower costs a fraction of what compressing the same
data cost pg_dump.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import typing as t
import zlib

BLK_DATA = 1
BLK_BLOBS = 3
TERMINATOR = b"\\.\n\n\n"
MIN_VERSION = (1, 12)
MAX_VERSION = (1, 16)
# pg_dump majors whose archives this reader knows (checked before choosing to count from the archive)
MAX_PG_DUMP_MAJOR = 18

_DATA_FILE = re.compile(r"^(\d+)\.dat(\.gz)?$")
_CHUNK = 1 << 20
_OUT = 256 << 10
_POLL = 0.01

# PostgreSQL encoding names -> Python codecs, for the names in the TOC
_ENCODINGS = {"UTF8": "utf-8", "LATIN1": "latin-1", "SQL_ASCII": "latin-1", "WIN1252": "cp1252",
              "LATIN9": "iso8859-15", "EUC_JP": "euc_jp", "SJIS": "shift_jis", "WIN1251": "cp1251",
              "KOI8R": "koi8_r", "LATIN2": "iso8859-2", "WIN1250": "cp1250", "EUC_KR": "euc_kr",
              "GBK": "gbk", "BIG5": "big5", "EUC_CN": "gb2312"}


class ArchiveError(Exception):
    """The archive could not be read (truncated, unknown version, damaged data)."""


class _Stopped(Exception):
    """The follower was asked to stop (pg_dump failed)."""


class _Follower:
    """Blocking reads from a file another process is still writing.

    A read waits for more bytes until ``finished()`` is true (the writer has
    exited); only then is a short read the end of the file.
    """

    def __init__(self, path: str, finished: t.Callable[[], bool], stop: threading.Event,
                 wake: threading.Event | None = None) -> None:
        self._fh = open(path, "rb", buffering=0)  # pylint: disable=consider-using-with
        self._finished = finished
        self._stop = stop
        self._wake = wake or stop  # set when the writer exits: a waiting read looks again at once
        self._buf = bytearray()
        self._pos = 0

    def close(self) -> None:
        self._fh.close()

    def _more(self) -> bool:
        """Append what the writer has written; False at the real end of the file."""
        while True:
            if self._stop.is_set():
                raise _Stopped()
            if self._pos >= _CHUNK:
                del self._buf[:self._pos]
                self._pos = 0
            done = self._finished()  # before reading: a write that finished earlier is visible now
            data = self._fh.read(_CHUNK)
            if data:
                self._buf += data
                return True
            if done:
                return False
            self._wake.wait(_POLL)

    def read(self, n: int) -> bytes:
        while len(self._buf) - self._pos < n:
            if not self._more():
                raise ArchiveError("the archive ends early (truncated)")
        out = bytes(self._buf[self._pos:self._pos + n])
        self._pos += n
        return out

    def at_end(self) -> bool:
        """True at the end of the file, once the writer has exited."""
        return len(self._buf) - self._pos == 0 and not self._more()


class _Toc:
    """Header and TOC of an archive (what the counts need: versions, compression, entries)."""

    def __init__(self) -> None:
        self.version: tuple[int, int, int] = (0, 0, 0)
        self.int_size = 4
        self.off_size = 8
        self.format = 0
        self.compressed = False
        self.encoding = "utf-8"
        # dump id -> (desc, schema, tag)
        self.entries: dict[int, tuple[str, str, str]] = {}

    def tables(self) -> dict[int, tuple[str, str]]:
        """TABLE DATA dump id -> (schema, table), for tables the dump also creates.

        Extension configuration tables have data but no TABLE entry (the
        extension creates them); they are not user tables, as for the
        restore-side counts.
        """
        created = {(s, n) for d, s, n in self.entries.values() if d == "TABLE"}
        return {i: (s, n) for i, (d, s, n) in self.entries.items() if d == "TABLE DATA" and (s, n) in created}


class _Reader:
    """Archive primitives over a :class:`_Follower`."""

    def __init__(self, src: _Follower) -> None:
        self.src = src
        self.int_size = 4

    def byte(self) -> int:
        return self.src.read(1)[0]

    def integer(self) -> int:
        raw = self.src.read(1 + self.int_size)
        value = int.from_bytes(raw[1:], "little")
        return -value if raw[0] else value

    def string(self) -> bytes | None:
        n = self.integer()
        if n < 0:
            return None
        return self.src.read(n) if n else b""

    def read_header(self, toc: _Toc) -> None:
        if self.src.read(5) != b"PGDMP":
            raise ArchiveError("not a pg_dump archive (no PGDMP header)")
        vmaj, vmin, vrev = self.byte(), self.byte(), self.byte()
        toc.version = (vmaj, vmin, vrev)
        if not MIN_VERSION <= (vmaj, vmin) <= MAX_VERSION:
            raise ArchiveError(f"archive version {vmaj}.{vmin} is not one this module can read")
        toc.int_size = self.int_size = self.byte()
        toc.off_size = self.byte()
        toc.format = self.byte()
        if (vmaj, vmin) >= (1, 15):
            toc.compressed = self.byte() != 0  # algorithm: 0 none, 1 gzip, 2 lz4, 3 zstd
        else:
            toc.compressed = self.integer() != 0  # gzip level (-1 is zlib's default level)
        for _field in range(7):  # creation time
            self.integer()
        self.string()  # database name
        self.string()  # server version
        self.string()  # pg_dump version

    def read_toc(self, toc: _Toc, extra: str) -> None:
        """Read every TOC entry; ``extra`` is ``offset`` (custom) or ``filename`` (directory)."""
        v = toc.version[:2]
        count = self.integer()
        for _entry in range(count):
            dump_id = self.integer()
            self.integer()  # had a data dumper
            self.string()  # table oid
            self.string()  # oid
            tag = self.string() or b""
            desc = (self.string() or b"").decode("ascii", "replace")
            self.integer()  # section
            defn = self.string() or b""
            self.string()  # drop statement
            self.string()  # copy statement
            namespace = self.string() or b""
            self.string()  # tablespace
            if v >= (1, 14):
                self.string()  # table access method
            if v >= (1, 16):
                self.integer()  # relkind
            self.string()  # owner
            self.string()  # with oids
            while self.string() is not None:  # dependencies
                pass
            if extra == "offset":
                self.src.read(1 + toc.off_size)
            else:
                self.string()
            if desc == "ENCODING":
                m = re.search(rb"'([^']+)'", defn)
                if m:
                    toc.encoding = _ENCODINGS.get(m.group(1).decode("ascii", "replace").upper(), "utf-8")
            toc.entries[dump_id] = (desc, namespace.decode(toc.encoding, "replace"), tag.decode(toc.encoding, "replace"))


class _LineCounter:
    """Lines of one table's COPY data, decompressing it first when needed.

    The zlib (custom format) or gzip (directory format) wrapper is read here and the deflate data
    inflated raw: zlib's own checks of the wrapper's adler32 / crc32 would cost more than inflating
    (the files' sha256 in the manifest guards their bytes, pg_restore checks the sums again when
    it restores). A gzip member's length (ISIZE) is still compared.
    """

    def __init__(self, compressed: bool, gzip_file: bool = False) -> None:
        self._compressed = compressed
        self._gzip = gzip_file
        self._pending = b""  # wrapper header or trailer bytes not complete yet
        self._z = None  # raw inflater of the current stream
        self._in_trailer = False
        self._member_out = 0
        self._complete = False
        self.lines = 0
        self._tail = b""

    def feed(self, data: bytes) -> None:
        if not self._compressed:
            self._count(data)
            return
        while data:
            if self._z is None:  # a wrapper header
                self._pending += data
                size = self._header_size(self._pending)
                if size is None:
                    return
                data, self._pending = self._pending[size:], b""
                self._z, self._member_out, self._complete = zlib.decompressobj(-15), 0, False
            elif not self._in_trailer:
                # at most _OUT bytes per call: output that stays in the CPU cache while it is counted
                while True:
                    out = self._z.decompress(data, _OUT)
                    self._member_out += len(out)
                    self._count(out)
                    data = self._z.unconsumed_tail
                    if self._z.eof or (not data and len(out) < _OUT):
                        break
                if not self._z.eof:
                    return
                data, self._in_trailer = self._z.unused_data, True
            else:  # adler32 (zlib) or crc32 + ISIZE (gzip)
                need = 8 if self._gzip else 4
                self._pending += data
                if len(self._pending) < need:
                    return
                trailer, data = self._pending[:need], self._pending[need:]
                self._pending, self._in_trailer, self._complete = b"", False, True
                if self._gzip and int.from_bytes(trailer[4:], "little") != self._member_out & 0xFFFFFFFF:
                    raise ArchiveError("a gzip member's length does not match its data")
                if not self._gzip:
                    return  # one zlib stream per data block
                self._z = None  # a gzip file may hold several members

    def _header_size(self, head: bytes) -> int | None:
        """Bytes of the zlib / gzip header at the start of ``head`` (None: not all there yet)."""
        if not self._gzip:
            if len(head) < 2:
                return None
            if head[0] & 0x0F != 8 or (head[0] * 256 + head[1]) % 31 or head[1] & 0x20:
                raise ArchiveError("compressed data without a zlib header")
            return 2
        if len(head) < 10:
            return None
        if head[:3] != b"\x1f\x8b\x08":
            raise ArchiveError("a data file without a gzip header")
        flags, pos = head[3], 10
        if flags & 4:  # FEXTRA
            if len(head) < pos + 2:
                return None
            pos += 2 + int.from_bytes(head[pos:pos + 2], "little")
        for bit in (8, 16):  # FNAME, FCOMMENT: zero-terminated
            if flags & bit:
                end = head.find(b"\0", pos)
                if end < 0:
                    return None
                pos = end + 1
        if flags & 2:  # FHCRC
            pos += 2
        return pos if len(head) >= pos else None

    def _count(self, data: bytes) -> None:
        if data:
            self.lines += data.count(b"\n")
            self._tail = (self._tail + data[-len(TERMINATOR):])[-len(TERMINATOR):]

    def complete(self) -> bool:
        """All of this table's data is here: the compressed stream ended, or the terminator line came."""
        return self._complete if self._compressed else self._tail == TERMINATOR

    def rows(self, what: str) -> int:
        if self._compressed and not self._complete:
            raise ArchiveError(f"the compressed data of {what} is incomplete")
        if self._tail != TERMINATOR:
            raise ArchiveError(f"the data of {what} does not end with COPY's terminator")
        return self.lines - 3


class ArchiveCounter:
    """Count every table's rows in the archive pg_dump is writing at ``path``.

    ``start()`` before (or right after) pg_dump starts, ``finish()`` once it
    exited successfully (returns ``{(schema, table): rows}``), ``abort()`` when
    it failed. ``fmt`` is ``custom`` or ``directory``.
    """

    def __init__(self, path: str, fmt: str) -> None:
        self.path = path
        self.fmt = fmt
        self._done = threading.Event()
        self._stop = threading.Event()
        self._handover = threading.Event()
        self._thread: threading.Thread | None = None
        self._steps: t.Iterator[None] | None = None
        self._finished_reading = False
        self._error: BaseException | None = None
        self._counts: dict[int, int] = {}
        self._toc = _Toc()
        # directory format: data file name -> (bytes, sha256 hex) of what the follower read
        self.file_hashes: dict[str, tuple[int, str]] = {}

    # -- lifecycle --------------------------------------------------------------
    # While pg_dump runs, a thread reads at a lower priority (nice +10): it takes the CPU time pg_dump
    # and the server leave idle, and yields to them when both cores are busy. Once pg_dump has exited,
    # finish() takes over whatever is left in the calling thread, at the module's own priority.
    def start(self) -> None:
        self._steps = self._follow_custom() if self.fmt == "custom" else self._follow_directory()
        self._thread = threading.Thread(target=self._background, daemon=True)
        self._thread.start()

    def _background(self) -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                           min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10))
        except (AttributeError, OSError):
            pass
        self._advance(until_handover=True)

    def _advance(self, until_handover: bool) -> None:
        try:
            for _step in self._steps:
                if until_handover and self._handover.is_set():
                    return
            self._finished_reading = True
        except _Stopped:
            self._finished_reading = True
        except BaseException as exc:  # reported by finish()
            self._error = exc
            self._finished_reading = True

    def abort(self) -> None:
        self._stop.set()
        self._done.set()
        self._handover.set()
        if self._thread is not None:
            self._thread.join()
        if self._steps is not None:
            self._steps.close()

    def finish(self) -> dict[tuple[str, str], int]:
        """Read the rest (pg_dump has exited); ArchiveError when the archive is not what it should be."""
        self._done.set()
        self._handover.set()
        if self._thread is not None:
            self._thread.join()
        if not self._finished_reading:
            self._advance(until_handover=False)
        if self._error is not None:
            if isinstance(self._error, ArchiveError):
                raise self._error
            raise ArchiveError(f"{type(self._error).__name__}: {self._error}") from self._error
        if self.fmt == "directory":
            self._read_directory_toc()
        tables = self._toc.tables()
        missing = [f"{s}.{n}" for i, (s, n) in tables.items() if i not in self._counts]
        if missing:
            raise ArchiveError(f"the archive has no data for table(s) {', '.join(sorted(missing)[:5])}")
        return {tables[i]: self._counts[i] for i in tables}

    # -- custom format: one file, data blocks after the TOC ---------------------------
    def _follow_custom(self) -> t.Iterator[None]:
        src = _Follower(self.path, self._done.is_set, self._stop, wake=self._done)
        try:
            r = _Reader(src)
            r.read_header(self._toc)
            r.read_toc(self._toc, "offset")
            while not src.at_end():
                kind = r.byte()
                dump_id = r.integer()
                if kind == BLK_DATA:
                    counter = _LineCounter(self._toc.compressed)
                    yield from self._chunks(r, counter.feed)
                    self._counts[dump_id] = counter.rows(f"TOC entry {dump_id}")
                elif kind == BLK_BLOBS:
                    while r.integer() != 0:  # large objects: oid, chunks, ... 0
                        yield from self._chunks(r, None)
                else:
                    raise ArchiveError(f"unknown data block type {kind} in the archive")
        finally:
            src.close()

    @staticmethod
    def _chunks(r: _Reader, sink) -> t.Iterator[None]:
        while True:
            n = r.integer()
            if n == 0:
                return
            data = r.src.read(n)
            if sink is not None:
                sink(data)
            yield

    # -- directory format: one data file per table --------------------------------------
    def _follow_directory(self) -> t.Iterator[None]:
        # a file is read as it grows and closed once its data is complete (pg_dump -j N writes N at a time)
        # each data file is also hashed as it is read (pg_dump only appends to them): file_hashes saves
        # pg_backup a second read of the whole backup for its manifest (sizes are checked before use)
        open_files: dict[str, tuple[t.BinaryIO, _LineCounter, int, t.Any]] = {}
        counted: set[str] = set()
        try:
            while True:
                if self._stop.is_set():
                    return
                finished = self._done.is_set()  # before the last scan: nothing is written after it
                try:
                    names = os.listdir(self.path)
                except FileNotFoundError:
                    names = []
                for name in names:
                    m = _DATA_FILE.match(name)
                    if m and name not in open_files and name not in counted:
                        fh = open(os.path.join(self.path, name), "rb", buffering=0)  # pylint: disable=consider-using-with
                        open_files[name] = (fh, _LineCounter(bool(m.group(2)), gzip_file=True), int(m.group(1)),
                                            [hashlib.sha256(), 0])
                progressed = False
                for name, (fh, counter, dump_id, digest) in list(open_files.items()):
                    while True:
                        data = fh.read(_CHUNK)
                        if not data:
                            break
                        counter.feed(data)
                        digest[0].update(data)
                        digest[1] += len(data)
                        progressed = True
                        yield
                    if finished or counter.complete():
                        fh.close()
                        del open_files[name]
                        counted.add(name)
                        self._counts[dump_id] = counter.rows(name)
                        self.file_hashes[name] = (digest[1], digest[0].hexdigest())
                if finished:
                    return
                if not progressed:
                    self._done.wait(_POLL)  # wakes at once when pg_dump has exited
        finally:
            for fh, _c, _i, _d in open_files.values():
                fh.close()

    def _read_directory_toc(self) -> None:
        src = _Follower(os.path.join(self.path, "toc.dat"), lambda: True, self._stop)
        try:
            r = _Reader(src)
            r.read_header(self._toc)
            r.read_toc(self._toc, "filename")
        finally:
            src.close()
