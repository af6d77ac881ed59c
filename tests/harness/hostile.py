# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile peers: real loopback TCP servers that misbehave in one way each.

- ``silent``: accepts, sends ``prefix`` (if any: e.g. a complete handshake), reads what
  the client sends, never answers.
- ``drip``: sends ``prefix`` at once, then ``payload`` one byte every ``interval``
  seconds (shorter than any per-read timeout the tests use), cycling forever:
  a per-read timeout never fires, only a deadline over the whole exchange does.
- ``reset``: accepts, reads the client's first bytes, and resets the connection (RST).
- ``tls_stall``: answers ``prefix`` (e.g. PostgreSQL's ``S`` to SSLRequest), waits for
  the client's TLS ClientHello, sends the first bytes of a ServerHello record and stops.

One thread serves every connection of a peer with ``select`` (no thread per
client); :meth:`HostilePeer.stop` closes the listener and every connection and
joins the thread. :meth:`HostilePeer.open_connections` says how many client
connections are still open (the client side has not closed them), which is how
the tests see that no socket outlived the module under test.
"""
from __future__ import annotations

import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

MODES = ("silent", "drip", "reset", "tls_stall")

# a TLS handshake record header announcing 16 KiB of ServerHello that never fully arrives
TLS_RECORD_START = b"\x16\x03\x03\x40\x00\x02\x00\x3f\xfc\x03\x03"


@dataclass
class _Conn:
    sock: socket.socket
    received: bytearray = field(default_factory=bytearray)
    sent_prefix: bool = False
    next_drip: float = 0.0
    pos: int = 0
    stalled: bool = False
    closed_by_client: bool = False


class HostilePeer:
    """One misbehaving server on 127.0.0.1 (port chosen at start)."""

    def __init__(self, mode: str, prefix: bytes = b"", payload: bytes = b"x", interval: float = 0.4,
                 wait_for: int = 1) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.mode = mode
        self.prefix = prefix
        self.payload = payload or b"x"
        self.interval = interval
        self.wait_for = wait_for  # bytes from the client before misbehaving (reset, tls_stall)
        self.port = 0
        self.accepted = 0
        self._conns: list[_Conn] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------
    def start(self) -> "HostilePeer":
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind(("127.0.0.1", 0))
        lst.listen(64)
        lst.setblocking(False)
        self._listener = lst
        self.port = lst.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name=f"hostile-{self.mode}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            for c in self._conns:
                c.sock.close()
            self._conns.clear()
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> "HostilePeer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def open_connections(self) -> int:
        """Client connections the client has not closed yet."""
        with self._lock:
            return sum(1 for c in self._conns if not c.closed_by_client)

    def wait_all_closed(self, timeout: float = 10.0) -> bool:
        """True once every client connection is closed by the client (polled)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.open_connections() == 0:
                return True
            time.sleep(0.05)
        return self.open_connections() == 0

    # -- the server loop ----------------------------------------------------
    def _serve(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            with self._lock:
                live = [c for c in self._conns if not c.closed_by_client]
            rlist = [self._listener] + [c.sock for c in live]
            try:
                readable, _w, _x = select.select(rlist, [], [], 0.05)
            except (OSError, ValueError):
                continue
            now = time.monotonic()
            for s in readable:
                if s is self._listener:
                    self._accept(now)
                    continue
                conn = next(c for c in live if c.sock is s)
                self._on_data(conn)
            for conn in live:
                if not conn.closed_by_client:
                    self._tick(conn, now)

    def _accept(self, now: float) -> None:
        try:
            sock, _addr = self._listener.accept()
        except OSError:
            return
        sock.setblocking(False)
        conn = _Conn(sock, next_drip=now + self.interval)
        with self._lock:
            self._conns.append(conn)
            self.accepted += 1
        if self.mode in ("drip", "silent") and self.prefix:
            self._send(conn, self.prefix)
            conn.sent_prefix = True

    def _receive(self, conn: _Conn) -> bool:
        """Append what the client sent to ``conn.received``; False when nothing new (or it closed)."""
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if not data:
            conn.closed_by_client = True
            return False
        conn.received += data
        return True

    def _on_data(self, conn: _Conn) -> None:
        if not self._receive(conn):
            return
        if len(conn.received) < self.wait_for:
            return
        if self.mode == "reset":
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.sock.close()
            conn.closed_by_client = True  # gone: nothing of it can outlive anything
        elif self.mode == "tls_stall" and not conn.stalled:
            if self.prefix and not conn.sent_prefix:
                self._send(conn, self.prefix)  # e.g. PostgreSQL's "S": go ahead with TLS
                conn.sent_prefix = True
                conn.received.clear()
                return
            self._send(conn, TLS_RECORD_START)
            conn.stalled = True

    def _tick(self, conn: _Conn, now: float) -> None:
        if self.mode != "drip" or now < conn.next_drip:
            return
        byte = self.payload[conn.pos % len(self.payload):conn.pos % len(self.payload) + 1]
        conn.pos += 1
        conn.next_drip = now + self.interval
        self._send(conn, byte)

    @staticmethod
    def _send(conn: _Conn, data: bytes) -> None:
        try:
            conn.sock.send(data)
        except OSError:
            pass


def _resp_commands(buf: bytearray) -> list[list[bytes]]:
    """Complete RESP commands (arrays of bulk strings) taken off the front of ``buf``."""
    out = []
    while buf.startswith(b"*"):
        end = buf.find(b"\r\n")
        if end < 0:
            break
        count, pos, args = int(buf[1:end]), end + 2, []
        for _arg in range(count):
            end = buf.find(b"\r\n", pos)
            if end < 0 or not buf.startswith(b"$", pos):
                return out
            size = int(buf[pos + 1:end])
            if len(buf) < end + 2 + size + 2:
                return out
            args.append(bytes(buf[end + 2:end + 2 + size]))
            pos = end + 2 + size + 2
        if len(args) < count:
            break
        del buf[:pos]
        out.append(args)
    return out


class RedisClusterSeed(HostilePeer):
    """A Redis Cluster node that connects well and then misbehaves on cluster discovery.

    Answers HELLO, CLIENT, SELECT, PING and INFO (``cluster_enabled:1``) on every
    connection; the first other command (``CLUSTER SLOTS``: redis-py's discovery)
    gets no answer (``silent``) or one that drips one byte every ``interval`` seconds
    and never ends (``drip``). ``discovery`` counts the commands that met that fate.
    """

    ANSWERS = {
        b"HELLO": b"%1\r\n+proto\r\n:3\r\n",
        b"CLIENT": b"+OK\r\n",
        b"SELECT": b"+OK\r\n",
        b"PING": b"+PONG\r\n",
    }
    _INFO = b"# Cluster\r\ncluster_enabled:1\r\n# Replication\r\nrole:master\r\n"
    ANSWERS[b"INFO"] = b"$%d\r\n%s\r\n" % (len(_INFO), _INFO)
    # the start of a CLUSTER SLOTS reply (one range, 0-16383) that never reaches its node list
    SLOTS_DRIP = b"*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n$9\r\n127.0.0.1\r\n" + b":" + b"9" * 64

    def __init__(self, mode: str, interval: float = 0.4) -> None:
        if mode not in ("silent", "drip"):
            raise ValueError("RedisClusterSeed misbehaves silent or drip")
        super().__init__(mode, payload=self.SLOTS_DRIP, interval=interval)
        self.discovery: list[list[bytes]] = []

    def _on_data(self, conn: _Conn) -> None:
        if not self._receive(conn):
            return
        for command in _resp_commands(conn.received):
            if conn.stalled:
                continue
            answer = self.ANSWERS.get(command[0].upper()) if command else None
            if answer is not None:
                self._send(conn, answer)
            else:
                self.discovery.append(command)
                conn.stalled = True  # from here on: silence, or the drip of _tick
                conn.next_drip = time.monotonic() + self.interval

    def _tick(self, conn: _Conn, now: float) -> None:
        if conn.stalled:
            super()._tick(conn, now)


def _pg_message(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!i", 4 + len(body)) + body


# PostgreSQL's answer to a StartupMessage: authenticated, parameters, ready for a query
PG_READY = (
    _pg_message(b"R", struct.pack("!i", 0))
    + b"".join(_pg_message(b"S", k + b"\0" + v + b"\0") for k, v in (
        (b"server_version", b"15.0"), (b"client_encoding", b"UTF8"), (b"server_encoding", b"UTF8"),
        (b"standard_conforming_strings", b"on"), (b"integer_datetimes", b"on"), (b"DateStyle", b"ISO, MDY")))
    + _pg_message(b"K", struct.pack("!ii", 4242, 4242))
    + _pg_message(b"Z", b"I")
)

# What each protocol's client sees from a dripping peer: an answer that starts well and never ends.
DRIP = {
    # 200 with a body announced as 100 kB, sent one byte at a time
    "http": dict(prefix=b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nContent-Type: text/plain\r\n\r\n",
                 payload=b"x"),
    # an upgrade answer whose headers never end
    "websocket": dict(payload=b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX-Pad: "
                      + b"a" * 64),
    # a TLS ServerHello record of 16 KiB, one byte at a time
    "tls": dict(payload=TLS_RECORD_START + b"\x00" * 64),
    # a RESP simple string that never reaches its CRLF
    "redis": dict(payload=b"+PONG" + b"G" * 64),
    # a complete redis-py 8 handshake (HELLO 3; CLIENT MAINT_NOTIFICATIONS, two CLIENT SETINFO), then a PING
    # reply that never ends: the bound of one reply, not of connecting
    "redis_connected": dict(prefix=b"%1\r\n+proto\r\n:3\r\n" + b"+OK\r\n" * 3, payload=b"+PONG" + b"G" * 64),
    # (to a client with sslmode=disable) an authentication request of 256 bytes, one byte at a time
    "postgres": dict(payload=b"R\x00\x00\x01\x00" + b"\x00" * 64),
    # (sslmode=disable) a complete startup (no password, ready for a query), then an answer to the
    # first query that announces 64 KiB and never ends: the bound of a statement, not of connecting
    "postgres_connected": dict(prefix=PG_READY, payload=b"T\x00\x01\x00\x00" + b"\x00" * 64),
}
