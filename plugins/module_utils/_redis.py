# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one Redis client layer of runbook.ops.

Every Redis module connects through here: the shared argument spec (doc
fragment ``runbook.ops.redis``), the redis-py import guard, one connection
with the same TLS/auth/timeout settings for every node, cluster detection
(``cluster_enabled`` in INFO: every primary of the cluster is returned by
``RedisClient.primaries()``), and the mapping of redis-py exceptions to
messages that name the cause (wrong password, server down, read-only replica,
CONFIG renamed or disabled). Passwords go to redis-py, never to a command line.

Time bound (the deadline helper of ``_deadline.py``): redis-py's own timeouts
are per socket read and it retries timed-out commands, so a server that never
answers or drips a byte a second could hold a module for minutes. Here every
connection is made by :func:`bounded_connection_class`: connecting (TCP, TLS
handshake, AUTH/HELLO/SELECT) takes at most ``connect_timeout`` in total and each
reply at most ``socket_timeout`` in total; a watchdog shuts the socket down when
that passes, and redis-py's retries are off. The error then says
``no complete answer within N s (deadline)``. Cluster discovery (redis-py's own
connections for CLUSTER SLOTS and COMMAND) takes at most ``connect_timeout`` in
total (:meth:`RedisClient._discover`).
"""

from __future__ import annotations

import contextlib
import traceback
import typing as t

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils._deadline import DeadlineExceeded, Watchdog, shutdown_quietly
from ansible_collections.runbook.ops.plugins.module_utils._module_run import run_and_exit

REDIS_IMP_ERR = None
try:
    import redis
    from redis import exceptions as redis_exc
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    HAS_REDIS = True
except ImportError:  # pragma: no cover - exercised on hosts without redis-py
    redis = None
    redis_exc = None
    HAS_REDIS = False
    REDIS_IMP_ERR = traceback.format_exc()


def redis_argument_spec() -> dict:
    """Connection options shared by every Redis module (doc fragment runbook.ops.redis)."""
    return dict(
        login_host=dict(type="str", default="localhost", aliases=["host"]),
        login_port=dict(type="int", default=6379, aliases=["port"]),
        login_unix_socket=dict(type="path", aliases=["unix_socket"]),
        db=dict(type="int", default=0),
        login_user=dict(type="str", aliases=["user"]),
        login_password=dict(type="str", no_log=True, aliases=["password"]),
        tls=dict(type="bool", default=False),
        validate_certs=dict(type="bool", default=True),
        ca_certs=dict(type="path"),
        client_cert_file=dict(type="path"),
        client_key_file=dict(type="path", no_log=False),
        socket_timeout=dict(type="float", default=30.0),
        connect_timeout=dict(type="float", default=5.0),
    )


class RedisError(Exception):
    """A failure already worded for the user; modules turn it into fail_json."""


class Scope:
    """Every connection made inside one bounded exchange (cluster discovery): shut down together
    when its deadline passes, and no new one started after that."""

    def __init__(self) -> None:
        self.connections: list = []
        self.over = False

    def abort(self) -> None:
        self.over = True
        for conn in list(self.connections):
            conn._rb_abort()

    def check(self) -> None:
        if self.over:
            raise DeadlineExceeded(0, "after the deadline")


def bounded_connection_class(base, watchdog: Watchdog, connect_timeout: float, scope: Scope | None = None):
    """A subclass of the redis-py connection class ``base`` whose every wait holds a deadline.

    ``connect`` (TCP, TLS handshake, AUTH/HELLO/SELECT) within ``connect_timeout``
    in total; each ``read_response`` within the connection's ``socket_timeout`` in
    total, however the server drips. When a deadline passes the watchdog shuts
    the socket down (the blocked read returns) and DeadlineExceeded is raised.
    With a ``scope``, each connection also joins it (see :class:`Scope`).
    """

    class Bounded(base):
        _rb_raw = None

        def _rb_abort(self) -> None:
            shutdown_quietly(self._sock)
            shutdown_quietly(self._rb_raw)

        def connect_check_health(self, check_health: bool = True, retry_socket_connect: bool = True):
            if self._sock:
                return None
            if scope is not None:
                scope.check()
                scope.connections.append(self)
            with watchdog.armed(connect_timeout, self._rb_abort, "connecting"):
                return super().connect_check_health(check_health=check_health, retry_socket_connect=False)

        def _wrap_socket_with_ssl(self, sock):  # SSL only: the raw socket to shut down during the handshake
            self._rb_raw = sock
            try:
                return super()._wrap_socket_with_ssl(sock)
            finally:
                self._rb_raw = None

        def read_response(self, *args, **kwargs):
            if scope is not None:
                scope.check()
            if not self.socket_timeout:
                return super().read_response(*args, **kwargs)
            with watchdog.armed(self.socket_timeout, self._rb_abort, "waiting for a reply"):
                return super().read_response(*args, **kwargs)

    Bounded.__name__ = f"Bounded{base.__name__}"
    return Bounded


def _lower(exc: BaseException) -> str:
    return str(exc).lower()


def explain_error(exc: BaseException, target: str, what: str = "") -> str:
    """A message naming the cause of a redis-py exception ``exc`` raised at ``target``.

    ``what`` says what was being done ("CONFIG GET dir", "UNLINK"...).
    Pure function: unit-tested with constructed exceptions.
    """
    text = str(exc).strip() or exc.__class__.__name__
    low = text.lower()
    doing = f" ({what})" if what else ""
    if "wrongpass" in low or "invalid password" in low or "invalid username-password" in low:
        return f"authentication failed at {target}: wrong login_user / login_password{doing}"
    if "noauth" in low or "authentication required" in low or "must be called with the client already authenticated" in low:
        return f"authentication required at {target}: the server has a password; set login_password{doing}"
    if "without any password configured" in low or "auth <password> called" in low:
        return f"login_password was given but the server at {target} has no password configured{doing}"
    if "noperm" in low or "no permissions" in low:
        return f"permission denied at {target} for the ACL user{doing}: {text}"
    if "read only replica" in low or low.startswith("readonly") or (HAS_REDIS and isinstance(exc, redis_exc.ReadOnlyError)):
        return f"the server at {target} is a read-only replica; run against its primary{doing}"
    if "unknown command" in low:
        cmd = what.split()[0].upper() if what else "the command"
        if "config" in low:
            return (f"CONFIG is disabled or renamed on the server at {target} (rename-command); "
                    f"this needs CONFIG{doing}: {text}")
        return f"{cmd} is unknown to the server at {target} (disabled by rename-command or too old){doing}: {text}"
    if "loading" in low and "dataset" in low:
        return f"the server at {target} is still loading its dataset into memory; retry later{doing}"
    if HAS_REDIS and isinstance(exc, redis_exc.TimeoutError):
        return f"timeout talking to Redis at {target}{doing} (see socket_timeout / connect_timeout): {text}"
    if HAS_REDIS and isinstance(exc, redis_exc.ConnectionError) or "connection refused" in low or "error 111" in low:
        return f"cannot connect to Redis at {target}: server down or unreachable{doing}: {text}"
    return f"Redis error at {target}{doing}: {text}"


def parse_info_keyspace(info: dict) -> dict[int, dict]:
    """INFO keyspace as {db_number: {"keys": n, "expires": n, "avg_ttl": n}}."""
    out: dict[int, dict] = {}
    for name, value in info.items():
        if not name.startswith("db") or not name[2:].isdigit():
            continue
        if isinstance(value, dict):
            fields = value
        else:
            fields = dict(kv.split("=", 1) for kv in str(value).split(","))
        out[int(name[2:])] = {k: int(v) for k, v in fields.items() if str(v).lstrip("-").isdigit()}
    return out


class RedisClient:
    """Connections for one module run.

    ``module`` is an AnsibleModule whose argument spec includes ``redis_argument_spec()``.
    """

    def __init__(self, module) -> None:
        self.module = module
        if not HAS_REDIS:
            module.fail_json(msg=missing_required_lib("redis (redis-py)"), exception=REDIS_IMP_ERR)
        self.params = module.params
        self._conn = None
        self._cluster = None
        self._nodes: list = []
        self._info_cache: dict | None = None
        self._watchdog = Watchdog()

    # -- connecting -----------------------------------------------------
    @property
    def target(self) -> str:
        p = self.params
        if p.get("login_unix_socket"):
            return f"unix:{p['login_unix_socket']}"
        return f"{p['login_host']}:{p['login_port']}"

    def common_kwargs(self) -> dict:
        """Auth, TLS and timeouts: the same for the seed connection and every cluster node."""
        p = self.params
        kw: dict[str, t.Any] = {
            "socket_timeout": p["socket_timeout"],
            "socket_connect_timeout": p["connect_timeout"],
        }
        if p.get("login_user"):
            kw["username"] = p["login_user"]
        if p.get("login_password"):
            kw["password"] = p["login_password"]
        if p.get("tls") and not p.get("login_unix_socket"):
            kw["ssl"] = True
            kw["ssl_cert_reqs"] = "required" if p["validate_certs"] else "none"
            kw["ssl_check_hostname"] = bool(p["validate_certs"])
            if p.get("ca_certs"):
                kw["ssl_ca_certs"] = p["ca_certs"]
            if p.get("client_cert_file"):
                kw["ssl_certfile"] = p["client_cert_file"]
            if p.get("client_key_file"):
                kw["ssl_keyfile"] = p["client_key_file"]
        return kw

    def _connection_class(self, kw: dict, unix: bool = False, scope: Scope | None = None):
        """The bounded connection class for ``kw`` (common_kwargs; its ``ssl`` key is consumed)."""
        if unix:
            base = redis.UnixDomainSocketConnection
            for key in [k for k in kw if k.startswith("ssl")]:
                kw.pop(key)
        elif kw.pop("ssl", False):
            base = redis.SSLConnection
        else:
            base = redis.Connection
        return bounded_connection_class(base, self._watchdog, float(self.params["connect_timeout"]), scope)

    def _client(self, **where):
        """A redis.Redis whose connections hold the module's deadlines (see bounded_connection_class)."""
        kw = self.common_kwargs()
        unix = "unix_socket_path" in where
        if unix:
            where = {"path": where.pop("unix_socket_path"), **where}
        cls = self._connection_class(kw, unix)
        pool = redis.ConnectionPool(connection_class=cls, retry=Retry(NoBackoff(), 0), **where, **kw)
        return redis.Redis(connection_pool=pool)

    def node_client(self, host: str, port: int, db: int = 0):
        """A plain client to one node (a cluster primary) with the module's auth/TLS settings."""
        return self._client(host=host, port=port, db=db)

    def connect(self):
        """The seed connection (PING checked); errors become RedisError naming the cause."""
        if self._conn is not None:
            return self._conn
        p = self.params
        if p.get("client_key_file") and not p.get("client_cert_file"):
            raise RedisError("client_key_file needs client_cert_file")
        conn = self.fresh_connection()
        with self.errors("PING"):
            try:
                conn.ping()
            except (AttributeError, TypeError, ValueError, IndexError, KeyError) as exc:
                # redis-py trips over an answer that is no Redis handshake (another service on the port)
                raise RedisError(f"unexpected answer from {self.target}, is it a Redis server? (PING): "
                                 f"{type(exc).__name__}: {exc}") from exc
        self._conn = conn
        return conn

    def fresh_connection(self):
        """A new, uncached client with the module's settings (for polling a server that restarts)."""
        p = self.params
        if p.get("login_unix_socket"):
            return self._client(unix_socket_path=p["login_unix_socket"], db=p["db"])
        return self._client(host=p["login_host"], port=p["login_port"], db=p["db"])

    @contextlib.contextmanager
    def errors(self, what: str = ""):
        """Turn redis-py exceptions raised in the block into RedisError with a clear message."""
        try:
            yield
        except RedisError:
            raise
        except DeadlineExceeded as exc:
            doing = f" ({what})" if what else ""
            raise RedisError(f"Redis at {self.target}{doing}: {exc} (see connect_timeout / socket_timeout)") from exc
        except Exception as exc:
            if HAS_REDIS and isinstance(exc, redis_exc.RedisError):
                raise RedisError(explain_error(exc, self.target, what)) from exc
            raise

    def call(self, conn, *args, what: str = ""):
        """execute_command on ``conn`` (default: seed) with error mapping."""
        conn = conn or self.connect()
        with self.errors(what or " ".join(str(a) for a in args[:2])):
            return conn.execute_command(*args)

    def info(self, section: str | None = None, conn=None) -> dict:
        conn = conn or self.connect()
        with self.errors(f"INFO {section or ''}".strip()):
            return conn.info(section) if section else conn.info()

    # -- topology ---------------------------------------------------------
    @property
    def is_cluster(self) -> bool:
        info = self.info("cluster")
        return str(info.get("cluster_enabled", 0)) in ("1", "True", "true")

    def role(self, conn=None) -> str:
        """``master`` or ``slave`` (INFO replication)."""
        return str(self.info("replication", conn).get("role", "master"))

    def require_writable(self, conn=None, doing: str = "this") -> None:
        """Fail clearly on a replica (writes would be refused or lost)."""
        rep = self.info("replication", conn)
        if rep.get("role") == "slave":
            primary = f"{rep.get('master_host', '?')}:{rep.get('master_port', '?')}"
            where = self.target if conn is None else self.describe(conn)
            raise RedisError(
                f"the server at {where} is a read-only replica (of {primary}); {doing} must run against the primary"
            )

    @staticmethod
    def describe(conn) -> str:
        kw = conn.connection_pool.connection_kwargs
        if kw.get("path"):
            return f"unix:{kw['path']}"
        return f"{kw.get('host')}:{kw.get('port')}"

    def primaries(self) -> list[tuple[str, t.Any]]:
        """[(name, client)] for every node to act on: the server itself, or each cluster primary."""
        if self._nodes:
            return self._nodes
        conn = self.connect()
        if not self.is_cluster:
            self._nodes = [(self.target, conn)]
            return self._nodes
        if self.params["db"] != 0:
            raise RedisError(f"db={self.params['db']}: a Redis Cluster has only database 0")
        from redis.cluster import RedisCluster  # only needed for clusters

        if self.params.get("login_unix_socket"):
            # the cluster announces its nodes as host:port; start from this node's announced address
            myself = [line for line in self.call(conn, "CLUSTER", "NODES", what="CLUSTER NODES").decode().splitlines()
                      if "myself" in line]
            seed_host, _sep, rest = myself[0].split()[1].rpartition(":")
            seed_port = int(rest.split("@")[0])
        else:
            seed_host, seed_port = self.params["login_host"], self.params["login_port"]
        with self.errors("CLUSTER discovery"):
            nodes = self._discover(RedisCluster, seed_host, seed_port)
        self._nodes = [(f"{n.host}:{n.port}", self.node_client(n.host, n.port)) for n in nodes]
        self._nodes.sort(key=lambda item: item[0])
        return self._nodes

    def _discover(self, cluster_class, host: str, port: int) -> list:
        """The cluster's primaries, found by redis-py within ``connect_timeout`` in total.

        redis-py's discovery (CLUSTER SLOTS, COMMAND) opens connections of its own and
        retries: here they are bounded connections of one :class:`Scope`, cluster-level
        retries are off, and the whole of it runs under one alarm that shuts every one
        of them down when ``connect_timeout`` has passed.
        """
        kw = self.common_kwargs()
        scope = Scope()
        cls = self._connection_class(kw, scope=scope)
        seconds = float(self.params["connect_timeout"])
        # only a cluster client made from a URL builds its node pools with our connection class;
        # TLS comes with that class (the URL's scheme stays redis://)
        url = f"redis://{f'[{host}]' if ':' in host else host}:{port}/0"
        with self._watchdog.armed(seconds, scope.abort):
            self._cluster = cluster_class(url=url, connection_class=cls, retry=Retry(NoBackoff(), 0), **kw)
            return self._cluster.get_primaries()

    # -- CONFIG -----------------------------------------------------------
    def config_get(self, name: str, conn=None) -> str | None:
        conn = conn or self.connect()
        with self.errors(f"CONFIG GET {name}"):
            value = conn.config_get(name)
        return value.get(name)

    def config_set(self, name: str, value: str, conn=None) -> None:
        conn = conn or self.connect()
        with self.errors(f"CONFIG SET {name}"):
            conn.config_set(name, value)

    def close(self) -> None:
        for conn in [self._conn, self._cluster] + [c for _n, c in self._nodes]:
            if conn is None:
                continue
            try:
                conn.close()
                pool = getattr(conn, "connection_pool", None)
                if pool is not None:  # a pool given to redis.Redis is not closed with it: no socket may outlive
                    pool.disconnect()
            except Exception:  # closing is best effort at the end of a run
                pass
        self._conn = None
        self._cluster = None
        self._nodes = []
        self._watchdog.close()


