# SPDX-License-Identifier: GPL-3.0-or-later
"""health_probe run through Ansible against real servers the tests start."""
from __future__ import annotations

import os
import re
import uuid

import pytest
from harness.net import free_port, wait_until
from harness.redis import RedisServer

pytestmark = pytest.mark.integration


def run(ansible_module, probes, check=False, **opts):
    return ansible_module("health_probe", dict(probes=probes, **opts), check=check)


def by_name(res) -> dict:
    return {r["name"]: r for r in res["results"]}


# ---------------------------------------------------------------------------
# http
# ---------------------------------------------------------------------------
def test_http_ok_result_shape_and_summary(ansible_module, http_server):
    res = run(ansible_module, [{"name": "api", "kind": "http", "url": http_server.url("/ok"), "body_regex": "healthy"}])
    assert not res.failed, res.result
    assert res.changed is False
    r = res["results"][0]
    assert r["status"] == "ok"
    assert r["kind"] == "http"
    assert r["unit"] == "ms" and r["value"] == r["metrics"]["latency_ms"]["value"]
    assert r["attempts"] == 1
    assert r["details"]["status_code"] == 200
    assert r["message"].startswith("HTTP 200")
    assert res["summary"]["ok"] == 1 and res["summary"]["total"] == 1 and res["summary"]["status"] == "ok"
    assert res["status"] == "ok"


def test_http_status_body_json_redirect_headers(ansible_module, http_server):
    u = http_server.url
    probes = [
        {"name": "500", "kind": "http", "url": u("/status/500")},
        {"name": "500 expected", "kind": "http", "url": u("/status/500"), "status_code": [500, 503]},
        {"name": "regex miss", "kind": "http", "url": u("/ok"), "body_regex": "^nope$"},
        {"name": "json true", "kind": "http", "url": u("/json"), "json_query": "status == 'ok' && db.up"},
        {"name": "json equals", "kind": "http", "url": u("/json"), "json_query": "db.lag", "json_equals": 3},
        {"name": "json false", "kind": "http", "url": u("/json"), "json_query": "db.lag", "json_equals": 0},
        {"name": "not json", "kind": "http", "url": u("/notjson"), "json_query": "status"},
        {"name": "redirect followed", "kind": "http", "url": u("/redirect"), "body_regex": "healthy"},
        {"name": "redirect kept", "kind": "http", "url": u("/redirect"), "follow_redirects": False,
         "status_code": [302]},
        {"name": "redirect unexpected", "kind": "http", "url": u("/redirect"), "follow_redirects": False},
        {"name": "header", "kind": "http", "url": u("/headers"), "headers": {"X-Token": "t0ken-123"}},
        {"name": "no header", "kind": "http", "url": u("/headers")},
        {"name": "post", "kind": "http", "url": u("/echo"), "method": "POST", "body": "ping",
         "status_code": 201, "body_regex": "got ping"},
        {"name": "down", "kind": "http", "url": f"http://127.0.0.1:{free_port()}/"},
    ]
    res = run(ansible_module, probes, fail_on="never")
    assert not res.failed, res.result
    r = by_name(res)
    expect = {
        "500": "critical", "500 expected": "ok", "regex miss": "critical", "json true": "ok", "json equals": "ok",
        "json false": "critical", "not json": "critical", "redirect followed": "ok", "redirect kept": "ok",
        "redirect unexpected": "critical", "header": "ok", "no header": "critical", "post": "ok", "down": "critical",
    }
    assert {n: r[n]["status"] for n in expect} == expect
    assert "HTTP 500, expected 200" in r["500"]["message"]
    assert "body_regex" in r["regex miss"]["message"]
    assert r["json false"]["details"]["json_query_result"] == 3
    assert "not JSON" in r["not json"]["message"]
    assert r["redirect followed"]["details"]["url"].endswith("/ok")
    assert "HTTP 302" in r["redirect unexpected"]["message"]
    assert "connection refused" in r["down"]["message"].lower()
    assert res["summary"]["critical"] == 7 and res["summary"]["ok"] == 7


