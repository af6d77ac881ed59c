# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""RDB backups and restores for redis_backup / redis_restore.

Files, checksums, manifests and retention go through ``_backup`` (the one
implementation shared with pg_backup); the container copy through
``_runtime``. This file only knows Redis: BGSAVE and waiting for it to be
really done, where the RDB lives, checking an RDB, and the restore sequence
(stop, put the file in place with the right owner, start, compare key counts).
"""

from __future__ import annotations

import os
import shutil
import signal
import time
import typing as t

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
from ansible_collections.runbook.ops.plugins.module_utils._backup_options import backup_options_spec
from ansible_collections.runbook.ops.plugins.module_utils._redis import (
    RedisError, parse_info_keyspace, redis_exc)
from ansible_collections.runbook.ops.plugins.module_utils._runtime import Runtime, RuntimeFailure, run_bounded

RDB_SUFFIX = ".rdb"


def redis_backup_options_spec() -> dict:
    """redis_backup's options: the shared backup options, then its own."""
    return backup_options_spec(
        name=dict(type="str"),
        rdb_path=dict(type="path"),
        timeout=dict(type="float", default=600.0),
        poll_interval=dict(type="float", default=0.1),
        verify=dict(type="str", default="auto", choices=["auto", "redis-check-rdb", "none"]),
        redis_check_rdb=dict(type="path"),
    )


def series_name(client, params: dict) -> str:
    if params.get("name"):
        return params["name"]
    if params.get("login_unix_socket"):
        return "redis-" + B.safe_name(os.path.basename(params["login_unix_socket"]))
    return f"redis-{params['login_port']}"


def rdb_source(client, params: dict) -> str:
    """Where the server writes its RDB: ``rdb_path`` or CONFIG GET dir + dbfilename."""
    if params.get("rdb_path"):
        return params["rdb_path"]
    try:
        directory = client.config_get("dir")
        filename = client.config_get("dbfilename")
    except RedisError as exc:
        if "config is disabled" in str(exc).lower():
            raise RedisError(f"{exc}. Set rdb_path to the server's RDB file (dir + dbfilename of its configuration)")
        raise
    return os.path.join(directory, filename)


def check_rdb_header(path: str) -> list[str]:
    """Cheap structural check when redis-check-rdb is not installed: magic, version, EOF opcode."""
    problems = []
    with open(path, "rb") as fh:
        head = fh.read(9)
        if not head.startswith(b"REDIS") or not head[5:9].isdigit():
            problems.append("does not start with the RDB magic 'REDIS<version>'")
        version = int(head[5:9]) if head[5:9].isdigit() else 0
        size = os.path.getsize(path)
        trailer = 9 if version >= 5 else 1
        if size < 9 + trailer:
            problems.append("too short to be an RDB file")
        else:
            fh.seek(size - trailer)
            if fh.read(1) != b"\xff":
                problems.append("has no EOF marker (truncated?)")
    return problems


def lastsave(client, conn) -> int:
    """LASTSAVE as a Unix timestamp (redis-py may return a datetime)."""
    value = client.call(conn, "LASTSAVE", what="LASTSAVE")
    return int(value.timestamp()) if hasattr(value, "timestamp") else int(value)


