# SPDX-License-Identifier: GPL-3.0-or-later
"""Row counts read from pg_dump archives (module_utils/_pg_archive.py), on archives built here byte by
byte for every archive version the reader knows (1.14: PostgreSQL 12-15, 1.15: 16, 1.16: 17-18); the
integration tests read real pg_dump output."""
from __future__ import annotations

import gzip
import hashlib
import io
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest

from ansible_collections.runbook.ops.plugins.module_utils._pg_archive import ArchiveCounter, ArchiveError

COLLECTIONS = Path(__file__).resolve().parents[2] / "collections"


def w_int(value: int) -> bytes:
    return bytes([1 if value < 0 else 0]) + abs(value).to_bytes(4, "little")


def w_str(text: str | None) -> bytes:
    if text is None:
        return w_int(-1)
    raw = text.encode("utf-8")
    return w_int(len(raw)) + raw


def header(vmin: int, fmt: int, compressed: bool) -> bytes:
    out = b"PGDMP" + bytes([1, vmin, 0, 4, 8, fmt])
    out += bytes([1 if compressed else 0]) if vmin >= 15 else w_int(6 if compressed else 0)
    out += b"".join(w_int(v) for v in (1, 2, 3, 4, 5, 126, 0))
    return out + w_str("db") + w_str("15.18") + w_str("15.18")


def entry(vmin: int, dump_id: int, desc: str, schema: str, tag: str, extra: bytes) -> bytes:
    out = w_int(dump_id) + w_int(1 if desc == "TABLE DATA" else 0) + w_str("1259") + w_str(str(16000 + dump_id))
    out += w_str(tag) + w_str(desc) + w_int(2 if desc == "TABLE DATA" else 1)
    defn = "SET client_encoding = 'UTF8';\n" if desc == "ENCODING" else ""
    out += w_str(defn) + w_str("") + w_str(None) + w_str(schema) + w_str("")
    if vmin >= 14:
        out += w_str("heap" if desc == "TABLE" else None)
    if vmin >= 16:
        out += w_int(ord("r") if desc == "TABLE" else 0)
    out += w_str("owner") + w_str("false") + w_str("1") + w_str(None)
    return out + extra


COPY = {
    11: b"1\tone\n2\ttwo\\nlines\n3\t\\\\.\n\\.\n\n\n",  # 3 rows, one with an escaped newline, one that is "\."
    12: b"\\.\n\n\n",  # empty table
    13: b"x\n" * 5000 + b"\\.\n\n\n",
    14: b"ext\n\\.\n\n\n",  # an extension's configuration table: data, but no TABLE entry
}
OBJECTS = [
    (1, "ENCODING", "", "ENCODING"), (2, "TABLE", "public", "a"), (3, "TABLE", "Odd schema", 'T "x".y'),
    (4, "TABLE", "public", "big"), (11, "TABLE DATA", "public", "a"), (12, "TABLE DATA", "Odd schema", 'T "x".y'),
    (13, "TABLE DATA", "public", "big"), (14, "TABLE DATA", "ext", "config"),
]
EXPECTED = {("public", "a"): 3, ("Odd schema", 'T "x".y'): 0, ("public", "big"): 5000}


def custom_archive(vmin: int, compressed: bool, copy: dict[int, bytes] | None = None) -> bytes:
    copy = COPY if copy is None else copy
    out = header(vmin, 1, compressed) + w_int(len(OBJECTS))
    out += b"".join(entry(vmin, i, d, s, n, b"\x03" + bytes(8)) for i, d, s, n in OBJECTS)
    for dump_id, data in copy.items():
        if compressed:
            data = zlib.compress(data, 6)
        out += b"\x01" + w_int(dump_id)
        for k in range(0, len(data), 1000):  # pg_dump writes length-prefixed chunks
            out += w_int(len(data[k:k + 1000])) + data[k:k + 1000]
        out += w_int(0)
    # large objects: a BLOBS block (oid, chunks, 0 ... 0)
    blob = zlib.compress(b"not\na\ntable\n") if compressed else b"not\na\ntable\n"
    return out + b"\x03" + w_int(20) + w_int(16400) + w_int(len(blob)) + blob + w_int(0) + w_int(0)


def count(path: str, fmt: str) -> dict:
    counter = ArchiveCounter(path, fmt)
    counter.start()
    return counter.finish()


