# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The purge engine behind runbook.ops.redis_purge.

SCAN (small COUNT, optional server-side TYPE filter) runs in a thread and
feeds a bounded queue; the caller's thread filters each batch (PTTL and
OBJECT IDLETIME, pipelined) and removes it with one UNLINK per batch (DEL
when the server does not know UNLINK), so scanning and deleting overlap and
no single command holds the server for long. Pattern analysis (which globs
match every key) follows Redis' own ``stringmatchlen``.

Both loops talk to the server on their own pooled connection with
send/read calls and hand-packed UNLINK commands: redis-py's per-command
bookkeeping and argument packing cost about as much client time per batch
as the server spends deleting it, and the purge is only as fast as the
slower of the two (bench/redis_purge_bench.py).
"""

from __future__ import annotations

import queue
import threading
import time
import typing as t
from dataclasses import dataclass, field

from ansible_collections.runbook.ops.plugins.module_utils._redis import RedisError, redis_exc

# -- glob patterns, as Redis reads them (util.c stringmatchlen) ------------

STAR, ANY, CLASS, LIT = "star", "any", "class", "lit"


def parse_glob(pattern: bytes) -> list[tuple]:
    """Tokens of a Redis glob: (STAR,), (ANY,), (CLASS, frozenset_of_bytes), (LIT, byte)."""
    tokens: list[tuple] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == 0x2A:  # '*'
            if not tokens or tokens[-1][0] != STAR:
                tokens.append((STAR,))
            i += 1
        elif c == 0x3F:  # '?'
            tokens.append((ANY,))
            i += 1
        elif c == 0x5B:  # '['
            i += 1
            negate = i < n and pattern[i] == 0x5E  # '^'
            if negate:
                i += 1
            members: set[int] = set()
            while True:
                if i < n and pattern[i] == 0x5C and n - i >= 2:  # backslash escape
                    members.add(pattern[i + 1])
                    i += 2
                    continue
                if i >= n:
                    break  # unterminated class: Redis treats the end as ']'
                if pattern[i] == 0x5D:  # ']'
                    i += 1
                    break
                if n - i >= 3 and pattern[i + 1] == 0x2D:  # range a-z
                    lo, hi = sorted((pattern[i], pattern[i + 2]))
                    members.update(range(lo, hi + 1))
                    i += 3
                    continue
                members.add(pattern[i])
                i += 1
            allowed = frozenset(set(range(256)) - members) if negate else frozenset(members)
            tokens.append((CLASS, allowed))
        elif c == 0x5C and n - i >= 2:  # '\x' is a literal x
            tokens.append((LIT, pattern[i + 1]))
            i += 2
        else:
            tokens.append((LIT, c))
            i += 1
    return tokens


def glob_match(pattern: bytes, key: bytes) -> bool:
    """Whether Redis would match ``key`` against ``pattern`` (used by tests and sanity checks)."""
    tokens = parse_glob(pattern)
    memo: dict[tuple[int, int], bool] = {}

    def m(ti: int, ki: int) -> bool:
        if (ti, ki) in memo:
            return memo[(ti, ki)]
        if ti == len(tokens):
            res = ki == len(key)
        else:
            tok = tokens[ti]
            if tok[0] == STAR:
                res = any(m(ti + 1, j) for j in range(ki, len(key) + 1))
            elif ki >= len(key):
                res = False
            elif tok[0] == ANY:
                res = m(ti + 1, ki + 1)
            elif tok[0] == CLASS:
                res = key[ki] in tok[1] and m(ti + 1, ki + 1)
            else:
                res = key[ki] == tok[1] and m(ti + 1, ki + 1)
        memo[(ti, ki)] = res
        return res

    return m(0, 0)


def matches_everything(pattern: str | bytes) -> bool:
    """True when the pattern selects keys by length only, i.e. every key long enough.

    ``*``, ``**``, ``?*``, ``*?*``, ``[^]*``, ``[\\x00-\\xff]*`` all qualify; ``cache:*``,
    ``?a*`` and ``[ab]*`` do not. A pattern without ``*`` matches keys of one
    length only and is not treated as match-all.
    """
    raw = pattern.encode("utf-8") if isinstance(pattern, str) else pattern
    tokens = parse_glob(raw)
    if not any(tok[0] == STAR for tok in tokens):
        return False
    for tok in tokens:
        if tok[0] == LIT:
            return False
        if tok[0] == CLASS and len(tok[1]) < 256:
            return False
    return True


def key_repr(key: bytes) -> tuple[str, bool]:
    """(printable name, is_utf8). Non-UTF-8 bytes come back as backslash escapes."""
    if key.isascii():
        text = key.decode("ascii")
        return text, True
    try:
        return key.decode("utf-8"), True
    except UnicodeDecodeError:
        return key.decode("utf-8", "backslashreplace"), False


# -- the engine -----------------------------------------------------------

@dataclass
class PurgeOptions:
    scan_count: int = 1000
    batch_size: int = 1000
    key_type: str | None = None
    no_ttl: bool = False
    ttl_above: int | None = None
    ttl_below: int | None = None
    min_idle: int | None = None
    max_keys: int | None = None
    rate_limit: float | None = None
    sample_size: int = 10
    check_mode: bool = False
    cluster: bool = False

    @property
    def needs_lookup(self) -> bool:
        return self.no_ttl or self.ttl_above is not None or self.ttl_below is not None or self.min_idle is not None


@dataclass
class PurgeStats:
    matched: int = 0
    deleted: int = 0
    scanned_batches: int = 0
    batches: int = 0
    non_utf8_keys: int = 0
    sample: list[str] = field(default_factory=list)
    method: str = "UNLINK"


def pack_command(cmd: bytes, keys: list[bytes]) -> bytes:
    """A RESP command ``cmd key...`` (keys are bytes, as SCAN returns them)."""
    parts = [b"*%d\r\n$%d\r\n%s\r\n" % (len(keys) + 1, len(cmd), cmd)]
    parts += [b"$%d\r\n%s\r\n" % (len(k), k) for k in keys]
    return b"".join(parts)


def pooled_connection(pool):
    """A connection of its own from a client's pool (redis-py < 5.3 wants a command name)."""
    try:
        return pool.get_connection()
    except TypeError:
        return pool.get_connection("SCAN")