class SaveWaiter:
    """BGSAVE and wait for it: LASTSAVE (or rdb_saves) advanced, no save in progress, status ok."""

    def __init__(self, client, timeout: float, interval: float) -> None:
        self.client = client
        self.conn = client.connect()
        self.timeout = timeout
        self.interval = interval
        self.notes: list[str] = []

    def _persistence(self) -> dict:
        return self.client.info("persistence", self.conn)

    def bgsave(self, before_save: t.Callable[[], None] | None = None) -> dict:
        """Start our own BGSAVE; returns INFO keyspace taken atomically with it (MULTI/EXEC).

        ``before_save`` runs right before each attempt (after any save of someone else finished).
        """
        deadline = time.monotonic() + self.timeout
        while True:
            if before_save is not None:
                before_save()
            before = self._persistence()
            last = lastsave(self.client, self.conn)
            pipe = self.conn.pipeline(transaction=True)
            pipe.info("keyspace")
            pipe.execute_command("BGSAVE")
            with self.client.errors("MULTI INFO keyspace BGSAVE EXEC"):
                keyspace, reply = pipe.execute(raise_on_error=False)
            if not isinstance(reply, Exception):
                return {"keyspace": keyspace, "lastsave": last, "saves": int(before.get("rdb_saves", -1)),
                        "started": time.time()}
            text = str(reply).lower()
            if "in progress" in text or "another child process" in text or "already" in text:
                # someone else's save (or an AOF rewrite) is running: wait for it, then start ours
                self.notes.append(f"waited for a background job already running: {reply}")
                self._wait(lambda p: int(p.get("rdb_bgsave_in_progress", 0)) == 0
                           and int(p.get("aof_rewrite_in_progress", 0)) == 0, deadline, "the running background save")
                continue
            raise RedisError(f"BGSAVE refused by the server at {self.client.target}: {reply}")

    def _wait(self, done: t.Callable[[dict], bool], deadline: float, what: str) -> dict:
        while True:
            p = self._persistence()
            if done(p):
                return p
            if time.monotonic() > deadline:
                raise RedisError(f"timeout ({self.timeout:g}s) waiting for {what} on {self.client.target} "
                                 f"(rdb_bgsave_in_progress={p.get('rdb_bgsave_in_progress')}, "
                                 f"rdb_current_bgsave_time_sec={p.get('rdb_current_bgsave_time_sec')})")
            time.sleep(self.interval)

    def wait_saved(self, started: dict) -> dict:
        deadline = time.monotonic() + self.timeout

        def done(p: dict) -> bool:
            if int(p.get("rdb_bgsave_in_progress", 0)) != 0:
                return False
            advanced = lastsave(self.client, self.conn) > started["lastsave"] or (
                started["saves"] >= 0 and int(p.get("rdb_saves", -1)) > started["saves"])
            if not advanced:
                return False
            if p.get("rdb_last_bgsave_status") != "ok":
                raise RedisError(f"BGSAVE failed on {self.client.target} (rdb_last_bgsave_status="
                                 f"{p.get('rdb_last_bgsave_status')}); see the server log (disk full? permissions?)")
            return True

        return self._wait(done, deadline, "BGSAVE to finish")