def test_http_latency_thresholds_and_timeout(ansible_module, http_server):
    probes = [
        # 300 ms answer: above warn 100 ms, below crit 60 s
        {"name": "slowish", "kind": "http", "url": http_server.url("/slow?ms=300"), "warn": 100, "crit": 60000},
        {"name": "too slow", "kind": "http", "url": http_server.url("/slow?ms=300"),
         "thresholds": {"latency_ms": {"crit": 100}}},
        {"name": "timeout", "kind": "http", "url": http_server.url("/slow?ms=3000"), "timeout": 0.3},
    ]
    res = run(ansible_module, probes, fail_on="never")
    r = by_name(res)
    assert r["slowish"]["status"] == "warning", r["slowish"]
    assert r["slowish"]["value"] >= 300
    assert "latency_ms" in r["slowish"]["message"] and "warn 100" in r["slowish"]["message"]
    assert r["too slow"]["status"] == "critical"
    assert r["timeout"]["status"] == "critical"
    # the socket's timeout, or the probe's own deadline when a loaded machine reaches that first
    assert re.search(r"timed out|no complete answer within 0\.3 s \(deadline\)", r["timeout"]["message"]), r["timeout"]
    assert res["summary"]["warning_probes"] == ["slowish"]
    assert res["summary"]["critical_probes"] == ["too slow", "timeout"]


def test_retries_until_ok_and_attempts(ansible_module, http_server):
    k1, k2 = uuid.uuid4().hex, uuid.uuid4().hex
    probes = [
        {"name": "flaky retried", "kind": "http", "url": http_server.url(f"/flaky/{k1}/2"), "retries": 3, "delay": 0},
        {"name": "flaky no retry", "kind": "http", "url": http_server.url(f"/flaky/{k2}/2")},
    ]
    res = run(ansible_module, probes, fail_on="never")
    r = by_name(res)
    assert r["flaky retried"]["status"] == "ok" and r["flaky retried"]["attempts"] == 3
    assert r["flaky no retry"]["status"] == "critical" and r["flaky no retry"]["attempts"] == 1


def test_probes_run_concurrently(ansible_module, http_server):
    """Each request blocks until all 5 have arrived: only concurrent probes can all pass."""
    key = uuid.uuid4().hex
    probes = [{"name": f"b{i}", "kind": "http", "url": http_server.url(f"/barrier/{key}/5?wait=20"), "timeout": 30}
              for i in range(5)]
    res = run(ansible_module, probes, max_workers=5)
    assert not res.failed, res.result
    assert res["summary"]["ok"] == 5


def test_max_workers_bounds_concurrency(ansible_module, http_server):
    """With 4 workers the 5th request never arrives while the first 4 wait: the barrier breaks."""
    key = uuid.uuid4().hex
    probes = [{"name": f"b{i}", "kind": "http", "url": http_server.url(f"/barrier/{key}/5?wait=1"), "timeout": 10}
              for i in range(5)]
    res = run(ansible_module, probes, max_workers=4, fail_on="never")
    assert res["summary"]["critical"] == 5, res["results"]
    assert all("HTTP 503" in r["message"] for r in res["results"])


def test_https_verification(ansible_module, https_server, tls_files):
    url = https_server.url("/ok")
    probes = [
        {"name": "with ca", "kind": "http", "url": url, "ca_path": tls_files.ca_path},
        {"name": "unknown ca", "kind": "http", "url": url},
        {"name": "no verify", "kind": "http", "url": url, "validate_certs": False},
    ]
    res = run(ansible_module, probes, fail_on="never")
    r = by_name(res)
    assert r["with ca"]["status"] == "ok", r["with ca"]
    assert r["unknown ca"]["status"] == "critical"
    assert "certificate" in r["unknown ca"]["message"].lower()
    assert r["no verify"]["status"] == "ok"