class Stop(Exception):
    """max_keys reached."""


def ttl_accepts(pttl_ms: int | None, opts: PurgeOptions) -> bool:
    """Whether a key with this PTTL passes the TTL filters (-1: no TTL; -2/None: gone)."""
    if pttl_ms is None or pttl_ms == -2:
        return False
    if opts.no_ttl and pttl_ms != -1:
        return False
    if opts.ttl_above is not None and (pttl_ms == -1 or pttl_ms <= opts.ttl_above * 1000):
        return False
    if opts.ttl_below is not None and (pttl_ms == -1 or pttl_ms >= opts.ttl_below * 1000):
        return False
    return True


class Purger:
    """Purges one pattern set over a list of nodes, keeping totals across them."""

    QUEUE_DEPTH = 4

    def __init__(self, opts: PurgeOptions, command_error: type[Exception] = Exception) -> None:
        self.opts = opts
        self.command_error = command_error
        self.total = PurgeStats()
        self.seen: set[bytes] | None = set() if opts.check_mode else None
        self.started = time.monotonic()
        self._unlink_ok: dict[int, bool] = {}
        self._delete_conn = None

    # -- public -------------------------------------------------------------
    def run_pattern(self, conn, pattern: bytes) -> PurgeStats:
        """Purge ``pattern`` on one node; returns this pattern's stats on that node."""
        stats = PurgeStats()
        stop = threading.Event()
        q: queue.Queue = queue.Queue(maxsize=self.QUEUE_DEPTH)
        failure: list[BaseException] = []
        scan_args: list[t.Any] = ["MATCH", pattern, "COUNT", self.opts.scan_count]
        if self.opts.key_type:
            scan_args += ["TYPE", self.opts.key_type]
        pool = conn.connection_pool
        scan_conn = pooled_connection(pool)
        delete_conn = pooled_connection(pool)
        self._delete_conn = delete_conn
        clean = False

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def scanner() -> None:
            cursor: t.Any = 0
            try:
                while not stop.is_set():
                    scan_conn.send_command("SCAN", cursor, *scan_args)
                    cursor, keys = scan_conn.read_response()
                    stats.scanned_batches += 1
                    if keys and not put(keys):
                        return
                    if int(cursor) == 0:
                        break
            except BaseException as exc:  # handed to the caller's thread
                failure.append(exc)
            put(None)

        thread = threading.Thread(target=scanner, name="redis-purge-scan", daemon=True)
        thread.start()
        try:
            while True:
                keys = q.get()
                if keys is None:
                    break
                self._handle_batch(conn, keys, stats)
            clean = True
        except Stop:
            clean = True
        finally:
            stop.set()
            thread.join()  # the scanner always reads the reply it waits for before it returns
            self._delete_conn = None
            if failure:
                scan_conn.disconnect()
            if not clean:
                delete_conn.disconnect()  # replies may be unread: never hand such a connection back as is
            pool.release(scan_conn)
            pool.release(delete_conn)
        if failure:
            raise failure[0]
        return stats

    # -- one batch ----------------------------------------------------------
    def _select(self, conn, keys: list[bytes]) -> list[bytes]:
        opts = self.opts
        if self.seen is not None:
            keys = [k for k in keys if k not in self.seen]
        if not keys or not opts.needs_lookup:
            return keys
        pipe = conn.pipeline(transaction=False)
        want_ttl = opts.no_ttl or opts.ttl_above is not None or opts.ttl_below is not None
        for k in keys:
            if want_ttl:
                pipe.execute_command("PTTL", k)
            if opts.min_idle is not None:
                pipe.execute_command("OBJECT", "IDLETIME", k)
        replies = pipe.execute(raise_on_error=True)
        out = []
        step = int(want_ttl) + int(opts.min_idle is not None)
        for i, k in enumerate(keys):
            r = replies[i * step:(i + 1) * step]
            j = 0
            if want_ttl:
                if not ttl_accepts(r[0], opts):
                    continue
                j = 1
            if opts.min_idle is not None:
                if r[j] is None or int(r[j]) < opts.min_idle:
                    continue
            out.append(k)
        return out

    def _delete(self, conn, keys: list[bytes]) -> int:
        node = id(conn)
        cmd = b"UNLINK" if self._unlink_ok.get(node, True) else b"DEL"
        try:
            return self._send_delete(cmd, keys)
        except self.command_error as exc:
            if cmd == b"UNLINK" and "unknown command" in str(exc).lower():
                self._unlink_ok[node] = False
                self.total.method = "DEL"
                return self._send_delete(b"DEL", keys)
            raise

    def _groups(self, keys: list[bytes]) -> list[list[bytes]]:
        """The batch split into commands of at most batch_size keys (within one hash slot on a cluster)."""
        size = self.opts.batch_size
        if not self.opts.cluster:
            return [keys[i:i + size] for i in range(0, len(keys), size)]
        from redis.crc import key_slot

        by_slot: dict[int, list[bytes]] = {}
        for k in keys:
            by_slot.setdefault(key_slot(k), []).append(k)
        return [group[i:i + size] for group in by_slot.values() for i in range(0, len(group), size)]

    def _send_delete(self, cmd: bytes, keys: list[bytes]) -> int:
        """One pipelined round trip: every command is sent, every reply read, then the first error raised."""
        commands = [pack_command(cmd, group) for group in self._groups(keys)]
        conn = self._delete_conn
        conn.send_packed_command(commands)
        deleted, error = 0, None
        for _unused in commands:
            try:
                deleted += int(conn.read_response())
            except self.command_error as exc:
                error = error or exc
        if error is not None:
            raise error
        # a cluster batch counts once: it is one round trip however many slots it spans
        self.total.batches += 1 if self.opts.cluster else len(commands)
        return deleted

    def _handle_batch(self, conn, keys: list[bytes], stats: PurgeStats) -> None:
        opts = self.opts
        chosen = self._select(conn, keys)
        stop_after = False
        if opts.max_keys is not None:
            room = opts.max_keys - self.total.matched
            if room <= len(chosen):
                chosen = chosen[:max(room, 0)]
                stop_after = True
        if chosen:
            if self.seen is not None:
                self.seen.update(chosen)
            odd = sum(1 for k in chosen if not k.isascii() and not key_repr(k)[1])
            stats.non_utf8_keys += odd
            self.total.non_utf8_keys += odd
            room = opts.sample_size - len(self.total.sample)
            if room > 0:
                self.total.sample.extend(key_repr(k)[0] for k in chosen[:room])
            stats.matched += len(chosen)
            self.total.matched += len(chosen)
            if not opts.check_mode:
                n = self._delete(conn, chosen)
                stats.deleted += n
                self.total.deleted += n
                stats.batches += 1
            self._pace()
        if stop_after:
            raise Stop()

    def _pace(self) -> None:
        rate = self.opts.rate_limit
        if not rate:
            return
        due = self.total.matched / rate
        ahead = due - (time.monotonic() - self.started)
        if ahead > 0:
            time.sleep(ahead)