class ServerRdbGuard:
    """Leaves the server's RDB file (``dir``/``dbfilename``) as it was when persistence is off.

    A server with ``save ""`` and ``appendonly no`` has no RDB it means to load: the
    file BGSAVE writes would be loaded at its next start and bring back keys deleted
    since. So, with persistence off, :meth:`snapshot` (run right before our BGSAVE)
    notes whether the file existed and keeps it under another name (a hard link, or a
    copy with the same owner and mode), and :meth:`restore` (run after the copy, also when the module fails) puts
    that copy back or removes the file our BGSAVE created. With persistence on, the
    server writes that file itself anyway and it is left alone.
    """

    def __init__(self, client, runtime, src: str) -> None:
        self.client = client
        self.runtime = runtime
        self.src = src
        self.aside = os.path.join(os.path.dirname(src), f".runbook-keep-{os.getpid()}-{os.path.basename(src)}")
        self.persistence = self._persistence()
        self.existed: bool | None = None
        self.error: str | None = None
        self.action = "left in place (the server's persistence is on: it writes this file itself)"
        if self.persistence == "unknown":
            self.action = "left in place (CONFIG is disabled: cannot tell whether persistence is off)"

    def _persistence(self) -> str:
        try:
            save = self.client.config_get("save")
            aof = self.client.config_get("appendonly")
        except RedisError:
            return "unknown"
        if save is None or aof is None:
            return "unknown"
        return "off" if not str(save).strip() and str(aof).strip() == "no" else "on"

    @property
    def active(self) -> bool:
        return self.persistence == "off"

    def _run(self, argv: list[str]) -> int:
        rc, _out, _err = self.runtime.run(argv)
        return rc

    def snapshot(self) -> None:
        if not self.active:
            return
        # a second attempt, after waiting for someone else's save: that save's file is the state to keep
        self._discard()
        if self.runtime.in_container:
            self.existed = self._run(["test", "-e", self.src]) == 0
            if self.existed and self._run(["ln", "-f", self.src, self.aside]) != 0 \
                    and self._run(["cp", "-p", self.src, self.aside]) != 0:
                raise RedisError(f"cannot keep a copy of the server's {self.src} in {self.runtime.describe()} "
                                 "before BGSAVE (persistence is off: it must be put back afterwards)")
            return
        self.existed = os.path.lexists(self.src)
        if self.existed:
            try:
                # a hard link is enough (Redis replaces the file by renaming a new one over it) and costs
                # nothing for a large RDB; a copy with the same owner and mode where links are refused
                try:
                    os.link(self.src, self.aside)
                except OSError:
                    shutil.copy2(self.src, self.aside)
                    st = os.stat(self.src)
                    os.chown(self.aside, st.st_uid, st.st_gid)
            except OSError as exc:
                B.discard_partial(self.aside)
                raise RedisError(f"cannot keep a copy of the server's {self.src} before BGSAVE (persistence is "
                                 f"off: it must be put back afterwards): {exc}") from exc

    def _discard(self) -> None:
        """Forget an earlier snapshot (its copy is removed)."""
        if self.existed:
            if self.runtime.in_container:
                self._run(["rm", "-f", "--", self.aside])
            else:
                B.discard_partial(self.aside)
        self.existed = None

    def restore(self) -> None:
        """Put the server's file back as it was (never raises; the outcome is in :attr:`action`)."""
        if not self.active or self.existed is None:
            return
        existed, self.existed = self.existed, None
        try:
            if self.runtime.in_container:
                ok = self._run(["mv", "-f", self.aside, self.src] if existed else ["rm", "-f", "--", self.src]) == 0
                if not ok:
                    raise OSError("the command failed")
            elif existed:
                os.replace(self.aside, self.src)
            elif os.path.lexists(self.src):
                os.unlink(self.src)
            self.action = ("put back as it was (persistence is off)" if existed
                           else "removed (persistence is off: the server would load it at its next start)")
        except OSError as exc:
            self.action = f"could not be put back: {exc}"
            self.error = f"the server's {self.src} could not be put back as it was: {exc}"

    def abort_save(self) -> None:
        """Our BGSAVE still runs after the module gave up (timeout, error): stop its child with SIGUSR1
        (the signal Redis itself uses to cancel a save; the server then deletes its temporary file), so
        it cannot write the server's RDB after :meth:`restore`. Only for a server on this host (its
        process' working directory is its ``dir``) with persistence off; best effort, never raises."""
        if not self.active or self.runtime.in_container:
            return
        try:
            pid = int(self.client.info("server").get("process_id"))
            directory = self.client.config_get("dir")
            if os.path.realpath(os.readlink(f"/proc/{pid}/cwd")) != os.path.realpath(directory):
                return
            for child in _children(pid):
                with open(f"/proc/{child}/cmdline", "rb") as fh:
                    if b"redis-rdb-bgsave" in fh.read():
                        os.kill(child, signal.SIGUSR1)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if int(self.client.info("persistence").get("rdb_bgsave_in_progress", 0)) == 0:
                    self.action = "save cancelled; " + self.action
                    return
                time.sleep(0.05)
        except (RedisError, OSError, TypeError, ValueError):
            return

    def as_dict(self) -> dict:
        return {"path": self.src, "persistence": self.persistence, "action": self.action}


