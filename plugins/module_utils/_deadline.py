# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one deadline helper of runbook.ops: a time bound that holds whatever the peer does.

A per-read socket timeout does not bound an exchange: a peer that sends one
byte just before each read would time out never. Every call to a peer
therefore sits under one :class:`Deadline` that covers connect, TLS handshake,
every read and the whole exchange:

- code that owns its sockets asks the deadline for each step's timeout
  (:meth:`Deadline.timeout`: what is left, never more) and checks it between
  reads (:meth:`Deadline.check`);
- code inside a library that reads on its own (redis-py) runs under a
  :class:`Watchdog` that shuts the socket down from outside when the deadline
  passes, so the blocked read returns at once;
- work that may outlive the deadline altogether (a health probe) runs in a
  child process of its own process group, killed with the group at the
  deadline plus :data:`GRACE` (``health_probe`` does this, see
  ``_probe_core.run_probes``).

No thread, socket or child process started under a deadline outlives the
module: the watchdog thread is joined when its owner closes, child process
groups are killed and reaped.

Missing a deadline is reported in one wording everywhere:
``no complete answer within 2 s (deadline)``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import typing as t

if t.TYPE_CHECKING:  # ssl costs ~4 ms to import; the modules that never talk TLS do not pay it
    import ssl

# How late after its deadline a bounded call may return: the time to notice, kill and reap.
GRACE = 1.0


def deadline_message(seconds: float, what: str = "") -> str:
    """The one wording of a missed deadline."""
    prefix = f"{what}: " if what else ""
    return f"{prefix}no complete answer within {seconds:g} s (deadline)"


class DeadlineExceeded(Exception):
    """The deadline passed before the peer gave a complete answer."""

    def __init__(self, seconds: float, what: str = "") -> None:
        super().__init__(deadline_message(seconds, what))
        self.seconds = seconds
        self.what = what


class Deadline:
    """A point in time (monotonic clock) by which an exchange must be complete."""

    def __init__(self, seconds: float, what: str = "") -> None:
        self.seconds = float(seconds)
        self.what = what
        self.expires = time.monotonic() + self.seconds

    def remaining(self) -> float:
        return max(0.0, self.expires - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.expires

    def exceeded(self) -> DeadlineExceeded:
        return DeadlineExceeded(self.seconds, self.what)

    def exceeded_message(self, what: str) -> str:
        return deadline_message(self.seconds, what)

    def check(self) -> None:
        """Raise DeadlineExceeded when the deadline has passed (call it between reads)."""
        if self.expired:
            raise self.exceeded()

    def timeout(self, cap: float | None = None) -> float:
        """The timeout for the next blocking step: what is left (at most ``cap``); raises when nothing is."""
        left = self.remaining()
        if left <= 0:
            raise self.exceeded()
        return min(left, cap) if cap is not None else left

    # -- sockets owned by the caller ---------------------------------------
    def connect(self, host: str, port: int) -> socket.socket:
        """A TCP connection made within the deadline (OSError as from socket.create_connection)."""
        try:
            return socket.create_connection((host, port), timeout=self.timeout())
        except (socket.timeout, TimeoutError):
            raise self.exceeded() from None

    def recv(self, sock: socket.socket, size: int = 65536) -> bytes:
        """One read, waiting at most what is left of the deadline."""
        sock.settimeout(self.timeout())
        try:
            return sock.recv(size)
        except (socket.timeout, TimeoutError):
            raise self.exceeded() from None

    def sendall(self, sock: socket.socket, data: bytes) -> None:
        sock.settimeout(self.timeout())
        try:
            sock.sendall(data)
        except (socket.timeout, TimeoutError):
            raise self.exceeded() from None

    def wrap_tls(self, context: ssl.SSLContext, sock: socket.socket, server_hostname: str | None) -> ssl.SSLSocket:
        """TLS handshake on ``sock`` bounded by the deadline (a peer dripping handshake bytes included)."""
        sock.settimeout(self.timeout())
        with Watchdog() as dog, dog.armed(self.remaining(), lambda: shutdown_quietly(sock)):
            try:
                tls = context.wrap_socket(sock, server_hostname=server_hostname)
            except (socket.timeout, TimeoutError):
                raise self.exceeded() from None
            except OSError:  # ssl.SSLError included
                if self.expired:
                    raise self.exceeded() from None
                raise
        return tls


def shutdown_quietly(sock: t.Any) -> None:
    """Shut a socket down for both directions (a blocked read returns), ignoring errors."""
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except (OSError, ValueError, AttributeError):
        pass


class _Alarm:
    __slots__ = ("expires", "closer", "fired")

    def __init__(self, expires: float, closer: t.Callable[[], None]) -> None:
        self.expires = expires
        self.closer = closer
        self.fired = False


class Watchdog:
    """One thread that runs an armed alarm's closer when its deadline passes.

    For code that reads inside a library: arm an alarm around the blocking call
    with a closer that shuts its socket down; the blocked read then returns and
    :meth:`armed` raises DeadlineExceeded. Arming and disarming is cheap (no
    thread per call); the thread starts at the first alarm and is joined by
    :meth:`close` (or leaving the ``with`` block), so it never outlives its owner.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._alarms: list[_Alarm] = []
        self._thread: threading.Thread | None = None
        self._stop = False

    def __enter__(self) -> "Watchdog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _loop(self) -> None:
        with self._cond:
            while not self._stop:
                now = time.monotonic()
                due = [a for a in self._alarms if a.expires <= now]
                for alarm in due:
                    self._alarms.remove(alarm)
                    alarm.fired = True
                    try:
                        alarm.closer()
                    except Exception:  # a closer must never kill the watchdog
                        pass
                nxt = min((a.expires for a in self._alarms), default=None)
                self._cond.wait(None if nxt is None else max(0.0, nxt - time.monotonic()))

    def arm(self, seconds: float, closer: t.Callable[[], None]) -> _Alarm:
        alarm = _Alarm(time.monotonic() + seconds, closer)
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._stop = False
                self._thread = threading.Thread(target=self._loop, name="runbook-ops-watchdog", daemon=True)
                self._thread.start()
            self._alarms.append(alarm)
            self._cond.notify()
        return alarm

    def disarm(self, alarm: _Alarm) -> None:
        with self._cond:
            if alarm in self._alarms:
                self._alarms.remove(alarm)

    @contextlib.contextmanager
    def armed(self, seconds: float, closer: t.Callable[[], None], what: str = ""):
        """Run the block with ``closer`` called at ``seconds``; an error after it fired is DeadlineExceeded."""
        alarm = self.arm(seconds, closer)
        try:
            yield alarm
        except DeadlineExceeded:
            raise
        except Exception:
            if alarm.fired:
                raise DeadlineExceeded(seconds, what) from None
            raise
        finally:
            self.disarm(alarm)
        if alarm.fired:  # the block finished although its socket was shut down: the answer is not trusted
            raise DeadlineExceeded(seconds, what)

    def close(self) -> None:
        """Stop and join the thread (idempotent)."""
        with self._cond:
            self._stop = True
            self._alarms.clear()
            self._cond.notify()
            thread = self._thread
            self._thread = None
        if thread is not None and thread is not threading.current_thread():
            thread.join()