@pytest.mark.parametrize("vmin", [14, 15, 16])
@pytest.mark.parametrize("compressed", [True, False])
def test_custom_archive_counts(tmp_path, vmin, compressed):
    path = tmp_path / "a.dump"
    path.write_bytes(custom_archive(vmin, compressed))
    assert count(str(path), "custom") == EXPECTED


@pytest.mark.parametrize("vmin", [14, 16])
@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_directory_archive_counts(tmp_path, vmin, compression):
    d = tmp_path / "a.dir"
    d.mkdir()
    toc = header(vmin, 3, False) + w_int(len(OBJECTS))
    toc += b"".join(entry(vmin, i, desc, s, n, w_str(f"{i}.dat" if desc == "TABLE DATA" else ""))
                    for i, desc, s, n in OBJECTS)
    (d / "toc.dat").write_bytes(toc)
    for dump_id, data in COPY.items():
        if compression == "gzip":
            (d / f"{dump_id}.dat.gz").write_bytes(gzip.compress(data))
        else:
            (d / f"{dump_id}.dat").write_bytes(data)
    (d / "blob_16400.dat.gz").write_bytes(gzip.compress(b"not\na\ntable\n"))
    counter = ArchiveCounter(str(d), "directory")
    counter.start()
    assert counter.finish() == EXPECTED
    # every table data file was hashed as it was read: pg_backup's manifest takes these sums
    ext = ".dat.gz" if compression == "gzip" else ".dat"
    assert counter.file_hashes == {
        f"{i}{ext}": ((d / f"{i}{ext}").stat().st_size, hashlib.sha256((d / f"{i}{ext}").read_bytes()).hexdigest())
        for i in COPY}


def test_archive_read_while_it_is_written(tmp_path):
    # the follower waits for bytes that are not there yet, until the writer is done
    data = custom_archive(14, True)
    path = tmp_path / "a.dump"
    path.write_bytes(b"")
    counter = ArchiveCounter(str(path), "custom")
    counter.start()
    with open(path, "ab") as fh:
        for k in range(0, len(data), 777):
            fh.write(data[k:k + 777])
            fh.flush()
            time.sleep(0.001)
    assert counter.finish() == EXPECTED


@pytest.mark.parametrize("damage, text", [
    (lambda a: a[:-30], "ends early"),
    (lambda a: a.replace(b"\\.\n\n\n", b"\\.\n\n!\n"), "terminator"),
    (lambda a: a[:6] + bytes([17]) + a[7:], "archive version 1.17"),
    (lambda a: b"NOTPG" + a[5:], "not a pg_dump archive"),
])
def test_damaged_archives_are_errors(tmp_path, damage, text):
    path = tmp_path / "a.dump"
    path.write_bytes(damage(custom_archive(14, False)))
    with pytest.raises(ArchiveError, match=text):
        count(str(path), "custom")


def test_missing_table_data_is_an_error(tmp_path):
    path = tmp_path / "a.dump"
    path.write_bytes(custom_archive(14, True, {k: v for k, v in COPY.items() if k != 13}))
    with pytest.raises(ArchiveError, match="no data for table"):
        count(str(path), "custom")


def test_abort_stops_the_follower(tmp_path):
    path = tmp_path / "a.dump"
    path.write_bytes(custom_archive(14, True)[:100])  # the writer never finishes
    counter = ArchiveCounter(str(path), "custom")
    counter.start()
    done = threading.Event()
    threading.Thread(target=lambda: (counter.abort(), done.set()), daemon=True).start()
    assert done.wait(10)