# ---------------------------------------------------------------------------
# certificate
# ---------------------------------------------------------------------------
def test_certificate_days_left_live_and_file(ansible_module, https_server, tls_files):
    live = {"kind": "certificate", "host": "127.0.0.1", "port": https_server.port, "server_name": "localhost"}
    probes = [
        dict(live, name="live warn", warn=5, crit=2),
        dict(live, name="live crit", warn=10, crit=4),
        {"name": "file warn", "kind": "certificate", "path": tls_files.cert_path, "warn": 5, "crit": 2},
        {"name": "file default", "kind": "certificate", "path": tls_files.cert_path},
        {"name": "far from expiry", "kind": "certificate", "path": tls_files.ca_path, "warn": 10, "crit": 4},
        {"name": "no server", "kind": "certificate", "host": "127.0.0.1", "port": free_port()},
    ]
    res = run(ansible_module, probes, fail_on="never")
    r = by_name(res)
    assert r["live warn"]["status"] == "warning", r["live warn"]
    assert 2.9 < r["live warn"]["value"] <= 3.0 and r["live warn"]["unit"] == "d"
    assert r["live warn"]["details"]["subject"] == "CN=localhost"
    assert r["live crit"]["status"] == "critical"
    assert "days_left 3.0d <= crit 4d" in r["live crit"]["message"]
    assert r["file warn"]["status"] == "warning"
    assert r["file default"]["status"] == "critical"  # default crit 7 days
    assert r["far from expiry"]["status"] == "ok" and r["far from expiry"]["value"] > 29
    assert r["no server"]["status"] == "critical"


# ---------------------------------------------------------------------------
# websocket / tcp
# ---------------------------------------------------------------------------
def test_websocket_handshake(ansible_module, ws_server):
    probes = [
        {"name": "ws", "kind": "websocket", "url": f"{ws_server}/ws", "origin": "http://localhost"},
        {"name": "bad accept", "kind": "websocket", "url": f"{ws_server}/wrong-accept"},
        {"name": "no upgrade", "kind": "websocket", "url": f"{ws_server}/other"},
        {"name": "down", "kind": "websocket", "url": f"ws://127.0.0.1:{free_port()}/ws"},
    ]
    res = run(ansible_module, probes, fail_on="never")
    r = by_name(res)
    assert r["ws"]["status"] == "ok", r["ws"]
    assert r["ws"]["details"]["status_code"] == 101
    assert r["bad accept"]["status"] == "critical" and "Sec-WebSocket-Accept" in r["bad accept"]["message"]
    assert r["no upgrade"]["status"] == "critical" and "404" in r["no upgrade"]["message"]
    assert r["down"]["status"] == "critical" and "refused" in r["down"]["message"]


def test_tcp(ansible_module, http_server):
    res = run(ansible_module, [
        {"name": "up", "kind": "tcp", "host": "127.0.0.1", "port": http_server.port},
        {"name": "down", "kind": "tcp", "host": "127.0.0.1", "port": free_port()},
    ])
    assert res.failed
    r = by_name(res)
    assert r["up"]["status"] == "ok" and r["down"]["status"] == "critical"
    assert "down critical" in res["msg"] and "1 of 2 probes" in res["msg"]


# ---------------------------------------------------------------------------
# postgres / redis
# ---------------------------------------------------------------------------
def test_postgres(ansible_module, pg):
    args = pg.conn_args()
    down = dict(args, login_port=free_port())
    wrong = dict(args, login_password="not-the-password")
    probes = [
        dict(args, name="db", kind="postgres", expect_role="primary"),
        dict(args, name="db busy", kind="postgres", thresholds={"connections_pct": {"warn": 0.01, "crit": 99.9}}),
        dict(args, name="db replica?", kind="postgres", expect_role="replica"),
        dict(down, name="db down", kind="postgres", timeout=3),
        dict(wrong, name="db wrong password", kind="postgres"),
        dict(pg.conn_args(user="app_user"), name="db app_user", kind="postgres"),
    ]
    res = run(ansible_module, probes)
    assert res.failed
    r = by_name(res)
    assert r["db"]["status"] == "ok", r["db"]
    assert r["db"]["unit"] == "%" and 0 < r["db"]["value"] < 100
    assert r["db"]["details"]["max_connections"] > 0 and r["db"]["details"]["in_recovery"] is False
    assert r["db"]["metrics"]["replication_lag_s"]["value"] is None
    assert r["db busy"]["status"] == "warning"
    assert r["db replica?"]["status"] == "critical" and "expected a replica" in r["db replica?"]["message"]
    assert r["db down"]["status"] == "critical" and "cannot connect" in r["db down"]["message"]
    assert r["db wrong password"]["status"] == "critical"
    assert "authentication failed" in r["db wrong password"]["message"]
    assert r["db app_user"]["status"] == "ok", r["db app_user"]
    assert "db down critical" in res["msg"]
    for secret in ("super-secret-pw", "app-secret-pw", "not-the-password"):
        assert secret not in res.stdout


