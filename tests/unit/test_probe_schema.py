# SPDX-License-Identifier: GPL-3.0-or-later
"""Validation of health_probe definitions: every problem named by probe index, name and field."""
from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils._probe import (
    KINDS,
    ProbeDefinitionError,
    secret_values,
    validate_probes,
)


def errors_of(probes) -> list[str]:
    with pytest.raises(ProbeDefinitionError) as info:
        validate_probes(probes)
    return info.value.errors


def test_defaults_filled_and_types_coerced():
    (p,) = validate_probes([{"name": "api", "kind": "http", "url": "http://127.0.0.1/", "status_code": "204",
                             "timeout": "2.5", "retries": "2", "follow_redirects": "no"}])
    assert p["status_code"] == [204]
    assert p["timeout"] == 2.5 and p["retries"] == 2 and p["delay"] == 1.0
    assert p["follow_redirects"] is False and p["validate_certs"] is True and p["method"] == "GET"
    assert p["_thresholds"] == {"latency_ms": (None, None)}


def test_shorthand_thresholds_go_to_the_primary_metric_and_defaults_stay():
    (p,) = validate_probes([{"name": "d", "kind": "disk", "crit": 90}])
    assert p["_thresholds"] == {"usage_pct": (85, 90), "inodes_pct": (85, 95)}


def test_setting_one_side_drops_the_default_of_the_other():
    """crit 50 with the default warn 85 would be inverted: the user's value wins, the default goes."""
    (p,) = validate_probes([{"name": "d", "kind": "disk", "thresholds": {"inodes_pct": {"crit": 50}}, "warn": 99}])
    assert p["_thresholds"] == {"usage_pct": (99, None), "inodes_pct": (None, 50)}
    (c,) = validate_probes([{"name": "c", "kind": "certificate", "path": "/x", "warn": 5}])
    assert c["_thresholds"]["days_left"] == (5, None)
    (k,) = validate_probes([{"name": "c", "kind": "certificate", "path": "/x", "warn": 14}])
    assert k["_thresholds"]["days_left"] == (14, 7)  # no conflict: the default crit stays


def test_inverted_thresholds_are_refused_in_both_directions():
    errs = errors_of([
        {"name": "d", "kind": "disk", "thresholds": {"inodes_pct": {"warn": 85, "crit": 50}}},
        {"name": "c", "kind": "certificate", "path": "/x", "warn": 5, "crit": 10},
        {"name": "ok", "kind": "certificate", "path": "/x", "warn": 10, "crit": 5},
    ])
    assert errs == [
        "probes[0] (name 'd'): thresholds.inodes_pct: warn 85 is above crit 50 (higher inodes_pct is worse)",
        "probes[1] (name 'c'): thresholds.days_left: warn 5 is below crit 10 (lower days_left is worse)",
    ]


