# SPDX-License-Identifier: GPL-3.0-or-later
"""Retention choice of module_utils/_backup.py: examples plus hypothesis properties."""
from __future__ import annotations

import datetime as dt
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B
from ansible_collections.runbook.ops.plugins.module_utils._backup import BackupRecord, plan_retention

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)


def rec(i: int, age_days: float, verified: bool = True, complete: bool = True) -> BackupRecord:
    return BackupRecord(id=f"b{i:03d}", name="db", kind="postgres",
                        finished_at=NOW - dt.timedelta(days=age_days), verified=verified, complete=complete)


def ids(decisions):
    return sorted(d.record.id for d in decisions)


def test_keep_last_counts_only_verified():
    backups = [rec(0, 0, verified=False), rec(1, 1), rec(2, 2, verified=False), rec(3, 3), rec(4, 4)]
    plan = plan_retention(backups, keep_last=2, now=NOW)
    assert ids(plan.delete) == ["b004"]
    assert ids(plan.keep) == ["b000", "b001", "b002", "b003"]


def test_newest_verified_survives_any_age():
    backups = [rec(0, 400), rec(1, 500), rec(2, 1, verified=False)]
    plan = plan_retention(backups, keep_last=1, max_age_days=30, now=NOW)
    assert ids(plan.keep) == ["b000", "b002"]
    assert ids(plan.delete) == ["b001"]
    reasons = {d.record.id: d.reason for d in plan.decisions}
    assert "always kept" in reasons["b000"]
    assert "keep_last=1" in reasons["b001"] and "max_age_days=30" in reasons["b001"]


def test_max_age_only():
    plan = plan_retention([rec(0, 1), rec(1, 10), rec(2, 40)], max_age_days=30, now=NOW)
    assert ids(plan.delete) == ["b002"]


def test_no_limits_deletes_nothing():
    plan = plan_retention([rec(0, 1), rec(1, 10), rec(2, 400)], now=NOW)
    assert plan.delete == []


def test_incomplete_is_never_counted_nor_deleted_by_default():
    plan = plan_retention([rec(0, 0, complete=False), rec(1, 1), rec(2, 2)], keep_last=1, now=NOW)
    assert ids(plan.delete) == ["b002"]
    assert "incomplete" in next(d.reason for d in plan.decisions if d.record.id == "b000")


def test_prune_unverified_only_older_than_newest_verified():
    backups = [rec(0, 0, verified=False), rec(1, 1), rec(2, 2, verified=False)]
    plan = plan_retention(backups, keep_last=5, prune_unverified=True, now=NOW)
    assert ids(plan.delete) == ["b002"]
    # no verified backup at all: nothing unverified is deleted
    plan = plan_retention([rec(0, 0, verified=False), rec(1, 9, verified=False)], keep_last=1,
                          max_age_days=1, prune_unverified=True, now=NOW)
    assert plan.delete == []


@pytest.mark.parametrize("kwargs", [{"keep_last": 0}, {"max_age_days": -1}])
def test_bad_settings(kwargs):
    with pytest.raises(ValueError):
        plan_retention([rec(0, 0)], now=NOW, **kwargs)


backup_sets = st.lists(
    st.tuples(
        # age in days; negative: a clock a little ahead, within the trusted skew (further ahead: test_clock_properties)
        st.floats(min_value=-0.99 * B.CLOCK_SKEW_SECONDS / 86400, max_value=1000, allow_nan=False),
        st.booleans(),  # verified
        st.booleans(),  # complete
    ),
    max_size=30,
)