def _children(pid: int) -> list[int]:
    """Child processes of ``pid`` (from /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 1 and fields[1] == str(pid):
            out.append(int(entry))
    return out


def verify_rdb(module, path: str, mode: str, tool: str | None) -> tuple[str, bool | None, dict]:
    """(method, ok, details). redis-check-rdb when available (mode auto) or required."""
    if mode == "none":
        return "none", None, {}
    binary = tool or module.get_bin_path("redis-check-rdb")
    if binary:
        rc, out, err = module.run_command([binary, path])
        text = (out + err).strip().splitlines()
        return "redis-check-rdb", rc == 0, {"rc": rc, "output": text[-3:]}
    if mode == "redis-check-rdb":
        raise RedisError("verify=redis-check-rdb: redis-check-rdb not found on the managed host "
                         "(install redis-tools or set redis_check_rdb)")
    problems = check_rdb_header(path)
    return "rdb-structure", not problems, {"problems": problems}


def run_backup(client, module, params: dict, check_mode: bool) -> dict:
    """The body of redis_backup."""
    dest = params["backup_dir"]
    name = series_name(client, params)
    src = rdb_source(client, params)
    result: dict[str, t.Any] = {"changed": True, "name": name, "source": src, "backup": None, "retention": {},
                                "deleted": [], "leftovers_removed": [], "notes": []}
    try:
        runtime = Runtime(module, params.get("container"), params.get("engine") or "podman")
    except RuntimeFailure as exc:
        raise RedisError(str(exc))
    if not runtime.in_container and not os.path.isdir(os.path.dirname(src) or "."):
        raise RedisError(f"{'rdb_path' if params.get('rdb_path') else 'the RDB location'}: directory of {src} "
                         "does not exist on the managed host (is the server remote, or in a container?)")
    try:
        B.ensure_dir(dest, params["owner"], params["group"], check_mode)
    except (B.BackupError, OSError) as exc:
        raise RedisError(f"backup_dir: {exc}")
    prefix = B.safe_name(name) + "-"
    for lo in B.find_leftovers(dest, prefix):
        if not check_mode:
            B.remove_leftover(lo)
        result["leftovers_removed"].append(lo.as_dict())

    started_at = B.utcnow()
    final = os.path.join(dest, B.backup_basename(name, started_at, RDB_SUFFIX))
    if check_mode:
        result["would_create"] = final
        records = B.read_manifests(dest, "redis", name)
        records.append(B.BackupRecord(id=os.path.basename(final), name=name, kind="redis", finished_at=started_at,
                                      verified=params["verify"] != "none", complete=True, path=final,
                                      manifest_path=B.manifest_path_for(final)))
        _retention(module, result, records, params, check_mode, final)
        return result

    waiter = SaveWaiter(client, params["timeout"], params["poll_interval"])
    guard = ServerRdbGuard(client, runtime, src)
    result["server_rdb"] = guard.as_dict()
    try:
        t0 = time.monotonic()
        started = waiter.bgsave(guard.snapshot)
        try:
            persistence = waiter.wait_saved(started)
        except BaseException:
            guard.abort_save()
            raise
        save_seconds = round(time.monotonic() - t0, 3)
        result["notes"] = waiter.notes
        keyspace = {str(db): v for db, v in parse_info_keyspace(started["keyspace"]).items()}

        try:
            partial = B.new_partial(final)
            try:
                if runtime.in_container:
                    runtime.copy_out(src, partial)
                else:
                    with open(src, "rb") as fin, open(partial, "wb") as fout:
                        shutil.copyfileobj(fin, fout, 1024 * 1024)
                method, ok, details = verify_rdb(module, partial, params["verify"], params.get("redis_check_rdb"))
                B.commit_partial(partial, final, params["owner"], params["group"])
            except BaseException:
                B.discard_partial(partial)
                raise
        except (OSError, B.BackupError, RuntimeFailure) as exc:
            raise RedisError(f"copying {src} to {dest} failed: {exc}")
    finally:
        guard.restore()
        result["server_rdb"] = guard.as_dict()
    if guard.error:
        raise RedisError(guard.error + f" (the backup {final} itself was made)")
    finished_at = B.utcnow()
    info = client.info("server")
    manifest = B.new_manifest("redis", name, final, started_at, finished_at, B.file_entries(final, dest), {
        "keyspace": keyspace,
        "total_keys": sum(v.get("keys", 0) for v in keyspace.values()),
        "source": src,
        "server": client.target,
        "container": params.get("container"),
        "redis_version": info.get("redis_version"),
        "lastsave": lastsave(client, None),
        "bgsave_seconds": save_seconds,
        "rdb_last_bgsave_time_sec": persistence.get("rdb_last_bgsave_time_sec"),
    })
    B.set_verification(manifest, method, ok, details)
    B.write_manifest(B.manifest_path_for(final), manifest, params["owner"], params["group"])
    result["backup"] = {"path": final, "manifest": B.manifest_path_for(final), "sha256": manifest["files"][0]["sha256"],
                        "size": manifest["size"], "verified": manifest["verified"], "verification": manifest["verification"],
                        "keyspace": keyspace, "total_keys": manifest["redis"]["total_keys"],
                        "bgsave_seconds": save_seconds}
    _retention(module, result, B.read_manifests(dest, "redis", name), params, check_mode, final)
    if ok is False:
        raise RedisError(f"the copied RDB {final} failed verification ({method}): {details}; it is kept, marked failed "
                         "in its manifest, and never counts toward retention")
    return result


def _retention(module, result: dict, records: list, params: dict, check_mode: bool, current: str) -> None:
    result["retention"] = report = {}
    try:
        B.apply_retention(records, params["keep_last"], params["max_age_days"],
                          prune_unverified=params["prune_unverified"], current=[current], check_mode=check_mode,
                          warn=module.warn, report=report, deleted=result["deleted"])
    except ValueError as exc:
        raise RedisError(str(exc))


# -- restore -------------------------------------------------------------------

def restore_options_spec() -> dict:
    return dict(
        src=dict(type="path"),
        backup_dir=dict(type="path"),
        name=dict(type="str"),
        rdb_path=dict(type="path"),
        service=dict(type="str"),
        stop_command=dict(type="list", elements="str"),
        start_command=dict(type="list", elements="str"),
        owner=dict(type="str"),
        group=dict(type="str"),
        keep_previous=dict(type="bool", default=True),
        wait_timeout=dict(type="float", default=120.0),
        check_keys=dict(type="bool", default=True),
    )


def pick_backup(params: dict, client, module) -> tuple[str, dict]:
    """(rdb path, manifest) of ``src`` or of the newest verified backup of ``name`` in ``backup_dir``."""
    if params.get("src"):
        mpath = B.manifest_path_for(params["src"])
        if not os.path.exists(params["src"]):
            raise RedisError(f"src: {params['src']} does not exist")
        try:
            manifest = B.load_manifest(mpath)
        except B.BackupError as exc:
            raise RedisError(f"src: {exc} (a backup made by redis_backup has its manifest next to it)")
        return params["src"], manifest
    name = params.get("name") or series_name(client, params)
    records = B.read_manifests(params["backup_dir"], "redis", name)
    rec, warnings = B.pick_latest(records)
    for warning in warnings:
        module.warn(warning)
    if rec is None:
        raise RedisError(f"backup_dir: no trustworthy (complete, verified, not future-dated) redis backup named "
                         f"{name!r} in {params['backup_dir']} ({len(records)} backup(s) of that name found"
                         + (f", {len(warnings)} verified one(s) dated in the future: give its path as src" if warnings
                            else "") + ")")
    return rec.path, rec.manifest


def resolve_ids(owner: str | None, group: str | None, uid: int, gid: int) -> tuple[int, int]:
    """The backup layer's owner/group lookup, with its error in Redis terms."""
    try:
        return B.resolve_ids(owner, group, uid, gid)
    except B.BackupError as exc:
        raise RedisError(f"owner/group: {exc}") from exc


