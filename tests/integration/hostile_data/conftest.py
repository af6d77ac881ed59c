# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the hostile-data suite (issue 15): real PostgreSQL (the session server) and
private real Redis servers, a fresh database and a backup directory per test."""
from __future__ import annotations

import itertools
import json
import os

import pytest
from harness.redis import redis_factory, restartable

_seq = itertools.count()


@pytest.fixture
def fresh_redis():
    """A private Redis server per test (persistence off, like the harness default); stopped at the end."""
    with redis_factory() as make:
        yield make


@pytest.fixture
def restartable_redis(fresh_redis):
    """A Redis server plus real stop/start argv lists (redis-cli SHUTDOWN NOSAVE / redis-server --daemonize)."""
    with restartable(fresh_redis()) as pair:
        yield pair


@pytest.fixture
def fresh_db(pg):
    """A new empty database name on the session server; dropped at the end (with any it names in `extra`)."""
    made: list[str] = []

    def make(prefix: str = "hd") -> str:
        name = f"{prefix}_{os.getpid()}_{next(_seq)}"
        pg.psql(f'CREATE DATABASE "{name}"')
        made.append(name)
        return name

    make.made = made
    try:
        yield make
    finally:
        for name in made:
            pg.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def shift_manifest():
    """shift_manifest(path, days): move a manifest's dates ``days`` into the future (a wrong clock)."""
    return _shift_manifest


def _shift_manifest(manifest_path: str, days: float) -> None:
    import datetime as dt

    with open(manifest_path, encoding="utf-8") as fh:
        data = json.load(fh)
    for key in ("started_at", "finished_at"):
        when = dt.datetime.fromisoformat(data[key].replace("Z", "+00:00")) + dt.timedelta(days=days)
        data[key] = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with open(manifest_path, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