def test_redis(ansible_module, redis_server, redis_auth_server):
    capped = RedisServer(extra_config="maxmemory 8mb").start()
    try:
        probes = [
            dict(redis_server.conn_args(), name="cache", kind="redis"),
            dict(capped.conn_args(), name="capped warn", kind="redis", warn=1, crit=99),
            dict(capped.conn_args(), name="capped ok", kind="redis"),
            dict(redis_server.conn_args(), name="clients", kind="redis", thresholds={"connected_clients": {"crit": 1}}),
            dict(redis_auth_server.conn_args(), name="auth", kind="redis"),
            dict(redis_auth_server.conn_args(), name="auth wrong", kind="redis", login_password="wrong-pw-xyz"),
            dict(login_host="127.0.0.1", login_port=free_port(), name="cache down", kind="redis", timeout=2),
        ]
        res = run(ansible_module, probes, fail_on="never")
    finally:
        capped.stop()
    r = by_name(res)
    assert r["cache"]["status"] == "ok", r["cache"]
    assert r["cache"]["value"] is None  # no maxmemory: nothing to compare
    assert "PONG" in r["cache"]["message"]
    assert r["capped warn"]["status"] == "warning", r["capped warn"]
    assert 1 <= r["capped warn"]["value"] < 99 and r["capped warn"]["details"]["maxmemory"] == 8 * 1024 * 1024
    assert r["capped ok"]["status"] == "ok"
    assert r["clients"]["status"] == "critical" and r["clients"]["metrics"]["connected_clients"]["value"] >= 1
    assert r["auth"]["status"] == "ok", r["auth"]
    assert r["auth wrong"]["status"] == "critical" and "authentication" in r["auth wrong"]["message"]
    assert r["cache down"]["status"] == "critical" and "cannot connect" in r["cache down"]["message"]
    assert "wrong-pw-xyz" not in res.stdout and "redis-secret-pw" not in res.stdout


# ---------------------------------------------------------------------------
# celery
# ---------------------------------------------------------------------------
def test_celery_worker_alive_and_queue_depth(ansible_module, celery_worker):
    for i in range(7):
        celery_worker.app.send_task("probe.add", args=(i, i), queue="backlog")  # nobody consumes "backlog": the tasks stay queued
    wait_until(lambda: celery_worker.redis.client().llen("backlog") == 7, 10, "7 queued tasks")
    base = {"kind": "celery", "broker_url": celery_worker.broker_url}
    probes = [
        dict(base, name="workers", queues=["celery", "backlog"], thresholds={"queue_depth": {"warn": 5, "crit": 10}},
             workers=[celery_worker.worker_name]),
        dict(base, name="deep", queues=["backlog"], crit=5),
        dict(base, name="missing worker", workers=["nobody@nowhere"], reply_timeout=0.5),
        dict(base, name="broker down", broker_url=f"redis://:s3cret-broker@127.0.0.1:{free_port()}/0", timeout=2),
    ]
    res = run(ansible_module, probes, fail_on="never")
    r = by_name(res)
    w = r["workers"]
    assert w["status"] == "warning", w
    assert w["details"]["workers"] == [celery_worker.worker_name]
    assert w["details"]["queues"] == {"celery": 0, "backlog": 7}
    assert w["value"] == 7 and w["metrics"]["workers"]["value"] == 1
    assert r["deep"]["status"] == "critical"
    assert r["missing worker"]["status"] == "critical" and "nobody@nowhere" in r["missing worker"]["message"]
    assert r["broker down"]["status"] == "critical"
    assert "s3cret-broker" not in res.stdout