def _owner_of(path: str) -> tuple[int, int, int]:
    st = os.stat(path)
    return st.st_uid, st.st_gid, st.st_mode & 0o777


class ServerControl:
    """Stop and start the server: a systemd unit (``service``) or given argv lists."""

    def __init__(self, module, params: dict) -> None:
        self.module = module
        self.p = params
        if params.get("service"):
            systemctl = module.get_bin_path("systemctl")
            if not systemctl:
                raise RedisError("service: systemctl not found on the managed host; use stop_command/start_command")
            self.stop_argv = [systemctl, "stop", params["service"]]
            self.start_argv = [systemctl, "start", params["service"]]
        else:
            self.stop_argv = params["stop_command"]
            self.start_argv = params["start_command"]

    def run(self, argv: list[str], what: str) -> None:
        # bounded like the waits that follow: a stop or start command that hangs is killed with its group
        try:
            rc, out_b, err_b = run_bounded(argv, self.p["wait_timeout"])
        except RuntimeFailure as exc:
            raise RedisError(f"{what}: {exc} (wait_timeout): {' '.join(argv)}") from None
        except OSError as exc:
            raise RedisError(f"{what} failed: {' '.join(argv)}: {exc}") from None
        out, err = out_b.decode("utf-8", "replace"), err_b.decode("utf-8", "replace")
        if rc != 0:
            raise RedisError(f"{what} failed (rc={rc}): {' '.join(argv)}: {(err or out).strip()[-500:]}")