def test_directory_files_are_closed_once_complete(tmp_path):
    # pg_dump -Fd of a database with thousands of tables: the follower must not hold every file open
    d = tmp_path / "many.dir"
    d.mkdir()
    objects = [(1, "ENCODING", "", "ENCODING")]
    objects += [(10 + k, "TABLE", "public", f"t{k}") for k in range(600)]
    objects += [(1000 + k, "TABLE DATA", "public", f"t{k}") for k in range(600)]
    toc = header(14, 3, False) + w_int(len(objects))
    toc += b"".join(entry(14, i, desc, s, n, w_str(f"{i}.dat" if desc == "TABLE DATA" else "")) for i, desc, s, n in objects)
    (tmp_path / "toc.bin").write_bytes(toc)
    code = (
        "import resource, sys, time, gzip, os\n"
        f"sys.path.insert(0, {str(COLLECTIONS)!r})\n"
        "from ansible_collections.runbook.ops.plugins.module_utils._pg_archive import ArchiveCounter\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))\n"
        f"d = {str(d)!r}\n"
        "c = ArchiveCounter(d, 'directory')\n"
        "c.start()\n"
        "for k in range(600):\n"
        "    with open(os.path.join(d, f'{1000 + k}.dat.gz'), 'wb') as fh:\n"
        "        fh.write(gzip.compress(b'row\\n' * k + b'\\\\.\\n\\n\\n'))\n"
        "    if k % 50 == 0:\n"
        "        time.sleep(0.05)\n"
        f"os.replace({str(tmp_path / 'toc.bin')!r}, os.path.join(d, 'toc.dat'))\n"
        "counts = c.finish()\n"
        "assert counts == {('public', f't{k}'): k for k in range(600)}, counts\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def gzip_with_name(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="3347.dat", mode="wb", fileobj=buf, mtime=0) as fh:
        fh.write(data)
    return buf.getvalue()


@pytest.mark.parametrize("make, ok", [
    (gzip_with_name, True),  # FNAME in the header
    (lambda d: gzip.compress(d[:7]) + gzip.compress(d[7:]), True),  # two members
    (lambda d: gzip.compress(d)[:-4] + (len(d) + 1).to_bytes(4, "little"), False),  # ISIZE does not match
    (lambda d: b"\x1f\x8c" + gzip.compress(d)[2:], False),  # not gzip
])
def test_gzip_data_files(tmp_path, make, ok):
    d = tmp_path / "a.dir"
    d.mkdir()
    objects = [(1, "ENCODING", "", "ENCODING"), (2, "TABLE", "public", "a"), (11, "TABLE DATA", "public", "a")]
    toc = header(14, 3, False) + w_int(len(objects))
    toc += b"".join(entry(14, i, desc, s, n, w_str(f"{i}.dat" if desc == "TABLE DATA" else "")) for i, desc, s, n in objects)
    (d / "toc.dat").write_bytes(toc)
    (d / "11.dat.gz").write_bytes(make(COPY[11]))
    if ok:
        assert count(str(d), "directory") == {("public", "a"): 3}
    else:
        with pytest.raises(ArchiveError):
            count(str(d), "directory")


def test_custom_block_without_zlib_header_is_an_error(tmp_path):
    path = tmp_path / "a.dump"
    good = custom_archive(14, True)
    bad = good.replace(zlib.compress(COPY[11], 6)[:2], b"\x00\x00", 1)
    assert bad != good
    path.write_bytes(bad)
    with pytest.raises(ArchiveError, match="zlib header"):
        count(str(path), "custom")


@pytest.mark.parametrize("fmt", ["custom", "directory"])
def test_large_table_inflated_in_bounded_pieces(tmp_path, fmt):
    # 3 MB of COPY text in one compressed stream: inflated in pieces of 256 KiB, every line counted
    data = b"".join(b"%d\tsome text\n" % i for i in range(250_000)) + b"\\.\n\n\n"
    objects = [(1, "ENCODING", "", "ENCODING"), (2, "TABLE", "public", "a"), (11, "TABLE DATA", "public", "a")]
    if fmt == "custom":
        z = zlib.compress(data, 9)
        blob = header(14, 1, True) + w_int(len(objects))
        blob += b"".join(entry(14, i, d, s, n, b"\x03" + bytes(8)) for i, d, s, n in objects)
        blob += b"\x01" + w_int(11) + w_int(len(z)) + z + w_int(0)
        path = tmp_path / "a.dump"
        path.write_bytes(blob)
    else:
        path = tmp_path / "a.dir"
        path.mkdir()
        toc = header(14, 3, False) + w_int(len(objects))
        toc += b"".join(entry(14, i, d, s, n, w_str(f"{i}.dat" if d == "TABLE DATA" else "")) for i, d, s, n in objects)
        (path / "toc.dat").write_bytes(toc)
        (path / "11.dat.gz").write_bytes(gzip.compress(data, 9))
    assert count(str(path), fmt) == {("public", "a"): 250_000}
