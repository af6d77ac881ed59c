# SPDX-License-Identifier: GPL-3.0-or-later
"""The built tarball holds the collection and nothing else, also when it is built from a working tree
full of what development leaves behind: galaxy.yml's build_ignore keeps the known clutter out, and the
allow-list of scripts/tarball_allowlist.py (what scripts/build_check.sh runs) refuses anything else."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
import tarball_allowlist  # noqa: E402

GALAXY = Path(sys.executable).parent / "ansible-galaxy"

# what a checkout collects (venvs, caches, test and docs output, an earlier build): left out by build_ignore
CLUTTER = [".hypothesis/examples/x", ".cache/pip/y", ".venv-core216/bin/python", ".ansible/roles/z",
           ".pytest_cache/v/cache/lastfailed", "build/docs/html/index.html", "reports/weekly.json",
           "runbook-ops-0.0.9.tar.gz", "plugins/modules/__pycache__/pg_backup.cpython-311.pyc",
           "tests/output/junit.xml", "changelogs/fragments/x.yml", "docs/report-new.png",
           "roles/pg_backup/tasks/main.yml.orig",
           ".lanes/suites.result"]
# anything else: not excluded, so the allow-list must catch it
STRAYS = ["notes.txt", "roles/pg_backup/tasks/debug.txt", "playbooks/old/weekly.yml", "plugins/modules/scratch.sh"]


def tree_copy(dest: Path) -> Path:
    """The repository's files (tracked, and new ones git does not ignore), as a build from a checkout sees them."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, check=True,
                           capture_output=True, text=True).stdout.splitlines()
    for name in files:
        src = REPO / name
        if name.startswith("collections/") or not src.is_file() or src.is_symlink():
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / name)
    return dest


def build(tree: Path, out: Path) -> Path:
    subprocess.run([str(GALAXY), "collection", "build", "--output-path", str(out), "--force"], cwd=tree,
                   check=True, capture_output=True, text=True)
    return next(out.glob("runbook-ops-*.tar.gz"))


@pytest.fixture(scope="module")
def dirty_tarball(tmp_path_factory) -> Path:
    tree = tree_copy(tmp_path_factory.mktemp("tree"))
    for name in CLUTTER + STRAYS:
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text("stray\n")
    return build(tree, tmp_path_factory.mktemp("out"))


def test_a_build_of_the_tree_passes_the_allow_list(tmp_path):
    tarball = build(tree_copy(tmp_path / "tree"), tmp_path / "out")
    assert tarball_allowlist.problems(tarball_allowlist.members(str(tarball))) == []
    assert tarball_allowlist.main(["tarball_allowlist.py", str(tarball)]) == 0


def test_clutter_of_a_working_tree_stays_out(dirty_tarball):
    files = tarball_allowlist.members(str(dirty_tarball))
    assert [c for c in CLUTTER if c in files] == []
    # and what stays out in any case: dev scripts, requirements, tests, the screenshot
    dev = ("scripts", "requirements", "tests", "docs", "molecule", "awx", "bench", "Makefile", "pytest.ini", "ansible.cfg")
    assert [f for f in files if f.split("/")[0] in dev] == []


def test_a_stray_file_fails_the_check_by_name(dirty_tarball, capsys):
    found = tarball_allowlist.problems(tarball_allowlist.members(str(dirty_tarball)))
    assert sorted(found) == sorted(f"not on the allow-list: {s}" for s in STRAYS)
    assert tarball_allowlist.main(["tarball_allowlist.py", str(dirty_tarball)]) == 1
    assert "notes.txt" in capsys.readouterr().err


def test_a_missing_role_readme_and_license_fail_the_check(tmp_path):
    tarball = tmp_path / "runbook-ops-0.1.0.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        for name in ("MANIFEST.json", "FILES.json", "README.md", "meta/runtime.yml", "roles/redis/tasks/main.yml"):
            info = tarfile.TarInfo(name)
            tar.addfile(info)
    assert sorted(tarball_allowlist.problems(tarball_allowlist.members(str(tarball)))) == [
        "missing: LICENSE", "missing: roles/redis/README.md"]
