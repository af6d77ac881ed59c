# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Health probe kinds that talk to data services: postgres, redis, celery.

postgres and redis reuse the collection's client layers (``_postgres.py``,
``_redis.py``) with every timeout set from the attempt's deadline; celery goes
through kombu. Whatever these libraries do with a hostile peer, the attempt
runs in a child process that the core kills at its deadline.
"""

from __future__ import annotations

import time
import traceback
import urllib.parse

from ansible_collections.runbook.ops.plugins.module_utils._probe_core import (
    Context, _ms_since, _ParamsModule,
)
from ansible_collections.runbook.ops.plugins.module_utils._probe_schema import (
    LATENCY, Kind, Metric, Outcome, ProbeFailure, _f,
)

CELERY_IMP_ERR = None
try:
    import celery

    HAS_CELERY = True
except ImportError:  # pragma: no cover - depends on the managed host
    celery = None
    HAS_CELERY = False
    CELERY_IMP_ERR = traceback.format_exc()


# postgres
# ---------------------------------------------------------------------------

PG_KEYS = ("login_host", "login_port", "login_unix_socket", "login_user", "login_password", "login_db",
           "ssl_mode", "ca_cert", "ssl_cert", "ssl_key")


def _postgres_layer():
    """The PostgreSQL client layer, imported only when a postgres probe is run: psycopg costs about
    0.1 s of CPU to import on every run of the module. ``prepare`` imports it before any attempt
    forks: a child must not spend its deadline importing it."""
    from ansible_collections.runbook.ops.plugins.module_utils import _postgres  # pylint: disable=import-outside-toplevel
    return _postgres


def _redis_layer():
    """The Redis client layer (redis-py, about 0.15 s to import), like :func:`_postgres_layer`."""
    from ansible_collections.runbook.ops.plugins.module_utils import _redis  # pylint: disable=import-outside-toplevel
    return _redis


def _client_params(spec: dict, keys: tuple, p: dict) -> dict:
    """A client layer's module params: its argument spec's defaults, with the probe's ``keys`` that are set."""
    params = {k: v.get("default") for k, v in spec.items()}
    params.update({k: p[k] for k in keys if p.get(k) is not None})
    return params