def test_celery_no_worker_is_critical(ansible_module):
    pytest.importorskip("celery")
    broker = RedisServer().start()
    try:
        res = run(ansible_module, [{"name": "workers", "kind": "celery", "reply_timeout": 0.5,
                                    "broker_url": f"redis://127.0.0.1:{broker.port}/0"}])
    finally:
        broker.stop()
    assert res.failed
    r = res["results"][0]
    assert r["status"] == "critical" and r["metrics"]["workers"]["value"] == 0
    assert "workers 0 <= crit 0" in r["message"]


def test_celery_stuck_tasks(ansible_module, celery_worker):
    key = f"release-{uuid.uuid4().hex}"
    probe = {"name": "stuck", "kind": "celery", "broker_url": celery_worker.broker_url, "stuck_after": 0.2}
    res = run(ansible_module, [probe])
    assert res["results"][0]["status"] == "ok", res["results"]
    assert res["results"][0]["metrics"]["stuck_tasks"]["value"] == 0
    celery_worker.app.send_task("probe.block", args=(key,))
    client = celery_worker.redis.client()
    found = {}

    def reported_stuck() -> bool:
        out = run(ansible_module, [probe], fail_on="never")
        found["r"] = out
        return bool(out["results"][0]["metrics"].get("stuck_tasks", {}).get("value"))

    try:
        wait_until(reported_stuck, 60, "the blocked task reported as stuck", interval=0.2)
        r = found["r"]["results"][0]
        assert r["status"] == "critical"
        assert r["details"]["stuck"][0]["name"] == "probe.block"
        assert r["details"]["stuck"][0]["age_s"] >= 0.2
    finally:
        client.set(key, "1")


# ---------------------------------------------------------------------------
# container (podman)
# ---------------------------------------------------------------------------
def test_container_podman(ansible_module, podman_containers):
    tag = uuid.uuid4().hex[:8]
    pc = podman_containers
    labels = {"io.podman.compose.service": f"web{tag}", "io.podman.compose.project": "shop"}
    web = pc.start(f"hp-web-{tag}", health_cmd="test -f /tmp/healthy", labels=labels)
    sick = pc.start(f"hp-sick-{tag}", health_cmd="test -f /tmp/nope")
    plain = pc.start(f"hp-plain-{tag}")
    base = {"kind": "container", "engine": "podman"}
    starting = run(ansible_module, [dict(base, name="web", container=web)], fail_on="never")
    assert starting["results"][0]["status"] == "warning", starting["results"]
    assert "starting" in starting["results"][0]["message"]

    assert pc.healthcheck(web) == 0
    assert pc.healthcheck(sick) != 0
    probes = [
        dict(base, name="web", container=web),
        dict(base, name="web by service", service=f"web{tag}", project="shop"),
        dict(base, name="sick", container=sick),
        dict(base, name="plain", container=plain),
        dict(base, name="missing", container=f"hp-missing-{tag}"),
        dict(base, name="no service", service=f"nothing{tag}"),
    ]
    res = run(ansible_module, probes, fail_on="never")
    r = by_name(res)
    assert r["web"]["status"] == "ok" and "healthy" in r["web"]["message"], r["web"]
    assert r["web"]["value"] == 0 and r["web"]["unit"] == ""
    assert r["web by service"]["status"] == "ok" and r["web by service"]["details"]["containers"] == [web]
    assert r["sick"]["status"] == "critical" and "unhealthy" in r["sick"]["message"]
    assert r["plain"]["status"] == "ok" and "no health check" in r["plain"]["message"]
    assert r["missing"]["status"] == "critical"
    assert r["no service"]["status"] == "critical" and "compose service" in r["no service"]["message"]

    pc.stop(web)
    res = run(ansible_module, [dict(base, name="web", container=web)])
    assert res.failed
    assert res["results"][0]["status"] == "critical"
    assert "exited" in res["results"][0]["message"]