def run_with_client(module, body: t.Callable[["RedisClient"], dict]) -> None:
    """Run ``body(client)`` and exit the module: its dict via exit_json, a RedisError via fail_json."""
    run_and_exit(module, RedisClient(module), RedisError, body)


# -- settings (redis_maintenance) -------------------------------------------

MEMORY_SETTINGS = {"maxmemory", "proto-max-bulk-len", "client-query-buffer-limit", "active-defrag-ignore-bytes"}
BOOL_SETTINGS = {
    "activedefrag", "appendonly", "dynamic-hz", "lazyfree-lazy-eviction", "lazyfree-lazy-expire",
    "lazyfree-lazy-server-del", "lazyfree-lazy-user-del", "lazyfree-lazy-user-flush", "replica-lazy-flush",
}
INT_SETTINGS = {
    "maxmemory-samples", "maxmemory-eviction-tenacity", "timeout", "tcp-keepalive", "hz", "maxclients",
    "slowlog-log-slower-than", "slowlog-max-len", "latency-monitor-threshold", "busy-reply-threshold",
    "active-defrag-threshold-lower", "active-defrag-threshold-upper", "active-defrag-cycle-min",
    "active-defrag-cycle-max",
}
ENUM_SETTINGS = {
    "maxmemory-policy": ["noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru",
                         "volatile-lfu", "volatile-random", "volatile-ttl"],
    "appendfsync": ["always", "everysec", "no"],
    "loglevel": ["debug", "verbose", "notice", "warning", "nothing"],
}
OTHER_SETTINGS = {"save", "notify-keyspace-events"}
ALLOWED_SETTINGS = sorted(MEMORY_SETTINGS | BOOL_SETTINGS | INT_SETTINGS | set(ENUM_SETTINGS) | OTHER_SETTINGS)

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000 ** 2, "mb": 1024 ** 2, "g": 1000 ** 3, "gb": 1024 ** 3}