def check_postgres(p: dict, ctx: Context) -> Outcome:
    pgu = _postgres_layer()
    params = _client_params(pgu.postgres_argument_spec(), PG_KEYS, p)
    params["connect_timeout"] = max(2, int(-(-p["timeout"] // 1)))
    t0 = time.monotonic()
    client = pgu.PostgresClient(_ParamsModule(params))
    try:
        try:
            conn = client.connect()
            client.query(conn, "SELECT set_config('statement_timeout', %s, false)", [f"{int(p['timeout'] * 1000)}ms"])
            client.query(conn, "SELECT 1")
        except pgu.PostgresError as exc:
            raise ProbeFailure(str(exc), metrics={"latency_ms": _ms_since(t0)}) from None
        latency = _ms_since(t0)
        try:
            row = client.query(conn, """
                SELECT current_setting('max_connections')::int AS max_connections,
                       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS connections,
                       pg_is_in_recovery() AS in_recovery,
                       CASE WHEN pg_is_in_recovery() THEN
                         CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                              ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END
                       END AS lag_s
            """)[0]
        except pgu.PostgresError as exc:
            raise ProbeFailure(f"SELECT 1 answered but reading the statistics failed: {exc}",
                               metrics={"latency_ms": latency}) from None
    finally:
        client.close()
    pct = round(100.0 * row["connections"] / row["max_connections"], 1)
    lag = None if row["lag_s"] is None else round(float(row["lag_s"]), 1)
    metrics = {"latency_ms": latency, "connections_pct": pct, "replication_lag_s": lag}
    details = {"connections": row["connections"], "max_connections": row["max_connections"],
               "in_recovery": row["in_recovery"]}
    role = "replica" if row["in_recovery"] else "primary"
    if p.get("expect_role") and p["expect_role"] != role:
        raise ProbeFailure(f"server is a {role}, expected a {p['expect_role']}", metrics=metrics, details=details)
    msg = f"SELECT 1 in {latency:.0f} ms; {row['connections']}/{row['max_connections']} connections ({pct:g}%)"
    if row["in_recovery"]:
        msg += "; replica, replay lag " + ("unknown (nothing replayed yet)" if lag is None else f"{lag:g}s")
    return Outcome(message=msg, metrics=metrics, details=details)


# ---------------------------------------------------------------------------
# celery (Redis or any kombu broker)
# ---------------------------------------------------------------------------
def check_celery(p: dict, ctx: Context) -> Outcome:
    if not HAS_CELERY:
        raise ProbeFailure("the celery Python library is not installed on the managed host (pip install celery)")
    app = celery.Celery("runbook_ops_probe", broker=p["broker_url"], set_as_current=False)
    app.conf.broker_connection_timeout = p["timeout"]
    app.conf.broker_connection_retry_on_startup = False
    app.conf.broker_connection_max_retries = 0
    app.conf.broker_transport_options = {"socket_timeout": p["timeout"], "socket_connect_timeout": p["timeout"],
                                         "max_retries": 0}
    metrics: dict = {}
    details: dict = {}
    reply_timeout = p["reply_timeout"]
    destination = p.get("workers")
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=0, timeout=p["timeout"])
            depths = {}
            channel = conn.default_channel
            for q in p["queues"]:
                try:
                    depths[q] = channel.queue_declare(queue=q, passive=True).message_count
                except Exception as exc:  # kombu: the queue key does not exist = nothing queued
                    if "NOT_FOUND" in str(exc) or "not found" in str(exc).lower() or "404" in str(exc):
                        depths[q] = 0
                        channel = conn.channel()
                    else:
                        raise
            details["queues"] = depths
            metrics["queue_depth"] = max(depths.values()) if depths else None
            replies = app.control.ping(timeout=reply_timeout, connection=conn, destination=destination) or []
            alive = sorted(name for r in replies for name in r)
            details["workers"] = alive
            metrics["workers"] = len(alive)
            if p["stuck_after"] is not None and alive:
                insp = app.control.inspect(timeout=reply_timeout, connection=conn, destination=alive)
                active = insp.active() or {}
                now = time.time()
                stuck = []
                for worker, tasks in active.items():
                    for task in tasks or []:
                        start = task.get("time_start")
                        if start is None:
                            continue
                        age = now - start if start > 1e9 else time.monotonic() - start
                        if age >= p["stuck_after"]:
                            stuck.append({"worker": worker, "id": task.get("id"), "name": task.get("name"),
                                          "age_s": round(age, 1)})
                details["stuck"] = stuck
                details["active"] = sum(len(v or []) for v in active.values())
                metrics["stuck_tasks"] = len(stuck)
    except ProbeFailure:
        raise
    except Exception as exc:  # kombu/redis connection errors have many types
        text = str(exc) or type(exc).__name__
        raise ProbeFailure(f"broker {_redact_url(p['broker_url'])}: {text}", metrics=metrics, details=details) from None
    if destination:
        missing = sorted(set(destination) - set(details["workers"]))
        if missing:
            raise ProbeFailure(f"worker(s) not answering ping: {', '.join(missing)}", metrics=metrics, details=details)
    msg = f"{metrics['workers']} worker(s) answered ping"
    if details.get("queues"):
        msg += "; queue depth " + ", ".join(f"{q}={n}" for q, n in details["queues"].items())
    if "stuck_tasks" in metrics:
        msg += f"; {metrics['stuck_tasks']} task(s) active for >= {p['stuck_after']:g}s"
    return Outcome(message=msg, metrics=metrics, details=details)


def _redact_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return url


def _validate_celery(p: dict) -> list[str]:
    if "://" not in p["broker_url"]:
        return [f"broker_url: must be a broker URL such as redis://host:6379/0, got {_redact_url(p['broker_url'])!r}"]
    return []


# redis (reuses the Redis client layer of module_utils/_redis.py)
# ---------------------------------------------------------------------------
REDIS_KEYS = ("login_host", "login_port", "login_unix_socket", "login_user", "login_password", "db", "tls",
              "validate_certs", "ca_certs", "client_cert_file", "client_key_file")


def check_redis(p: dict, ctx: Context) -> Outcome:
    ru = _redis_layer()
    params = _client_params(ru.redis_argument_spec(), REDIS_KEYS, p)
    params["socket_timeout"] = params["connect_timeout"] = p["timeout"]
    t0 = time.monotonic()
    client = ru.RedisClient(_ParamsModule(params))
    try:
        try:
            client.connect()  # PING, with the client layer's error wording
            latency = _ms_since(t0)
            info = client.info()
        except ru.RedisError as exc:
            raise ProbeFailure(str(exc), metrics={"latency_ms": _ms_since(t0)}) from None
    finally:
        client.close()
    used = int(info.get("used_memory", 0))
    maxmem = int(info.get("maxmemory", 0) or 0)
    pct = round(100.0 * used / maxmem, 1) if maxmem else None
    metrics = {
        "latency_ms": latency,
        "memory_pct": pct,
        "connected_clients": int(info.get("connected_clients", 0)),
        "rejected_connections": int(info.get("rejected_connections", 0)),
    }
    details = {"used_memory": used, "maxmemory": maxmem, "role": info.get("role"),
               "redis_version": info.get("redis_version")}
    mem = f"{pct:g}% of maxmemory" if pct is not None else f"{used // 1024} KiB used, no maxmemory"
    msg = (f"PONG in {latency:.0f} ms; {mem}; {metrics['connected_clients']} client(s), "
           f"{metrics['rejected_connections']} rejected")
    return Outcome(message=msg, metrics=metrics, details=details)


KINDS: dict[str, Kind] = {
    "postgres": Kind(
        check_postgres,
        {
            "login_host": _f("str", default=""),
            "login_port": _f("int", default=5432),
            "login_unix_socket": _f("str", default=""),
            "login_user": _f("str", default="postgres"),
            "login_password": _f("str", default="", secret=True),
            "login_db": _f("str", default="postgres"),
            "ssl_mode": _f("str", default="prefer",
                           choices=("disable", "allow", "prefer", "require", "verify-ca", "verify-full")),
            "ca_cert": _f("str"),
            "ssl_cert": _f("str"),
            "ssl_key": _f("str"),
            "expect_role": _f("str", choices=("primary", "replica")),
        },
        {"connections_pct": Metric("%", True, 80, 95), "replication_lag_s": Metric("s", True),
         "latency_ms": LATENCY},
        primary="connections_pct",
        prepare=_postgres_layer,
    ),
    "redis": Kind(
        check_redis,
        {
            "login_host": _f("str", default="localhost"),
            "login_port": _f("int", default=6379),
            "login_unix_socket": _f("str"),
            "login_user": _f("str"),
            "login_password": _f("str", secret=True),
            "db": _f("int", default=0, minimum=0),
            "tls": _f("bool", default=False),
            "validate_certs": _f("bool", default=True),
            "ca_certs": _f("str"),
            "client_cert_file": _f("str"),
            "client_key_file": _f("str"),
        },
        {"memory_pct": Metric("%", True, 80, 95), "connected_clients": Metric("", True),
         "rejected_connections": Metric("", True), "latency_ms": LATENCY},
        primary="memory_pct",
        prepare=_redis_layer,
    ),
    "celery": Kind(
        check_celery,
        {
            "broker_url": _f("str", required=True, secret=True),
            "queues": _f("list_str", default=["celery"]),
            "workers": _f("list_str"),
            "reply_timeout": _f("float", default=2.0, minimum=0.1),
            "stuck_after": _f("float", minimum=0),
        },
        {"workers": Metric("", False, None, 0), "queue_depth": Metric("", True), "stuck_tasks": Metric("", True, None, 1)},
        primary="queue_depth",
        validate=_validate_celery,
    ),
}