# ---------------------------------------------------------------------------
# disk, memory, load, command
# ---------------------------------------------------------------------------
def test_disk_nearly_full(ansible_module, full_tmpfs):
    probes = [
        {"name": "full", "kind": "disk", "path": full_tmpfs, "warn": 80, "crit": 90},
        {"name": "full lenient", "kind": "disk", "path": full_tmpfs, "warn": 90, "crit": 99},
        {"name": "inodes", "kind": "disk", "path": full_tmpfs, "warn": 99, "crit": 99.5,
         "thresholds": {"inodes_pct": {"warn": 0.1, "crit": 50}}},
        {"name": "missing path", "kind": "disk", "path": os.path.join(full_tmpfs, "nope")},
    ]
    res = run(ansible_module, probes, fail_on="never")
    r = by_name(res)
    assert r["full"]["status"] == "critical", r["full"]
    assert r["full"]["value"] >= 94 and "usage_pct" in r["full"]["message"]
    assert r["full lenient"]["status"] == "warning"
    assert r["inodes"]["status"] == "warning" and r["inodes"]["metrics"]["inodes_pct"]["status"] == "warning"
    assert r["missing path"]["status"] == "critical"


def test_memory_load_and_commands(ansible_module, tmp_path):
    probes = [
        {"name": "mem", "kind": "memory"},
        {"name": "mem tight", "kind": "memory", "warn": 0, "crit": 100},
        {"name": "load", "kind": "load", "period": 1, "thresholds": {"load_per_cpu": {"warn": 1000, "crit": 2000}}},
        {"name": "cmd", "kind": "command", "argv": ["sh", "-c", "echo migrations ok"], "stdout_regex": "ok$"},
        {"name": "cmd rc", "kind": "command", "argv": ["sh", "-c", "echo boom >&2; exit 3"]},
        {"name": "cmd rc expected", "kind": "command", "argv": ["sh", "-c", "exit 3"], "expect_rc": [0, 3]},
        {"name": "cmd regex", "kind": "command", "argv": ["echo", "hello"], "stdout_regex": "^bye"},
        {"name": "cmd missing", "kind": "command", "argv": [str(tmp_path / "no-such-binary")]},
        {"name": "cmd hang", "kind": "command", "argv": ["sleep", "30"], "timeout": 0.5},
    ]
    res = run(ansible_module, probes, fail_on="never")
    r = by_name(res)
    assert r["mem"]["status"] in ("ok", "warning") and 0 < r["mem"]["value"] < 100
    assert r["mem tight"]["status"] == "warning"
    assert r["load"]["status"] == "ok" and r["load"]["details"]["cpus"] >= 1
    assert r["cmd"]["status"] == "ok"
    assert r["cmd rc"]["status"] == "critical" and "exited 3" in r["cmd rc"]["message"]
    assert "boom" in r["cmd rc"]["message"]
    assert r["cmd rc expected"]["status"] == "ok"
    assert r["cmd regex"]["status"] == "critical"
    assert r["cmd missing"]["status"] == "critical" and "cannot run" in r["cmd missing"]["message"]
    assert r["cmd hang"]["status"] == "critical" and "did not finish" in r["cmd hang"]["message"]


# ---------------------------------------------------------------------------
# pm2
# ---------------------------------------------------------------------------
def test_pm2(ansible_module, pm2_home, tmp_path):
    home, pm2 = pm2_home
    (tmp_path / "app.js").write_text("setInterval(() => {}, 1000);\n")
    (tmp_path / "crash.js").write_text("process.exit(1);\n")
    assert pm2("start", str(tmp_path / "app.js"), "--name", "api").returncode == 0
    assert pm2("start", str(tmp_path / "crash.js"), "--name", "worker", "--no-autorestart").returncode == 0

    def crashed() -> bool:
        import json
        out = pm2("jlist").stdout
        apps = {a["name"]: a["pm2_env"]["status"] for a in json.loads(out[out.index("["):])}
        return apps.get("worker") not in (None, "online", "launching")

    wait_until(crashed, 30, "the crashing pm2 app to stop")
    base = {"kind": "pm2", "pm2_home": home}
    res = run(ansible_module, [
        dict(base, name="api", apps=["api"]),
        dict(base, name="all"),
        dict(base, name="gone", apps=["api", "frontend"]),
    ], fail_on="never")
    r = by_name(res)
    assert r["api"]["status"] == "ok", r["api"]
    assert r["api"]["details"]["apps"][0]["name"] == "api"
    assert r["all"]["status"] == "critical" and "worker" in r["all"]["message"]
    assert r["gone"]["status"] == "critical" and "frontend not managed by pm2" in r["gone"]["message"]


