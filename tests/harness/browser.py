# SPDX-License-Identifier: GPL-3.0-or-later
"""Headless Chromium (Debian's `chromium`, installed by scripts/setup_browser.sh) on a local page: its DOM or
a screenshot, and the requests the page itself made, from Chromium's net log; or a live page driven over the
DevTools protocol (:class:`DevTools`: type into it, read its DOM, time its load)."""
from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

CHROMIUM = shutil.which("chromium")


def _argv(out: Path, *extra: str) -> list[str]:
    assert CHROMIUM, "Debian's chromium is not installed (scripts/setup_browser.sh)"
    out.mkdir(parents=True, exist_ok=True)
    return [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
            f"--user-data-dir={out / 'profile'}", *extra]


def chromium(page: Path, out: Path, *mode: str) -> tuple[str, list[dict]]:
    """Run headless Chromium on a file; (stdout, page-initiated requests from the net log)."""
    netlog = out / "netlog.json"
    argv = _argv(out, f"--log-net-log={netlog}", *mode, page.resolve().as_uri())
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, page_requests(netlog)


def page_requests(netlog: Path) -> list[dict]:
    """URL requests the page itself started (initiator is the page's opaque file origin, or the request
    belongs to the file:// site), leaving out the browser's own background requests."""
    data = json.loads(netlog.read_text())
    names = {v: k for k, v in data["constants"]["logEventTypes"].items()}
    out = []
    for event in data["events"]:
        if names.get(event["type"]) != "URL_REQUEST_START_JOB":
            continue
        params = event.get("params") or {}
        if "url" not in params:
            continue
        if params.get("initiator") != "not an origin" or "file://" in params.get("network_isolation_key", ""):
            out.append(params)
    return out


class DevToolsError(RuntimeError):
    pass


class DevTools:
    """One headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: no port,
    nothing another process could connect to). Use as a context manager; the browser is killed on exit.

    ``open(page)`` loads a file in a new tab and waits for its load event; ``js(expr)`` evaluates in it
    (promises awaited) and returns the value; ``type(selector, text)`` focuses an element and types into it
    key by key, as a person would.
    """

    def __init__(self, out: Path, timeout: float = 120.0) -> None:
        self.out, self.timeout = out, timeout
        self.proc: subprocess.Popen | None = None
        self.session: str | None = None
        self._id = 0
        self._buf = b""
        self.events: list[dict] = []

    def __enter__(self) -> "DevTools":
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()
        # Chromium reads commands on fd 3 and writes answers on fd 4 (bash: dash takes no fd above 9)
        argv = ["/bin/bash", "-c", f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w}',
                *_argv(self.out, "--remote-debugging-pipe", "--window-size=1280,900", "about:blank")]
        with open(self.out.parent / f"{self.out.name}-chromium.log", "wb") as log:
            self.proc = subprocess.Popen(argv, pass_fds=(to_chrome_r, from_chrome_w), stdout=log, stderr=log)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        return self

    def __exit__(self, *exc) -> None:
        for fd in (self._w, self._r):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(timeout=30)

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise DevToolsError("no answer from Chromium in time")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise DevToolsError("Chromium closed the DevTools pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, session: bool = True) -> dict:
        """One command; its result (events that arrive meanwhile are kept in ``events``)."""
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self._read(deadline)
            if answer.get("id") == self._id:
                if "error" in answer:
                    raise DevToolsError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)

    def wait_event(self, method: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            for n, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(n)
            self.events.append(self._read(deadline))

    def open(self, page: Path) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        self.send("Page.enable")
        self.events.clear()
        self.send("Page.navigate", {"url": page.resolve().as_uri()})
        self.wait_event("Page.loadEventFired")

    def js(self, expression: str):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise DevToolsError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def type(self, selector: str, text: str) -> None:
        self.js(f"document.querySelector({json.dumps(selector)}).focus()")
        for ch in text:
            self.send("Input.dispatchKeyEvent", {"type": "keyDown", "text": ch, "key": ch})
            self.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": ch})