@settings(max_examples=400, deadline=None)
@given(backup_sets, st.one_of(st.none(), st.integers(1, 10)), st.one_of(st.none(), st.floats(0, 400)), st.booleans())
def test_properties(items, keep_last, max_age, prune_unverified):
    backups = [rec(i, age, verified, complete) for i, (age, verified, complete) in enumerate(items)]
    plan = plan_retention(backups, keep_last=keep_last, max_age_days=max_age, now=NOW,
                          prune_unverified=prune_unverified)
    # every backup gets exactly one decision
    assert sorted(d.record.id for d in plan.decisions) == sorted(b.id for b in backups)
    countable = [b for b in backups if b.verified and b.complete]
    kept = {d.record.id for d in plan.keep}
    deleted = {d.record.id for d in plan.delete}
    if countable:
        newest = max(countable, key=lambda b: (b.finished_at, b.id))
        # the newest verified backup always survives
        assert newest.id in kept
    else:
        # nothing verified: nothing may be deleted
        assert not deleted
    # nothing unverified counts toward keep_last: the newest keep_last verified ones are all kept
    # unless max_age removes them; with max_age unset, exactly min(n, keep_last) verified survive
    if keep_last is not None and max_age is None:
        kept_verified = [b for b in countable if b.id in kept]
        assert len(kept_verified) == min(len(countable), keep_last)
        newest_n = sorted(countable, key=lambda b: (b.finished_at, b.id), reverse=True)[:keep_last]
        assert {b.id for b in newest_n} == {b.id for b in kept_verified}
    # unverified / incomplete ones are deleted only when pruning and older than the newest verified
    for b in backups:
        if not (b.verified and b.complete) and b.id in deleted:
            assert prune_unverified
            assert (b.finished_at, b.id) < (newest.finished_at, newest.id)
    # a verified backup younger than max_age and within keep_last is kept
    for i, b in enumerate(sorted(countable, key=lambda b: (b.finished_at, b.id), reverse=True)):
        age = (NOW - b.finished_at).total_seconds() / 86400
        within_n = keep_last is None or i < keep_last
        young = max_age is None or age <= max_age
        assert (b.id in kept) == (i == 0 or (within_n and young))
    # adding unverified backups never changes what happens to verified ones
    extra = backups + [rec(1000 + j, j * 0.5, verified=False) for j in range(3)]
    plan2 = plan_retention(extra, keep_last=keep_last, max_age_days=max_age, now=NOW)
    verified_actions = {d.record.id: d.action for d in plan.decisions if d.record.verified and d.record.complete}
    verified_actions2 = {d.record.id: d.action for d in plan2.decisions if d.record.verified and d.record.complete}
    assert verified_actions == verified_actions2


# ---------------------------------------------------------------------------
# clocks that lie (issue 15): timestamps in the future, this run's backup
# ---------------------------------------------------------------------------
SKEW = B.CLOCK_SKEW_SECONDS


def test_year_ahead_manifest_does_not_outrank_this_runs_backup():
    stale = rec(1, -365)  # dated a year ahead
    stale.manifest_path = "/backups/db-stale.dump.manifest.json"
    new = rec(2, 0)
    plan = plan_retention([stale, new], keep_last=1, now=NOW, current=[new.id])
    assert ids(plan.keep) == ["b001", "b002"] and plan.delete == []
    assert len(plan.warnings) == 1 and stale.manifest_path in plan.warnings[0] and "future" in plan.warnings[0]
    assert "made by this run" in next(d.reason for d in plan.decisions if d.record.id == "b002")
    assert B.latest_verified([stale, new], now=NOW) is new
    best, warnings = B.pick_latest([stale, new], now=NOW)
    assert best is new and stale.manifest_path in warnings[0]
    # only a future-dated verified backup: there is no trustworthy latest
    assert B.latest_verified([stale], now=NOW) is None


def test_small_skew_is_trusted():
    ahead = rec(1, -60 / 86400)  # one minute ahead: within the allowance
    plan = plan_retention([ahead, rec(2, 1)], keep_last=1, now=NOW)
    assert plan.warnings == [] and ids(plan.delete) == ["b002"]
    assert B.latest_verified([ahead, rec(2, 1)], now=NOW) is ahead


def test_this_runs_backup_is_kept_even_unverified_or_behind():
    # this host's clock is a day behind: its new backup looks older than the others
    new = rec(9, 1, verified=False)
    plan = plan_retention([new, rec(1, 0.5), rec(2, 0.2)], keep_last=1, now=NOW, current=[new.id],
                          prune_unverified=True)
    assert "b009" in ids(plan.keep) and ids(plan.delete) == ["b001"]
    # current given as a path works too
    new.path = "/b/new.dump"
    plan = plan_retention([new, rec(1, 0.5)], keep_last=1, now=NOW, current=["/b/new.dump"], prune_unverified=True)
    assert "b009" in ids(plan.keep)


def test_keyword_compatible_signature():
    # positional form used by every caller before issue 15 (and issue 17's remote retention)
    plan = plan_retention([rec(0, 0), rec(1, 1)], 1, None, NOW, False)
    assert ids(plan.delete) == ["b001"] and plan.warnings == []


