# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Health probe kinds that talk to network peers: http, websocket, tcp, certificate.

Every step (connect, TLS handshake, each read) waits at most what is left of
the attempt's deadline (``ctx.deadline``), and reads are checked against it
between chunks, so a peer that drips a byte a second cannot stretch a probe
past its ``timeout``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
import ssl
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

from ansible_collections.runbook.ops.plugins.module_utils._deadline import Deadline, DeadlineExceeded
from ansible_collections.runbook.ops.plugins.module_utils._probe_core import (
    Context, _describe_os_error, _ms_since,
)
from ansible_collections.runbook.ops.plugins.module_utils._probe_schema import (
    LATENCY, Field, Kind, Metric, Outcome, ProbeFailure, _f, _regex_error, _url_ok,
)

JMESPATH_IMP_ERR = None
try:
    import jmespath

    HAS_JMESPATH = True
except ImportError:  # pragma: no cover - depends on the managed host
    jmespath = None
    HAS_JMESPATH = False
    JMESPATH_IMP_ERR = traceback.format_exc()

CRYPTOGRAPHY_IMP_ERR = None
try:
    from cryptography import x509

    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - depends on the managed host
    x509 = None
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMP_ERR = traceback.format_exc()


WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC11B85"
MAX_BODY = 1024 * 1024


def _ssl_context(p: dict, verify: bool) -> ssl.SSLContext:
    if verify:
        ctx = ssl.create_default_context(cafile=p.get("ca_path") or None)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if p.get("client_cert"):
        try:
            ctx.load_cert_chain(p["client_cert"], p.get("client_key") or None)
        except (OSError, ssl.SSLError) as exc:
            raise ProbeFailure(f"cannot load client_cert/client_key: {exc}") from None
    return ctx


# http
# ---------------------------------------------------------------------------
class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D401 - urllib API
        return None


def check_http(p: dict, ctx: Context) -> Outcome:
    url = p["url"]
    handlers: list = [urllib.request.ProxyHandler({})] if not p["use_proxy"] else []
    if url.lower().startswith("https://"):
        handlers.append(urllib.request.HTTPSHandler(context=_ssl_context(p, p["validate_certs"])))
    if not p["follow_redirects"]:
        handlers.append(_NoRedirect())
    opener = urllib.request.build_opener(*handlers)
    data = p["body"].encode("utf-8") if p.get("body") is not None else None
    req = urllib.request.Request(url, data=data, method=p["method"], headers=p.get("headers") or {})
    t0 = time.monotonic()
    try:
        resp = opener.open(req, timeout=ctx.deadline.timeout())
    except urllib.error.HTTPError as exc:
        resp = exc  # an HTTP answer all the same: its status is judged below
    except urllib.error.URLError as exc:
        raise ProbeFailure(f"{p['method']} {url}: {_describe_os_error(exc.reason) if isinstance(exc.reason, BaseException) else exc.reason}",
                           metrics={"latency_ms": None}) from None
    except (OSError, ValueError, http_client_errors()) as exc:
        raise ProbeFailure(f"{p['method']} {url}: {_describe_os_error(exc)}") from None
    try:
        status = resp.status if hasattr(resp, "status") and resp.status else resp.code
        try:
            raw = _read_body(resp, ctx.deadline)
        except (OSError, http_client_errors()) as exc:
            raise ProbeFailure(f"{p['method']} {url}: reading the body failed: {_describe_os_error(exc)}") from None
    finally:
        resp.close()
    latency = _ms_since(t0)
    details = {"status_code": status, "url": resp.geturl() if hasattr(resp, "geturl") else url}
    metrics = {"latency_ms": latency}
    if status not in p["status_code"]:
        raise ProbeFailure(f"HTTP {status}, expected {', '.join(map(str, p['status_code']))}",
                           details=details, metrics=metrics)
    text = raw.decode("utf-8", "replace")
    if p.get("body_regex") and not re.search(p["body_regex"], text):
        raise ProbeFailure(f"HTTP {status} but the body does not match body_regex {p['body_regex']!r}",
                           details=details, metrics=metrics)
    if p.get("json_query"):
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise ProbeFailure(f"HTTP {status} but the body is not JSON ({exc})", details=details, metrics=metrics) from None
        found = jmespath.search(p["json_query"], doc)
        details["json_query_result"] = found
        if "json_equals" in p and p.get("json_equals") is not None:
            if found != p["json_equals"]:
                raise ProbeFailure(f"json_query {p['json_query']!r} gave {found!r}, expected {p['json_equals']!r}",
                                   details=details, metrics=metrics)
        elif not found:
            raise ProbeFailure(f"json_query {p['json_query']!r} gave {found!r} (not true)", details=details, metrics=metrics)
    return Outcome(message=f"HTTP {status} in {latency:.0f} ms", metrics=metrics, details=details)