def _ping(client_factory) -> tuple[bool, dict | None]:
    try:
        conn = client_factory()
        conn.ping()
        info = conn.info("persistence")
        conn.close()
        return True, info
    except redis_exc.BusyLoadingError:
        return True, {"loading": 1}
    except redis_exc.RedisError:
        return False, None


def _wait(cond: t.Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while not cond():
        if time.monotonic() - start > timeout:
            raise RedisError(f"timeout ({timeout:g}s) waiting for {what}")
        time.sleep(0.1)
    return round(time.monotonic() - start, 3)


def compare_keyspace(expected: dict, actual: dict) -> list[str]:
    """Problems when the restored keyspace does not match the manifest.

    Keys with an expiry may have expired since the backup (Redis drops them on load),
    so a db may have between ``keys - expires`` and ``keys`` keys.
    """
    problems = []
    for db, exp in sorted(expected.items()):
        got = int(actual.get(str(db), {}).get("keys", 0))
        hi = int(exp.get("keys", 0))
        lo = hi - int(exp.get("expires", 0))
        if not lo <= got <= hi:
            problems.append(f"db{db}: {got} keys after restore, manifest says {hi}"
                            + (f" ({lo} without keys that may have expired)" if lo != hi else ""))
    for db, got in sorted(actual.items()):
        if str(db) not in {str(k) for k in expected} and int(got.get("keys", 0)) > 0:
            problems.append(f"db{db}: {got.get('keys')} keys after restore, none in the manifest")
    return problems


def run_restore(client, module, params: dict, check_mode: bool) -> dict:
    """The body of redis_restore."""
    if not params.get("src") and not params.get("backup_dir"):
        raise RedisError("give src (an RDB backup file) or backup_dir (the newest verified backup is used)")
    if not params.get("service") and not (params.get("stop_command") and params.get("start_command")):
        raise RedisError("give service (a systemd unit) or both stop_command and start_command (argv lists)")
    src, manifest = pick_backup(params, client, module)
    problems = B.verify_files(manifest, os.path.dirname(os.path.abspath(src)))
    if problems:
        raise RedisError(f"backup {src} does not match its manifest: {'; '.join(problems)}")
    control = ServerControl(module, params)
    try:
        conn = client.connect()
    except RedisError:
        if not params.get("rdb_path"):
            raise
        conn = None  # the server is down already: rdb_path says where its RDB goes
    dest = params.get("rdb_path") or rdb_source(client, params)
    aof = None
    if conn is not None:
        try:
            aof = client.config_get("appendonly", conn)
        except RedisError:
            aof = None  # CONFIG disabled: cannot tell
    if aof == "yes":
        raise RedisError("the server has appendonly yes: on start it loads the AOF, not the RDB, so the restore would "
                         "be ignored; disable AOF for the restore (and re-enable it afterwards) first")
    expected = manifest.get("redis", {}).get("keyspace", {})
    result: dict[str, t.Any] = {"changed": True, "src": src, "rdb_path": dest, "expected_keyspace": expected,
                                "previous": None, "stop_command": control.stop_argv, "start_command": control.start_argv}
    if check_mode:
        return result
    if os.path.exists(dest):
        uid, gid, mode = _owner_of(dest)
    else:
        uid, gid, _m = _owner_of(os.path.dirname(dest) or ".")
        mode = 0o660
    if params.get("owner") or params.get("group"):
        uid, gid = resolve_ids(params.get("owner"), params.get("group"), uid, gid)
    factory = client.fresh_connection
    client.close()

    control.run(control.stop_argv, "stopping the server")
    result["stop_seconds"] = _wait(lambda: not _ping(factory)[0], params["wait_timeout"], "the server to stop")

    tmp = os.path.join(os.path.dirname(dest), f".runbook-restore-{os.getpid()}-{os.path.basename(dest)}")
    previous = None
    try:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1024 * 1024)
            fout.flush()
            os.fsync(fout.fileno())
        os.chown(tmp, uid, gid)
        os.chmod(tmp, mode)
        if os.path.exists(dest):
            # always set aside (a failed restore puts it back); deleted at the end unless keep_previous
            previous = f"{dest}.before-restore-{B.stamp(B.utcnow())}"
            os.replace(dest, previous)
        os.replace(tmp, dest)
        B.fsync_path(os.path.dirname(dest) or ".")
    except OSError as exc:
        B.discard_partial(tmp)
        if previous and not os.path.exists(dest):
            os.replace(previous, dest)
        raise RedisError(f"putting {src} in place as {dest} failed: {exc} (the server is stopped)")
    result["owner"] = {"uid": uid, "gid": gid, "mode": oct(mode)}
    try:
        _start_and_check(control, factory, params, expected, result)
    except RedisError as exc:
        raise RedisError(f"{exc}; {_roll_back(control, factory, params, dest, previous)}") from exc
    if previous and not params["keep_previous"]:
        os.unlink(previous)
        previous = None
    result["previous"] = previous
    return result