clock_sets = st.lists(
    st.tuples(
        # age in days: negative is in the future, up to ~3 years ahead; includes tiny skews
        st.one_of(st.floats(min_value=-1100, max_value=1100, allow_nan=False),
                  st.floats(min_value=-2 * SKEW / 86400, max_value=2 * SKEW / 86400, allow_nan=False)),
        st.booleans(),  # verified
        st.booleans(),  # complete
    ),
    max_size=25,
)


@settings(max_examples=400, deadline=None)
@given(clock_sets, st.one_of(st.none(), st.integers(0, 24)), st.booleans(), st.booleans(),
       st.one_of(st.none(), st.integers(1, 5)), st.one_of(st.none(), st.floats(0, 400)), st.booleans())
def test_clock_properties(items, current_index, current_verified, current_complete, keep_last, max_age,
                          prune_unverified):
    backups = [rec(i, age, verified, complete) for i, (age, verified, complete) in enumerate(items)]
    for b in backups:
        b.manifest_path = f"/backups/{b.id}.manifest.json"
    current = []
    if current_index is not None:
        # this run's backup, made now (or behind: its clock may be the wrong one)
        mine = rec(900, 0 if current_index % 3 else current_index, current_verified, current_complete)
        backups.append(mine)
        current = [mine.id]
    plan = plan_retention(backups, keep_last=keep_last, max_age_days=max_age, now=NOW,
                          prune_unverified=prune_unverified, current=current)
    assert sorted(d.record.id for d in plan.decisions) == sorted(b.id for b in backups)
    kept = {d.record.id for d in plan.keep}
    deleted = {d.record.id for d in plan.delete}
    assert not kept & deleted
    future = [b for b in backups if b.id not in current and (b.finished_at - NOW).total_seconds() > SKEW]
    # this run's backup is never deleted by this run's retention
    assert set(current) <= kept
    # a future-dated backup is never deleted, and each gets one warning naming its manifest
    assert not {b.id for b in future} & deleted
    assert len(plan.warnings) == len(future)
    for b in future:
        assert sum(b.manifest_path in w for w in plan.warnings) == 1
    # the newest verified backup (by its own timestamp, lying or not) is never deleted
    countable = [b for b in backups if b.countable]
    if countable:
        assert max(countable, key=lambda b: (b.finished_at, b.id)).id in kept
    # a future timestamp never outranks this run's verified backup: with keep_last=1, the only trusted
    # verified backups that survive are this run's and the newest trusted one
    trusted = [b for b in countable if b not in future]
    if keep_last == 1 and current and backups[-1].countable:
        survivors = {b.id for b in trusted if b.id in kept}
        newest_trusted = max(trusted, key=lambda b: (b.finished_at, b.id))
        assert survivors == {current[0], newest_trusted.id}
    # pick_latest: the newest trusted verified backup, never a future one
    best, warnings = B.pick_latest(backups, now=NOW)
    if trusted:
        assert best is max(trusted, key=lambda b: (b.finished_at, b.id))
    else:
        assert best is None
    assert len(warnings) == len([b for b in future if b.countable])


def test_run_report_files_use_the_same_engine(tmp_path):
    from ansible_collections.runbook.ops.plugins.module_utils import _run_report_files as F

    now = B.utcnow()

    def st_(days):
        return (now + dt.timedelta(days=days)).strftime("%Y%m%dT%H%M%SZ")

    future, old1, old2, new = st_(365), st_(-2), st_(-1), st_(0)
    for s in (future, old1, old2):
        for p in F.run_report_paths(str(tmp_path), "weekly", s):
            open(p, "w").close()
    doomed = F.plan_report_retention(str(tmp_path), "weekly", 1, new)
    assert sorted(os.path.basename(p) for p in doomed) == sorted(
        os.path.basename(p) for s in (old1, old2) for p in F.run_report_paths(str(tmp_path), "weekly", s))
    # without the new run's stamp the newest trustworthy run is kept, the future one too
    doomed = F.plan_report_retention(str(tmp_path), "weekly", 1)
    assert {os.path.basename(p) for p in doomed} == {os.path.basename(p) for p in F.run_report_paths(str(tmp_path), "weekly", old1)}