def _read_body(resp, deadline: Deadline) -> bytes:
    """Up to MAX_BODY bytes of the body, one socket read at a time, each within what is left of the deadline."""
    sock = getattr(getattr(getattr(resp, "fp", None), "raw", None), "_sock", None)  # http.client's socket
    parts: list[bytes] = []
    size = 0
    while size < MAX_BODY:
        # Python 3.13's read1 closes the connection once the whole body is in: done (a timeout
        # set on that closed socket would fail with EBADF)
        if getattr(resp, "isclosed", lambda: False)():
            break
        if sock is not None:
            sock.settimeout(deadline.timeout())
        else:
            deadline.check()
        chunk = resp.read1(min(65536, MAX_BODY - size)) if hasattr(resp, "read1") else resp.read(MAX_BODY - size)
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)


def http_client_errors():
    import http.client

    return http.client.HTTPException


def _validate_http(p: dict) -> list[str]:
    errs = []
    parts = urllib.parse.urlsplit(p["url"])
    if parts.scheme not in ("http", "https") or not parts.netloc:
        errs.append(f"url: must be an http:// or https:// URL, got {p['url']!r}")
    if p.get("body_regex"):
        errs.extend(_regex_error("body_regex", p["body_regex"]))
    if p.get("json_query"):
        if not HAS_JMESPATH:
            errs.append("json_query: the jmespath Python library is not installed on the managed host")
        else:
            try:
                jmespath.compile(p["json_query"])
            except Exception as exc:  # jmespath raises its own ParseError family
                errs.append(f"json_query: invalid jmespath expression: {exc}")
    if p.get("client_key") and not p.get("client_cert"):
        errs.append("client_key: requires client_cert")
    bad = [c for c in p["status_code"] if not 100 <= c <= 599]
    if bad:
        errs.append(f"status_code: {bad[0]} is not an HTTP status")
    return errs


TLS_FIELDS = {
    "validate_certs": Field("bool", default=True),
    "ca_path": Field("str"),
    "client_cert": Field("str"),
    "client_key": Field("str"),
}


# websocket / tcp
# ---------------------------------------------------------------------------
def _connect(host: str, port: int, deadline: Deadline) -> socket.socket:
    try:
        return deadline.connect(host, port)
    except DeadlineExceeded:
        raise ProbeFailure(deadline.exceeded_message(f"connect to {host}:{port}")) from None
    except OSError as exc:
        raise ProbeFailure(f"connect to {host}:{port}: {_describe_os_error(exc)}") from None


def check_tcp(p: dict, ctx: Context) -> Outcome:
    t0 = time.monotonic()
    s = _connect(p["host"], p["port"], ctx.deadline)
    s.close()
    latency = _ms_since(t0)
    return Outcome(message=f"connected to {p['host']}:{p['port']} in {latency:.0f} ms", metrics={"latency_ms": latency})


