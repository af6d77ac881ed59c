# SPDX-License-Identifier: GPL-3.0-or-later
"""apply_retention of module_utils/_backup.py, the one place a retention plan is carried out (pg_backup,
redis_backup, file_backup; and the remote retention through its own ``delete``): real files in tmp dirs."""
from __future__ import annotations

import datetime as dt
import os
from types import SimpleNamespace

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import _backup as B

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)
KINDS = ("postgres", "redis", "files")


def make_backup(directory, name, age_days, verified=True, kind="postgres"):
    when = NOW - dt.timedelta(days=age_days)
    final = os.path.join(str(directory), B.backup_basename(name, when, ".bin"))
    with B.atomic_writer(final) as fh:
        fh.write(b"data " + final.encode())
    manifest = B.new_manifest(kind, name, final, when, when, B.file_entries(final, str(directory)), {})
    B.set_verification(manifest, "list", verified)
    B.write_manifest(B.manifest_path_for(final), manifest)
    return final


def on_disk(*paths):
    return [os.path.exists(p) and os.path.exists(B.manifest_path_for(p)) for p in paths]


def apply(directory, kind="postgres", **kwargs):
    warnings: list[str] = []
    report: dict = {}
    deleted: list[str] = []
    kwargs.setdefault("now", NOW)
    plan = B.apply_retention(B.read_manifests(str(directory), kind, "db"), warn=warnings.append, report=report,
                             deleted=deleted, **kwargs)
    return SimpleNamespace(plan=plan, report=report, deleted=deleted, warnings=warnings)


@pytest.mark.parametrize("kind", KINDS)
def test_deletes_beyond_the_limits_and_reports_it(tmp_path, kind):
    paths = [make_backup(tmp_path, "db", age, kind=kind) for age in (0, 1, 2, 3)]
    other = make_backup(tmp_path, "other", 9, kind=kind)  # another series: never looked at
    r = apply(tmp_path, kind, keep_last=2)
    assert on_disk(*paths) == [True, True, False, False] and on_disk(other) == [True]
    assert sorted(r.deleted) == sorted(paths[2:]) and r.warnings == []
    assert [d["path"] for d in r.report["delete"]] == paths[2:]
    assert [d["path"] for d in r.report["keep"]] == paths[:2] and r.report["warnings"] == []
    assert [d.record.path for d in r.plan.delete] == paths[2:]


def test_the_newest_verified_backup_is_never_deleted(tmp_path):
    old_good = make_backup(tmp_path, "db", 30)
    newer_bad = [make_backup(tmp_path, "db", age, verified=False) for age in (1, 2)]
    r = apply(tmp_path, keep_last=1, max_age_days=0, prune_unverified=True)
    assert on_disk(old_good) == [True] and r.deleted == []
    assert on_disk(*newer_bad) == [True, True]  # newer than the newest verified: kept
    assert "newest verified backup (always kept)" in next(d["reason"] for d in r.report["keep"] if d["path"] == old_good)


def test_the_backup_made_by_this_run_is_never_deleted(tmp_path):
    # this host's clock is a day behind, and the new backup failed verification
    mine = make_backup(tmp_path, "db", 1, verified=False)
    others = [make_backup(tmp_path, "db", age) for age in (0.5, 0.2)]
    for current in ([mine], [os.path.basename(mine)]):  # by path or by record id
        r = apply(tmp_path, keep_last=1, max_age_days=0, prune_unverified=True, current=current, check_mode=True)
        assert mine not in r.deleted
        assert "made by this run" in next(d["reason"] for d in r.report["keep"] if d["path"] == mine)
    r = apply(tmp_path, keep_last=1, max_age_days=0, prune_unverified=True, current=[mine])
    assert on_disk(mine, *others) == [True, False, True] and r.deleted == [others[0]]


def test_a_future_dated_backup_does_not_outrank_now(tmp_path):
    ahead = make_backup(tmp_path, "db", -365)  # a year ahead: its clock lied
    older = make_backup(tmp_path, "db", 2)
    new = make_backup(tmp_path, "db", 0)
    r = apply(tmp_path, keep_last=1, current=[new])
    assert on_disk(ahead, older, new) == [True, False, True] and r.deleted == [older]
    assert len(r.warnings) == 1 and B.manifest_path_for(ahead) in r.warnings[0] and "future" in r.warnings[0]
    assert r.report["warnings"] == r.warnings
    # without this run's backup, the newest trustworthy one is kept, not outranked by the future one
    r = apply(tmp_path, keep_last=1, max_age_days=0)
    assert r.deleted == [] and on_disk(ahead, new) == [True, True]


def test_check_mode_reports_and_deletes_nothing(tmp_path):
    paths = [make_backup(tmp_path, "db", age) for age in (0, 1, 2)]
    calls = []
    r = apply(tmp_path, keep_last=1, check_mode=True, delete=calls.append)
    assert on_disk(*paths) == [True, True, True] and calls == []
    assert r.deleted == paths[1:] and [d["path"] for d in r.report["delete"]] == paths[1:]
    assert [d.record.path for d in r.plan.delete] == paths[1:]


def test_a_destination_deletes_with_its_own_function(tmp_path):
    paths = [make_backup(tmp_path, "db", age) for age in (0, 1, 2)]
    gone = []
    r = apply(tmp_path, keep_last=2, delete=lambda rec: gone.append(rec.id))
    assert gone == [os.path.basename(paths[2])] and r.deleted == [paths[2]]
    assert on_disk(*paths) == [True, True, True]  # the default delete_backup was not used


def test_a_failure_part_way_still_reports_the_plan_and_what_is_gone(tmp_path):
    paths = [make_backup(tmp_path, "db", age) for age in (0, 1, 2, 3)]

    def delete(rec):
        if rec.path == paths[3]:
            raise OSError("read-only file system")
        B.delete_backup(rec)

    report: dict = {}
    deleted: list[str] = []
    with pytest.raises(OSError):
        B.apply_retention(B.read_manifests(str(tmp_path), "postgres", "db"), 1, now=NOW, delete=delete,
                          report=report, deleted=deleted)
    assert [d["path"] for d in report["delete"]] == paths[1:]
    assert deleted == paths[1:3] and on_disk(*paths) == [True, False, False, True]


def test_no_limits_deletes_nothing_and_bad_limits_are_refused(tmp_path):
    paths = [make_backup(tmp_path, "db", age) for age in (0, 100)]
    r = apply(tmp_path)
    assert r.deleted == [] and on_disk(*paths) == [True, True]
    for kwargs in ({"keep_last": 0}, {"max_age_days": -1}):
        with pytest.raises(ValueError):
            apply(tmp_path, **kwargs)
    assert on_disk(*paths) == [True, True]


def test_spared_backups_are_ranked_but_kept(tmp_path):
    # the remote retention's rule: the copies this run made count as usual but are never deleted by it
    paths = [make_backup(tmp_path, "db", age) for age in (0, 1, 2, 3)]
    made_now = {os.path.basename(p) for p in paths[2:]}

    def spare(decision):
        return f"copied by this run (retention would: {decision.reason})" if decision.record.id in made_now else None

    r = apply(tmp_path, keep_last=1, spare=spare)
    assert on_disk(*paths) == [True, False, True, True] and r.deleted == [paths[1]]
    assert [d["path"] for d in r.report["delete"]] == [paths[1]]
    spared = [d for d in r.report["keep"] if d["reason"].startswith("copied by this run")]
    assert [d["path"] for d in spared] == paths[2:] and all(d["action"] == "keep" for d in spared)
    assert "beyond keep_last=1" in spared[0]["reason"]