@pytest.mark.parametrize("probe, expected", [
    ({"name": "x", "kind": "nope"}, "probes[0] (name 'x'): kind: unknown kind 'nope'"),
    ({"name": "x"}, "probes[0] (name 'x'): kind: required"),
    ({"name": "x", "kind": "http"}, "probes[0] (name 'x'): url: required for kind 'http'"),
    ({"name": "x", "kind": "http", "url": "ftp://h/"}, "url: must be an http:// or https:// URL"),
    ({"name": "x", "kind": "http", "url": "http://h/", "status_code": [200, 999]}, "status_code: 999 is not an HTTP"),
    ({"name": "x", "kind": "http", "url": "http://h/", "json_query": "a[?"}, "json_query: invalid jmespath"),
    ({"name": "x", "kind": "http", "url": "http://h/", "client_key": "/k"}, "client_key: requires client_cert"),
    ({"name": "x", "kind": "http", "url": "http://h/", "method": "FETCH"}, "method: must be one of GET"),
    ({"name": "x", "kind": "websocket", "url": "http://h/"}, "url: must be a ws:// or wss:// URL"),
    ({"name": "x", "kind": "tcp", "host": "h", "port": 70000}, "port: must be 1-65535"),
    ({"name": "x", "kind": "tcp", "host": "h", "port": 1, "prot": 2}, "prot: unknown field for kind 'tcp'"),
    ({"name": "x", "kind": "tcp", "host": "h", "port": "eighty"}, "port: must be an integer, got 'eighty'"),
    ({"name": "x", "kind": "tcp", "host": "h", "port": 1, "timeout": 0}, "timeout: must be >= 0.001"),
    ({"name": "x", "kind": "tcp", "host": "h", "port": 1, "retries": -1}, "retries: must be >= 0"),
    ({"name": "x", "kind": "tcp", "host": "h", "port": 1, "crit": True}, "crit: must be a number, got True"),
    ({"name": "x", "kind": "tcp", "host": "h", "port": 1, "crit": "nan"}, "crit: must be a number, got NaN"),
    ({"name": "x", "kind": "command", "argv": []}, "argv: must be a non-empty list"),
    ({"name": "x", "kind": "command", "argv": ["true"], "warn": 1}, "warn/crit: kind 'command' measures no number"),
    ({"name": "x", "kind": "disk", "thresholds": {"used": {"crit": 1}}}, "thresholds.used: unknown metric for kind 'disk'"),
    ({"name": "x", "kind": "disk", "thresholds": {"usage_pct": 90}}, "thresholds.usage_pct: must be a dict"),
    ({"name": "x", "kind": "disk", "thresholds": {"usage_pct": {"critical": 9}}}, "thresholds.usage_pct.critical: unknown key"),
    ({"name": "x", "kind": "disk", "thresholds": {"usage_pct": {"crit": "lots"}}}, "thresholds.usage_pct.crit: must be a number"),
    ({"name": "x", "kind": "disk", "crit": 90, "thresholds": {"usage_pct": {"crit": 80}}}, "crit: given both"),
    ({"name": "x", "kind": "container"}, "container/service: give exactly one"),
    ({"name": "x", "kind": "container", "container": "a", "service": "b"}, "container/service: give exactly one"),
    ({"name": "x", "kind": "certificate"}, "path/host: give exactly one"),
    ({"name": "x", "kind": "load", "period": 10}, "period: must be one of 1, 5, 15"),
    ({"name": "x", "kind": "celery", "broker_url": "localhost"}, "broker_url: must be a broker URL"),
    ({"name": "x", "kind": "systemd"}, "unit: required for kind 'systemd'"),
    ({"name": "", "kind": "memory"}, "probes[0]: name: must not be empty"),
    ({"name": "x", "kind": "http", "url": "http://h/", "headers": ["a"]}, "headers: must be a dict"),
])
def test_each_problem_is_named(probe, expected):
    errs = errors_of([probe])
    assert any(expected in e for e in errs), errs
    assert all(e.startswith("probes[0]") for e in errs)


def test_all_problems_reported_at_once_with_index():
    errs = errors_of([{"name": "a", "kind": "memory"}, "not a dict", {"name": "a", "kind": "memory"},
                      {"name": "b", "kind": "http"}])
    assert errs == [
        "probes[1]: must be a dict, got str",
        "probes[2] (name 'a'): name: duplicate of probes[0]",
        "probes[3] (name 'b'): url: required for kind 'http'",
    ]


@pytest.mark.parametrize("value", [None, [], {}, "x"])
def test_probes_must_be_a_non_empty_list(value):
    assert errors_of(value) == ["probes: must be a non-empty list of probe definitions"]


def test_every_kind_validates_with_its_required_fields_only():
    minimal = {
        "http": {"url": "http://h/"}, "websocket": {"url": "ws://h/"}, "tcp": {"host": "h", "port": 1},
        "postgres": {}, "redis": {}, "celery": {"broker_url": "redis://h/0"}, "systemd": {"unit": "x"},
        "container": {"container": "c"}, "disk": {}, "memory": {}, "load": {}, "certificate": {"path": "/x"},
        "pm2": {}, "command": {"argv": ["true"]},
    }
    assert set(minimal) == set(KINDS)
    probes = [dict(fields, name=kind, kind=kind) for kind, fields in minimal.items()]
    assert [p["kind"] for p in validate_probes(probes)] == list(minimal)


def test_secret_values_cover_passwords_headers_and_urls():
    secrets = secret_values([
        {"name": "db", "kind": "postgres", "login_password": "pg-pw"},
        {"name": "r", "kind": "redis", "login_password": "redis-pw"},
        {"name": "c", "kind": "celery", "broker_url": "redis://:url%40pw@h:6379/0"},
        {"name": "h", "kind": "http", "url": "https://u:basic-pw@h/",
         "headers": {"Authorization": "Bearer tok", "Accept": "json"}},
    ])
    assert {"pg-pw", "redis-pw", "url@pw", "url%40pw", "basic-pw", "Bearer tok"} <= secrets
    assert "json" not in secrets