def check_websocket(p: dict, ctx: Context) -> Outcome:
    parts = urllib.parse.urlsplit(p["url"])
    secure = parts.scheme == "wss"
    host = parts.hostname
    port = parts.port or (443 if secure else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    t0 = time.monotonic()
    sock = _connect(host, port, ctx.deadline)
    try:
        if secure:
            try:
                sock = ctx.deadline.wrap_tls(_ssl_context(p, p["validate_certs"]), sock, host)
            except DeadlineExceeded:
                raise ProbeFailure(ctx.deadline.exceeded_message(f"TLS handshake with {host}:{port}")) from None
            except (OSError, ssl.SSLError) as exc:
                raise ProbeFailure(f"TLS handshake with {host}:{port}: {_describe_os_error(exc)}") from None
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        host_header = parts.netloc.rsplit("@", 1)[-1]
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host_header}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if p.get("origin"):
            lines.append(f"Origin: {p['origin']}")
        if p.get("subprotocols"):
            lines.append("Sec-WebSocket-Protocol: " + ", ".join(p["subprotocols"]))
        for hk, hv in (p.get("headers") or {}).items():
            lines.append(f"{hk}: {hv}")
        try:
            ctx.deadline.sendall(sock, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = ctx.deadline.recv(sock, 4096)
                if not chunk:
                    break
                buf += chunk
                if len(buf) > 65536:
                    break
        except DeadlineExceeded:
            raise ProbeFailure(ctx.deadline.exceeded_message(f"websocket handshake with {p['url']}")) from None
        except OSError as exc:
            raise ProbeFailure(f"websocket handshake with {p['url']}: {_describe_os_error(exc)}") from None
        latency = _ms_since(t0)
        metrics = {"latency_ms": latency}
        head = buf.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        if not head:
            raise ProbeFailure(f"{p['url']}: connection closed without a handshake answer", metrics=metrics)
        status_line, *header_lines = head.split("\r\n")
        m = re.match(r"HTTP/\d(?:\.\d)?\s+(\d{3})", status_line)
        code = int(m.group(1)) if m else None
        headers = {}
        for line in header_lines:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        details = {"status_code": code}
        if code != 101:
            raise ProbeFailure(f"handshake answered {status_line.strip()!r}, expected 101 Switching Protocols",
                               details=details, metrics=metrics)
        expected = base64.b64encode(hashlib.sha1((key + WS_GUID).encode("ascii")).digest()).decode("ascii")  # nosec B324 - RFC 6455
        if headers.get("sec-websocket-accept") != expected:
            raise ProbeFailure("101 answered but Sec-WebSocket-Accept is wrong (not a WebSocket server?)",
                               details=details, metrics=metrics)
        if "websocket" not in headers.get("upgrade", "").lower():
            raise ProbeFailure("101 answered without 'Upgrade: websocket'", details=details, metrics=metrics)
        if p.get("subprotocols"):
            details["subprotocol"] = headers.get("sec-websocket-protocol")
        try:  # polite close frame (masked, as a client must), then hang up
            sock.sendall(b"\x88\x80" + os.urandom(4))
        except OSError:
            pass
        return Outcome(message=f"WebSocket upgrade (101) in {latency:.0f} ms", metrics=metrics, details=details)
    finally:
        sock.close()


def _validate_ws(p: dict) -> list[str]:
    parts = urllib.parse.urlsplit(p["url"])
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        return [f"url: must be a ws:// or wss:// URL, got {p['url']!r}"]
    if not _url_ok(p["url"]):
        return [f"url: bad port in {p['url']!r}"]
    return []


def _validate_port(p: dict) -> list[str]:
    if not 1 <= p["port"] <= 65535:
        return [f"port: must be 1-65535, got {p['port']}"]
    return []


# certificate
# ---------------------------------------------------------------------------
def _not_after_openssl(ctx: Context, data: bytes, der: bool, timeout: float) -> float:
    openssl = ctx.which("openssl")
    if not openssl:
        raise ProbeFailure("neither the cryptography library nor openssl is available on the managed host")
    argv = [openssl, "x509", "-noout", "-enddate"] + (["-inform", "DER"] if der else [])
    rc, out, err = ctx.run(argv, timeout=timeout, data=data)
    if rc != 0:
        raise ProbeFailure(f"openssl x509 could not read the certificate: {err.strip()}")
    m = re.search(r"notAfter=(.+)", out)
    if not m:
        raise ProbeFailure(f"openssl x509 printed no notAfter: {out.strip()}")
    return float(ssl.cert_time_to_seconds(m.group(1).strip()))


def cert_not_after(ctx: Context, data: bytes, der: bool, timeout: float) -> tuple[float, dict]:
    """Expiry (epoch seconds) of the first certificate in ``data`` and a little detail."""
    if HAS_CRYPTOGRAPHY:
        try:
            cert = x509.load_der_x509_certificate(data) if der else x509.load_pem_x509_certificate(data)
        except ValueError as exc:
            raise ProbeFailure(f"not a {'DER' if der else 'PEM'} certificate: {exc}") from None
        try:
            not_after = cert.not_valid_after_utc.timestamp()
        except AttributeError:  # cryptography < 42
            import calendar

            not_after = calendar.timegm(cert.not_valid_after.timetuple())
        details = {"subject": cert.subject.rfc4514_string()}
    else:
        not_after = _not_after_openssl(ctx, data, der, timeout)
        details = {}
    # the timestamp too: the run report's metric of the expiry (notAfter has whole seconds)
    details.update(not_after=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(not_after)),
                   not_after_timestamp=int(not_after))
    return not_after, details