def _start_and_check(control: ServerControl, factory, params: dict, expected: dict, result: dict) -> None:
    control.run(control.start_argv, "starting the server")

    def ready() -> bool:
        up, info = _ping(factory)
        return up and info is not None and int(info.get("loading", 0)) == 0

    result["start_seconds"] = _wait(ready, params["wait_timeout"], "the server to start and load the RDB")
    conn = factory()
    actual = {str(db): v for db, v in parse_info_keyspace(conn.info("keyspace")).items()}
    conn.close()
    result["keyspace"] = actual
    if params["check_keys"]:
        problems = compare_keyspace(expected, actual)
        if problems:
            raise RedisError("restored server's keyspace does not match the manifest: " + "; ".join(problems))


def _roll_back(control: ServerControl, factory, params: dict, dest: str, previous: str | None) -> str:
    """A failed restore: stop the server, put its previous RDB back (or remove the restored one when
    there was none) and start it again. What happened, in words, for the error message (never raises)."""
    try:
        if _ping(factory)[0]:
            control.run(control.stop_argv, "stopping the server for the roll-back")
            _wait(lambda: not _ping(factory)[0], params["wait_timeout"], "the server to stop")
        if previous:
            os.replace(previous, dest)
        elif os.path.exists(dest):
            os.unlink(dest)
        B.fsync_path(os.path.dirname(dest) or ".")
        control.run(control.start_argv, "starting the server after the roll-back")
        _wait(lambda: _ping(factory)[0], params["wait_timeout"], "the server to start after the roll-back")
    except (RedisError, OSError) as exc:
        return (f"rolling back failed: {exc}; the server's previous RDB is "
                + (f"{previous}" if previous and os.path.exists(previous) else "gone (there was none)"))
    return ("rolled back: the server was restarted with its previous RDB" if previous
            else "rolled back: the restored RDB was removed (there was none before) and the server restarted")