def parse_memory(value: t.Any) -> int:
    """Bytes of a Redis memory value, with Redis' units: 1k=1000, 1kb=1024, 1m=10^6, 1mb=2^20, 1g, 1gb."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a memory size")
    if isinstance(value, int):
        number, unit = value, ""
    else:
        text = str(value).strip().lower().replace(" ", "")
        digits = text.rstrip("kmgb")
        unit = text[len(digits):]
        if not digits.isdigit() or unit not in _UNITS:
            raise ValueError(f"{value!r} is not a memory size (examples: 1073741824, 100mb, 2gb)")
        number = int(digits)
    if number < 0:
        raise ValueError(f"{value!r} is negative")
    return number * _UNITS[unit]


def normalise_setting(name: str, value: t.Any) -> str:
    """The value as CONFIG GET reports it, so desired and current compare equal when equivalent."""
    if name not in ALLOWED_SETTINGS:
        raise ValueError(f"{name!r} is not an allowed setting (allowed: {', '.join(ALLOWED_SETTINGS)})")
    if name in MEMORY_SETTINGS:
        return str(parse_memory(value))
    if name in BOOL_SETTINGS:
        text = str(value).strip().lower()
        if text in ("yes", "true", "on", "1"):
            return "yes"
        if text in ("no", "false", "off", "0"):
            return "no"
        raise ValueError(f"{name}: {value!r} is not a boolean (yes/no)")
    if name in INT_SETTINGS:
        text = str(value).strip()
        if isinstance(value, bool) or not text.lstrip("-").isdigit():
            raise ValueError(f"{name}: {value!r} is not an integer")
        return str(int(text))
    if name in ENUM_SETTINGS:
        text = str(value).strip().lower()
        if text not in ENUM_SETTINGS[name]:
            raise ValueError(f"{name}: {value!r} is not one of {', '.join(ENUM_SETTINGS[name])}")
        return text
    if name == "notify-keyspace-events":
        flags = set(str(value).strip())
        # Redis reports the flags in its own canonical form; compare as a set with A expanded
        if "A" in flags:
            flags |= set("g$lshzxetd")
            flags.discard("A")
        return "".join(sorted(flags))
    if name == "save":
        parts = str(value).split()
        if len(parts) % 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"save: {value!r} must be pairs of '<seconds> <changes>' or '' to disable")
        return " ".join(str(int(p)) for p in parts)
    return str(value)


def plan_settings(desired: dict, current: dict) -> dict[str, tuple[str, str]]:
    """{name: (old, new)} for the settings that differ (both sides normalised)."""
    changes = {}
    for name, value in desired.items():
        new = normalise_setting(name, value)
        old_raw = current.get(name)
        try:
            old = normalise_setting(name, old_raw) if old_raw is not None else None
        except ValueError:
            old = old_raw
        if old != new:
            changes[name] = (old_raw, new)
    return changes


MEMORY_FIELDS = ("used_memory", "used_memory_human", "used_memory_rss", "used_memory_peak", "used_memory_peak_human",
                 "mem_fragmentation_ratio", "maxmemory", "maxmemory_human", "maxmemory_policy")
PERSISTENCE_FIELDS = ("loading", "rdb_changes_since_last_save", "rdb_bgsave_in_progress", "rdb_last_save_time",
                      "rdb_last_bgsave_status", "rdb_last_bgsave_time_sec", "aof_enabled", "aof_rewrite_in_progress",
                      "aof_last_bgrewrite_status", "aof_last_write_status")


CLIENT_FIELDS = ("connected_clients", "blocked_clients", "maxclients", "tracking_clients", "clients_in_timeout_table")
REPLICATION_FIELDS = ("role", "connected_slaves", "master_host", "master_port", "master_link_status")


def key_name(key: bytes) -> str:
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return key.decode("utf-8", "backslashreplace")


def sample_biggest_keys(client: RedisClient, conn, sample: int, top: int) -> tuple[list[dict], int]:
    """MEMORY USAGE (pipelined) over up to ``sample`` keys from SCAN; the ``top`` biggest."""
    keys: list[bytes] = []
    cursor = 0
    with client.errors("SCAN / MEMORY USAGE"):
        while len(keys) < sample:
            cursor, batch = conn.scan(cursor, count=min(1000, sample))
            keys.extend(batch[:sample - len(keys)])
            if cursor == 0:
                break
        pipe = conn.pipeline(transaction=False)
        for k in keys:
            pipe.execute_command("MEMORY", "USAGE", k)
            pipe.execute_command("TYPE", k)
        replies = pipe.execute(raise_on_error=True)
    rows = []
    for i, k in enumerate(keys):
        size, kind = replies[2 * i], replies[2 * i + 1]
        if size is None:
            continue  # expired or deleted meanwhile
        kind = kind.decode() if isinstance(kind, bytes) else str(kind)
        rows.append({"key": key_name(k), "type": kind, "bytes": int(size)})
    rows.sort(key=lambda r: r["bytes"], reverse=True)
    return rows[:top], len(keys)


def build_report(client: RedisClient, params: dict) -> dict:
    conn = client.connect()
    info = client.info(conn=conn)
    report = {
        "memory": {k: info.get(k) for k in MEMORY_FIELDS if k in info},
        "clients": {k: info.get(k) for k in CLIENT_FIELDS if k in info},
        "keyspace": {str(db): v for db, v in parse_info_keyspace(info).items()},
        "persistence": {k: info.get(k) for k in PERSISTENCE_FIELDS if k in info},
        "replication": {k: info.get(k) for k in REPLICATION_FIELDS if k in info},
        "server": {k: info.get(k) for k in ("redis_version", "redis_mode", "uptime_in_seconds", "config_file")
                   if k in info},
    }
    if params["sample_keys"] > 0:
        report["biggest_keys"], report["sampled_keys"] = sample_biggest_keys(
            client, conn, params["sample_keys"], params["biggest_keys"])
    else:
        report["biggest_keys"], report["sampled_keys"] = [], 0
    return report


def undo_config(client: RedisClient, applied: list, rewritten: list = ()) -> str:
    """Set back (newest first) the settings a failed run already changed, and rewrite the config
    files it already rewrote; what happened, in words."""
    failed = []
    for node, conn, name, old in reversed(applied):
        try:
            client.config_set(name, old, conn)
        except RedisError as exc:
            failed.append(f"{name} on {node} ({exc})")
    for node, conn in rewritten:
        try:
            with client.errors(f"CONFIG REWRITE on {node}"):
                conn.config_rewrite()
        except RedisError as exc:
            failed.append(f"the config file of {node} ({exc})")
    if not applied:
        return "no setting had been changed"
    if failed:
        return "could NOT restore " + ", ".join(failed) + " (set them back by hand)"
    return "the settings already changed were restored: " + ", ".join(f"{n}={o}" for _nd, _c, n, o in applied)


def run_maintenance(client: RedisClient, params: dict, check_mode: bool, diff: bool) -> dict:
    """The body of redis_maintenance."""
    desired = dict(params["settings"] or {})
    if params["maxmemory"] is not None:
        desired["maxmemory"] = params["maxmemory"]
    if params["maxmemory_policy"] is not None:
        desired["maxmemory-policy"] = params["maxmemory_policy"]
    for name, value in desired.items():
        try:
            normalise_setting(name, value)
        except ValueError as exc:
            option = {"maxmemory": "maxmemory", "maxmemory-policy": "maxmemory_policy"}.get(name, f"settings.{name}")
            raise RedisError(f"{option}: {exc}")
    result: dict[str, t.Any] = {"changed": False, "changes": {}, "persisted": False}
    if desired:
        nodes = client.primaries()
        all_changes: dict[str, tuple] = {}
        plans = []
        for node, conn in nodes:
            current = {}
            for name in desired:
                current[name] = client.config_get(name, conn)
                if current[name] is None:
                    raise RedisError(f"settings.{name}: the server at {node} does not know this setting")
            plan = plan_settings(desired, current)
            plans.append((node, conn, plan))
            for name, change in plan.items():
                all_changes.setdefault(name, change)
        if all_changes:
            result["changed"] = True
            result["changes"] = {n: {"old": o, "new": v} for n, (o, v) in all_changes.items()}
        if all_changes and not check_mode:
            applied: list[tuple[str, t.Any, str, str]] = []  # (node, conn, name, old): undone on failure
            rewritten: list[tuple[str, t.Any]] = []  # nodes whose config file has the new values
            try:
                for node, conn, plan in plans:
                    for name, (old, new) in plan.items():
                        client.config_set(name, new, conn)
                        applied.append((node, conn, name, old))
                    if plan and params["persist"]:
                        try:
                            with client.errors(f"CONFIG REWRITE on {node}"):
                                conn.config_rewrite()
                            rewritten.append((node, conn))
                        except RedisError as exc:
                            if "without a config file" in str(exc).lower():
                                raise RedisError(
                                    f"persist: the server at {node} runs without a config file, CONFIG REWRITE "
                                    f"cannot save the settings: {exc}")
                            raise
                        result["persisted"] = True
            except RedisError as exc:
                raise RedisError(f"{exc}; {undo_config(client, applied, rewritten)}") from exc
        if diff:
            result["diff"] = {
                "before": "".join(f"{n}: {o}\n" for n, (o, _v) in sorted(all_changes.items())),
                "after": "".join(f"{n}: {v}\n" for n, (_o, v) in sorted(all_changes.items())),
            }
    if params["report"]:
        result.update(build_report(client, params))
    return result
