# SPDX-License-Identifier: GPL-3.0-or-later
"""A WebSocket server doing the server side of the real RFC 6455 opening handshake.

``/ws`` upgrades (and waits for the client's close), ``/wrong-accept`` answers 101 with a wrong
Sec-WebSocket-Accept, anything else is a 404."""
from __future__ import annotations

import base64
import hashlib
import socket
import socketserver
import threading

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC11B85"


class _WsHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(10)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(4096)
            if not chunk:
                return
            buf += chunk
        head = buf.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        request_line, *lines = head.split("\r\n")
        path = request_line.split()[1]
        headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines if ":" in ln)}
        key = headers.get("sec-websocket-key", "")
        upgrade_ok = (headers.get("upgrade", "").lower() == "websocket"
                      and "upgrade" in headers.get("connection", "").lower()
                      and headers.get("sec-websocket-version") == "13" and len(base64.b64decode(key or "")) == 16)
        if path == "/ws" and upgrade_ok:
            accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
            sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
            try:  # wait for the client's close frame (or hang-up)
                sock.recv(16)
            except OSError:
                pass
        elif path == "/wrong-accept":
            sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: bm90LXRoZS1yaWdodC1hbnN3ZXI=\r\n\r\n")
        else:
            body = b"no websocket here\n"
            sock.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                         % (len(body), body))


class WsServer(socketserver.ThreadingTCPServer):
    """On a free loopback port, serving from a daemon thread until ``stop``; ``url`` is ws://host:port."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _WsHandler)
        self.url = f"ws://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