# ---------------------------------------------------------------------------
# behaviour: definitions, fail_on, check mode
# ---------------------------------------------------------------------------
def test_bad_definitions_fail_before_any_probe_runs(ansible_module, tmp_path):
    marker = tmp_path / "ran"
    probes = [
        {"name": "side effect", "kind": "command", "argv": ["touch", str(marker)]},
        {"name": "typo", "kind": "htp", "url": "http://x"},
        {"name": "no url", "kind": "http"},
        {"name": "inverted", "kind": "disk", "warn": 95, "crit": 90},
        {"name": "lower inverted", "kind": "certificate", "path": "/x", "warn": 3, "crit": 10},
        {"name": "bad number", "kind": "http", "url": "http://127.0.0.1/", "crit": "fast"},
        {"name": "unknown key", "kind": "tcp", "host": "h", "port": 1, "prot": 2},
        {"name": "unknown metric", "kind": "disk", "thresholds": {"used": {"crit": 1}}},
        {"name": "bad regex", "kind": "command", "argv": ["true"], "stdout_regex": "("},
        {"kind": "memory"},
        {"name": "side effect", "kind": "memory"},
    ]
    res = run(ansible_module, probes)
    assert res.failed
    assert not marker.exists(), "a probe ran although the definitions were invalid"
    msg = res["msg"]
    for fragment in (
        "probes[1] (name 'typo'): kind: unknown kind 'htp'",
        "probes[2] (name 'no url'): url: required for kind 'http'",
        "probes[3] (name 'inverted'): thresholds.usage_pct: warn 95 is above crit 90",
        "probes[4] (name 'lower inverted'): thresholds.days_left: warn 3 is below crit 10",
        "probes[5] (name 'bad number'): crit: must be a number, got 'fast'",
        "probes[6] (name 'unknown key'): prot: unknown field for kind 'tcp'",
        "probes[7] (name 'unknown metric'): thresholds.used: unknown metric for kind 'disk'",
        "probes[8] (name 'bad regex'): stdout_regex: invalid regular expression",
        "probes[9]: name: required",
        "probes[10] (name 'side effect'): name: duplicate of probes[0]",
    ):
        assert fragment in msg, (fragment, msg)
    assert "results" not in res.result
    assert "Traceback" not in msg


def test_fail_on_levels_return_results_either_way(ansible_module, http_server):
    probes = [
        {"name": "ok", "kind": "http", "url": http_server.url("/ok")},
        {"name": "slow", "kind": "http", "url": http_server.url("/slow?ms=200"), "warn": 50},
    ]
    crit = run(ansible_module, probes, fail_on="critical")
    assert not crit.failed and crit["summary"]["warning"] == 1
    warn = run(ansible_module, probes, fail_on="warning")
    assert warn.failed and "slow warning" in warn["msg"]
    assert len(warn["results"]) == 2 and warn["summary"]["ok"] == 1
    never = run(ansible_module, probes + [{"name": "bad", "kind": "http", "url": http_server.url("/status/500")}],
                fail_on="never")
    assert not never.failed and never["summary"]["critical"] == 1 and never["status"] == "critical"


def test_check_mode_runs_the_same_and_never_changes(ansible_module, http_server):
    probes = [{"name": "ok", "kind": "http", "url": http_server.url("/ok")},
              {"name": "bad", "kind": "http", "url": http_server.url("/status/500")}]
    res = run(ansible_module, probes, check=True, fail_on="never")
    assert res.changed is False
    assert [r["status"] for r in res["results"]] == ["ok", "critical"]
    res = run(ansible_module, probes, check=True)
    assert res.failed and res.changed is False and "bad critical" in res["msg"]


def test_bad_module_options(ansible_module):
    res = run(ansible_module, [{"name": "m", "kind": "memory"}], max_workers=0)
    assert res.failed and "max_workers" in res["msg"]
    res = run(ansible_module, [])
    assert res.failed and "probes: must be a non-empty list" in res["msg"]