# -- what the module runs ----------------------------------------------------

def validate_patterns(patterns: list[str], allow_all: bool) -> list[str]:
    """Checked patterns; raises ValueError naming the problem."""
    if not patterns:
        raise ValueError("patterns: give at least one glob pattern (or action=flushdb)")
    for p in patterns:
        if p is None or p == "":
            raise ValueError("patterns: an empty pattern is refused")
        if matches_everything(p) and not allow_all:
            raise ValueError(
                f"patterns: {p!r} matches every key; set allow_all=true to purge everything that way, "
                "or use action=flushdb with confirm_flushdb=true"
            )
    return patterns


def used_memory(client, nodes) -> int:
    return sum(int(client.info("memory", conn).get("used_memory", 0)) for _name, conn in nodes)


def run_purge(client, params: dict, check_mode: bool) -> dict:
    """The body of redis_purge for action=purge (client: a _redis.RedisClient)."""
    try:
        patterns = validate_patterns(params["patterns"] or [], params["allow_all"])
    except ValueError as exc:
        raise RedisError(str(exc))
    started = time.monotonic()
    nodes = client.primaries()
    for name, conn in nodes:
        client.require_writable(conn, "redis_purge")
    opts = PurgeOptions(
        scan_count=params["scan_count"],
        batch_size=params["batch_size"],
        key_type=params["type"],
        no_ttl=params["no_ttl"],
        ttl_above=params["ttl_above"],
        ttl_below=params["ttl_below"],
        min_idle=params["min_idle"],
        max_keys=params["max_keys"],
        rate_limit=params["rate_limit"],
        sample_size=params["sample_size"],
        check_mode=check_mode,
        cluster=len(nodes) > 1 or client.is_cluster,
    )
    before = used_memory(client, nodes)
    purger = Purger(opts, command_error=redis_exc.ResponseError)
    per_pattern = []
    done = False
    for pattern in patterns:
        entry = {"pattern": pattern, "matched": 0, "deleted": 0}
        for name, conn in nodes:
            if done:
                break
            with client.errors(f"purge of {pattern!r} on {name}"):
                st = purger.run_pattern(conn, pattern.encode("utf-8"))
            entry["matched"] += st.matched
            entry["deleted"] += st.deleted
            if opts.max_keys is not None and purger.total.matched >= opts.max_keys:
                done = True
        per_pattern.append(entry)
    if params["memory_purge"] and not check_mode:
        for name, conn in nodes:
            try:
                conn.execute_command("MEMORY", "PURGE")
            except redis_exc.ResponseError as exc:  # not jemalloc, or renamed: report, not fail
                client.module.warn(f"MEMORY PURGE on {name} failed: {exc}")
    after = used_memory(client, nodes)
    total = purger.total
    changed = total.matched > 0 if check_mode else total.deleted > 0
    return dict(
        changed=changed,
        patterns=per_pattern,
        matched=total.matched,
        deleted=total.deleted,
        sample=total.sample,
        non_utf8_keys=total.non_utf8_keys,
        used_memory_before=before,
        used_memory_after=after,
        duration=round(time.monotonic() - started, 4),
        batches=total.batches,
        method=total.method,
        nodes=[name for name, _c in nodes],
        max_keys_reached=opts.max_keys is not None and total.matched >= opts.max_keys,
    )


def run_flushdb(client, params: dict, check_mode: bool) -> dict:
    """action=flushdb: FLUSHDB ASYNC on the server (every primary of a cluster), explicitly confirmed."""
    if not params["confirm_flushdb"]:
        raise RedisError("action=flushdb deletes every key of the database: set confirm_flushdb=true to confirm")
    if params["patterns"]:
        raise RedisError("patterns cannot be combined with action=flushdb (it removes every key)")
    started = time.monotonic()
    nodes = client.primaries()
    for _name, conn in nodes:
        client.require_writable(conn, "FLUSHDB")
    before = used_memory(client, nodes)
    keys = 0
    for name, conn in nodes:
        keys += int(client.call(conn, "DBSIZE", what=f"DBSIZE on {name}"))
    if not check_mode and keys:
        for name, conn in nodes:
            client.call(conn, "FLUSHDB", "ASYNC", what=f"FLUSHDB on {name}")
    return dict(
        changed=keys > 0,
        matched=keys,
        deleted=0 if check_mode else keys,
        used_memory_before=before,
        used_memory_after=used_memory(client, nodes),
        duration=round(time.monotonic() - started, 4),
        nodes=[name for name, _c in nodes],
    )
