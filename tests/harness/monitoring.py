# SPDX-License-Identifier: GPL-3.0-or-later
"""Debian's Prometheus Pushgateway as a real server for the tests: a free loopback port, a temporary
directory, readiness polled on /-/ready, stopped (and reaped) even when the test fails."""
from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from harness.net import free_port, wait_until


def binary(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} not found: run scripts/setup_monitoring.sh (Debian's Prometheus packages)")
    return path


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/-/ready", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


class Daemon:
    """One of Debian's Prometheus binaries on a free loopback port, ready on /-/ready."""

    def __init__(self, name: str, workdir: Path, args: list[str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / f"{name}.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen([binary(name), f"--web.listen-address=127.0.0.1:{self.port}", *args],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: self.proc.poll() is None and _ready(self.url), 60, f"{name} ready")
        except BaseException:
            self.stop()
            raise

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


class Pushgateway(Daemon):
    """Debian's prometheus-pushgateway, persisting into ``workdir``."""

    def __init__(self, workdir: Path) -> None:
        super().__init__("prometheus-pushgateway", workdir, [f"--persistence.file={workdir / 'pushgateway.data'}"])

    def metrics(self) -> str:
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as r:
            return r.read().decode()

    def groups(self) -> list[dict]:
        """The pushed groups (/api/v1/metrics): [{"labels": {...}, metric: {...}}]."""
        with urllib.request.urlopen(self.url + "/api/v1/metrics", timeout=10) as r:
            return json.loads(r.read())["data"]


class Alertmanager(Daemon):
    def __init__(self, workdir: Path, config: Path) -> None:
        super().__init__("prometheus-alertmanager", workdir, [
            f"--config.file={config}", f"--storage.path={workdir / 'alertmanager'}", "--cluster.listen-address="])


class Prometheus(Daemon):
    def __init__(self, workdir: Path, config: Path) -> None:
        super().__init__("prometheus", workdir, [f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}"])

    def query(self, expr: str) -> list[dict]:
        import urllib.parse

        return self.get("/api/v1/query?" + urllib.parse.urlencode({"query": expr}))["data"]["result"]

    def alerts(self) -> list[dict]:
        return self.get("/api/v1/alerts")["data"]["alerts"]


class WebhookReceiver:
    """A webhook endpoint (Slack / Mattermost / Teams style) on a free loopback port: records every POST's
    JSON body; ``status`` is what it answers."""

    def __init__(self, status: int = 200) -> None:
        from harness.http import QuietHandler, StubServer

        received: list[dict] = []
        answer = status

        class Handler(QuietHandler):
            def do_POST(self):  # noqa: N802 (the name http.server calls)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append({"path": self.path, "content_type": self.headers.get("Content-Type"),
                                 "json": json.loads(body)})
                self.send_response(answer)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.received = received
        self.server = StubServer(Handler)
        self.url = self.server.url("/hooks/runbook")

    def stop(self) -> None:
        self.server.stop()


class SmtpReceiver:
    """A real SMTP server (aiosmtpd) on a free loopback port that keeps every message it is given.

    ``security`` ``starttls`` offers STARTTLS and refuses mail before it (``require_starttls``); ``ssl``
    speaks TLS from the first byte (implicit TLS). Both serve the certificate of ``tls``
    (:func:`harness.tls.make_tls`: localhost and 127.0.0.1). ``login`` (user, password) requires
    AUTH (over STARTTLS only; offered with implicit TLS, see ``logins``). ``host`` is the loopback address to listen on.
    """

    def __init__(self, security: str = "none", tls=None, login: tuple[str, str] | None = None,
                 host: str = "127.0.0.1") -> None:
        try:
            from aiosmtpd.controller import Controller
            from aiosmtpd.smtp import AuthResult
        except ImportError:
            pytest.fail("aiosmtpd is needed for the notification tests: pip install aiosmtpd (requirements/dev.txt)")
        import email
        import email.policy

        messages: list = []
        self.logins: list[str] = []

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
                messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content,
                                                                             policy=email.policy.default)))
                return "250 OK"

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = login is not None and (auth_data.login, auth_data.password) == tuple(x.encode() for x in login)
            if ok:
                self.logins.append(auth_data.login.decode())
            return AuthResult(success=ok)

        kwargs: dict = {}
        if security != "none":
            from harness.tls import server_context

            context = server_context(tls)
            kwargs = {"ssl_context": context} if security == "ssl" else {"tls_context": context, "require_starttls": True}
        if login:
            # aiosmtpd counts STARTTLS only as TLS (it would not offer AUTH over implicit TLS), and warns
            # when AUTH is required without it: with implicit TLS AUTH is offered, not required (the tests
            # check ``logins``)
            tls_only = security != "ssl"
            kwargs.update(authenticator=authenticator, auth_required=tls_only, auth_require_tls=tls_only)
        self.messages = messages
        self.host = host
        self.port = free_port()
        self.controller = Controller(Handler(), hostname=host, port=self.port, **kwargs)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
