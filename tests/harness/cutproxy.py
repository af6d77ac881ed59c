# SPDX-License-Identifier: GPL-3.0-or-later
"""A TCP proxy on a loopback port that forwards to a real server and, while ``cut_after`` is set, drops
every connection once the client has sent that many bytes on it: a link that dies in the middle of a file.

Threads, not processes: :meth:`CutProxy.stop` closes the listener and every open connection and joins them,
so nothing outlives the test (use it as a context manager).
"""
from __future__ import annotations

import socket
import struct
import threading

from harness.net import free_port


class CutProxy:
    def __init__(self, target_port: int, cut_after: int | None = None, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.cut_after = cut_after  # None: forward everything
        self.port = free_port()
        self.cuts = 0  # connections dropped so far
        self._lock = threading.Lock()
        self._socks: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._stopping = False

    def __enter__(self) -> "CutProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "CutProxy":
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(64)
        self._spawn(self._accept)
        return self

    def _spawn(self, target, *args) -> None:
        th = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(th)
        th.start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.add(sock)

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _addr = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            self._track(client)
            self._track(upstream)
            self._spawn(self._pump, client, upstream, True)
            self._spawn(self._pump, upstream, client, False)

    def _pump(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        sent = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                limit = self.cut_after if upstream else None
                if limit is not None and sent + len(data) > limit:
                    dst.sendall(data[:max(0, limit - sent)])
                    with self._lock:
                        self.cuts += 1
                    self._reset(src)
                    self._reset(dst)
                    return
                dst.sendall(data)
                sent += len(data)
        except OSError:
            self._reset(src)
            self._reset(dst)

    @staticmethod
    def _reset(sock: socket.socket) -> None:
        """Close with a TCP reset (SO_LINGER 0): the peer sees the connection drop, not a clean end."""
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked reading it
        except OSError:
            pass
        try:
            sock.close()
        except OSError:
            pass

    def stop(self) -> None:
        self._stopping = True
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            socks, threads = list(self._socks), list(self._threads)
        for sock in socks:
            self._reset(sock)
        for th in threads:
            th.join(timeout=10)