def check_certificate(p: dict, ctx: Context) -> Outcome:
    if p.get("path"):
        try:
            with open(p["path"], "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise ProbeFailure(f"cannot read {p['path']}: {exc.strerror or exc}") from None
        der = b"-----BEGIN" not in data
        where = p["path"]
    else:
        host, port = p["host"], p["port"]
        sni = p.get("server_name") or host
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE  # read the certificate even when it is expired or self-signed
        sock = _connect(host, port, ctx.deadline)
        try:
            try:
                with ctx.deadline.wrap_tls(tls, sock, sni) as tsock:
                    data = tsock.getpeercert(binary_form=True)
            except DeadlineExceeded:
                raise ProbeFailure(ctx.deadline.exceeded_message(f"TLS handshake with {host}:{port} (SNI {sni})")) from None
            except (OSError, ssl.SSLError) as exc:
                raise ProbeFailure(f"TLS handshake with {host}:{port} (SNI {sni}): {_describe_os_error(exc)}") from None
        finally:
            sock.close()
        if not data:
            raise ProbeFailure(f"{host}:{port} sent no certificate")
        der = True
        where = f"{host}:{port} (SNI {sni})"
    not_after, details = cert_not_after(ctx, data, der, p["timeout"])
    days = round((not_after - time.time()) / 86400.0, 2)
    details["source"] = where
    metrics = {"days_left": days}
    if days <= 0:
        raise ProbeFailure(f"certificate of {where} expired {-days:.1f} days ago ({details['not_after']})",
                           metrics=metrics, details=details)
    return Outcome(message=f"certificate of {where} expires in {days:.1f} days ({details['not_after']})",
                   metrics=metrics, details=details)


def _validate_certificate(p: dict) -> list[str]:
    if bool(p.get("path")) == bool(p.get("host")):
        return ["path/host: give exactly one of path (a certificate file) or host (+ port) of a TLS endpoint"]
    if p.get("port") is not None and not 1 <= p["port"] <= 65535:
        return [f"port: must be 1-65535, got {p['port']}"]
    return []


KINDS: dict[str, Kind] = {
    "http": Kind(
        check_http,
        dict({
            "url": _f("str", required=True),
            "method": _f("str", default="GET", choices=("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")),
            "status_code": _f("list_int", default=[200]),
            "headers": _f("dict_str"),
            "body": _f("str"),
            "body_regex": _f("str"),
            "json_query": _f("str"),
            "json_equals": _f("any"),
            "follow_redirects": _f("bool", default=True),
            "use_proxy": _f("bool", default=False),
        }, **TLS_FIELDS),
        {"latency_ms": LATENCY},
        primary="latency_ms",
        validate=_validate_http,
    ),
    "websocket": Kind(
        check_websocket,
        dict({
            "url": _f("str", required=True),
            "headers": _f("dict_str"),
            "origin": _f("str"),
            "subprotocols": _f("list_str"),
        }, **TLS_FIELDS),
        {"latency_ms": LATENCY},
        primary="latency_ms",
        validate=_validate_ws,
    ),
    "tcp": Kind(
        check_tcp,
        {"host": _f("str", required=True), "port": _f("int", required=True)},
        {"latency_ms": LATENCY},
        primary="latency_ms",
        validate=_validate_port,
    ),
    "certificate": Kind(
        check_certificate,
        {"path": _f("str"), "host": _f("str"), "port": _f("int", default=443), "server_name": _f("str")},
        {"days_left": Metric("d", False, 30, 7)},
        primary="days_left",
        validate=_validate_certificate,
    ),
}
