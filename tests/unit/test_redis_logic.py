# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure logic of the Redis layer: glob analysis, value normalisation, error wording."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import redis.exceptions as rex
from ansible_collections.runbook.ops.plugins.module_utils import _redis as R
from ansible_collections.runbook.ops.plugins.module_utils import _redis_purge as P


@pytest.mark.parametrize("pattern", ["*", "**", "***", "?*", "*?", "*?*", "??*", "[^]*", "*[^]", b"*[\x00-\xff]*"])
def test_match_everything(pattern):
    assert P.matches_everything(pattern)


@pytest.mark.parametrize("pattern", ["cache:*", "?a*", "[ab]*", "*x", "\\**", "?", "??", "[^a]*", "[]*", "a", "*[^\n]*"])
def test_not_match_everything(pattern):
    assert not P.matches_everything(pattern)


def test_validate_patterns():
    with pytest.raises(ValueError, match="empty"):
        P.validate_patterns([""], False)
    with pytest.raises(ValueError, match="at least one"):
        P.validate_patterns([], False)
    with pytest.raises(ValueError, match="allow_all"):
        P.validate_patterns(["a:*", "*"], False)
    assert P.validate_patterns(["*"], True) == ["*"]


@pytest.mark.parametrize("pattern,key,expected", [
    (b"cache:*", b"cache:1", True),
    (b"cache:*", b"cach", False),
    (b"h?llo", b"hello", True),
    (b"h[ae]llo", b"hallo", True),
    (b"h[^e]llo", b"hello", False),
    (b"h[a-b]llo", b"hbllo", True),
    (b"h[b-a]llo", b"hbllo", True),  # reversed ranges are swapped, as in Redis
    (b"a\\*", b"a*", True),
    (b"a\\*", b"ab", False),
    (b"[]x", b"x", False),
    (b"x[ab", b"xa", True),  # unterminated class ends at the pattern's end
])
def test_glob_match(pattern, key, expected):
    assert P.glob_match(pattern, key) is expected


@given(st.sampled_from(["*", "?*", "*?*", "[^]*", "**"]), st.binary(min_size=1, max_size=20))
def test_match_all_patterns_really_match_non_empty_keys(pattern, key):
    assert P.glob_match(pattern.encode(), key)


@given(st.text(alphabet="ab*?[]^-\\", max_size=8), st.binary(min_size=3, max_size=12))
def test_refused_only_when_all_long_keys_match(pattern, key):
    # a pattern judged match-everything matches any key at least as long as the pattern
    if P.matches_everything(pattern):
        assert P.glob_match(pattern.encode(), key + b"x" * len(pattern))


def test_key_repr():
    assert P.key_repr(b"plain") == ("plain", True)
    assert P.key_repr("caf\u00e9".encode()) == ("caf\u00e9", True)
    assert P.key_repr(b"\xff\x00a") == ("\\xff\x00a", False)


def test_ttl_accepts():
    o = P.PurgeOptions(no_ttl=True)
    assert P.ttl_accepts(-1, o) and not P.ttl_accepts(5000, o) and not P.ttl_accepts(-2, o)
    o = P.PurgeOptions(ttl_above=10)
    assert P.ttl_accepts(10001, o) and not P.ttl_accepts(10000, o) and not P.ttl_accepts(-1, o)
    o = P.PurgeOptions(ttl_below=10)
    assert P.ttl_accepts(9999, o) and not P.ttl_accepts(10000, o) and not P.ttl_accepts(-1, o)
    assert P.ttl_accepts(-1, P.PurgeOptions()) and not P.ttl_accepts(None, P.PurgeOptions())


@pytest.mark.parametrize("text,expected", [
    ("0", 0), ("1024", 1024), ("1k", 1000), ("1kb", 1024), ("100mb", 100 * 2 ** 20), ("100m", 10 ** 8),
    ("2gb", 2 * 2 ** 30), ("2G", 2 * 10 ** 9), (" 3 MB ", 3 * 2 ** 20), (5, 5),
])
def test_parse_memory(text, expected):
    assert R.parse_memory(text) == expected


@pytest.mark.parametrize("text", ["lots", "1tb", "-1", "1.5gb", "", True])
def test_parse_memory_rejects(text):
    with pytest.raises(ValueError):
        R.parse_memory(text)


def test_normalise_and_plan():
    assert R.normalise_setting("maxmemory", "1mb") == "1048576"
    assert R.normalise_setting("lazyfree-lazy-eviction", True) == "yes"
    assert R.normalise_setting("maxmemory-policy", "AllKeys-LRU") == "allkeys-lru"
    assert R.normalise_setting("save", " 3600 1  300 100 ") == "3600 1 300 100"
    assert R.normalise_setting("notify-keyspace-events", "xE") == R.normalise_setting("notify-keyspace-events", "Ex")
    with pytest.raises(ValueError, match="not an allowed setting"):
        R.normalise_setting("dir", "/tmp")
    with pytest.raises(ValueError, match="not one of"):
        R.normalise_setting("maxmemory-policy", "lru")
    with pytest.raises(ValueError, match="pairs"):
        R.normalise_setting("save", "3600")
    plan = R.plan_settings({"maxmemory": "100mb", "hz": 10, "activedefrag": "no"},
                           {"maxmemory": "104857600", "hz": "10", "activedefrag": "yes"})
    assert plan == {"activedefrag": ("yes", "no")}


@pytest.mark.parametrize("exc,needle", [
    (rex.AuthenticationError("WRONGPASS invalid username-password pair or user is disabled."), "wrong login_user / login_password"),
    (rex.AuthenticationError("invalid password"), "wrong login_user"),
    (rex.AuthenticationError("NOAUTH Authentication required."), "set login_password"),
    (rex.ReadOnlyError("You can't write against a read only replica."), "read-only replica"),
    (rex.ResponseError("unknown command 'CONFIG', with args beginning with: 'GET' 'dir'"), "CONFIG is disabled or renamed"),
    (rex.ResponseError("ERR unknown command 'UNLINK'"), "UNLINK is unknown"),
    (rex.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused."), "server down"),
    (rex.TimeoutError("Timeout reading from socket"), "socket_timeout"),
    (rex.BusyLoadingError("LOADING Redis is loading the dataset in memory"), "still loading"),
    (rex.ResponseError("something else"), "Redis error at"),
])
def test_explain_error(exc, needle):
    what = "UNLINK" if "UNLINK" in str(exc) else "CONFIG GET dir"
    assert needle in R.explain_error(exc, "h:1", what)


def test_parse_info_keyspace():
    info = {"db0": {"keys": 3, "expires": 1, "avg_ttl": 0}, "db12": "keys=5,expires=0,avg_ttl=0", "dbx": 1, "used_memory": 5}
    assert R.parse_info_keyspace(info) == {0: {"keys": 3, "expires": 1, "avg_ttl": 0}, 12: {"keys": 5, "expires": 0, "avg_ttl": 0}}


@given(st.lists(st.binary(max_size=40), min_size=1, max_size=30), st.sampled_from([b"UNLINK", b"DEL"]))
def test_pack_command_is_what_redis_py_sends(keys, cmd):
    from redis.connection import Connection

    assert P.pack_command(cmd, keys) == b"".join(Connection().pack_command(cmd, *keys))
