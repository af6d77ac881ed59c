# SPDX-License-Identifier: GPL-3.0-or-later
"""The header parts of the module docs that Galaxy and the docs site show: a real author, a seealso on
every module, the action_group attribute exactly on the modules of meta/runtime.yml's action groups,
and boto3 under requirements of every module whose code can import it."""
from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py"))
RUNTIME = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())


@functools.lru_cache(maxsize=None)
def _all_docs() -> dict:
    """Every module's docs with its doc fragments merged in, as ansible-doc shows them (one call)."""
    names = [f"runbook.ops.{m}" for m in MODULES]
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    out = subprocess.run([str(Path(sys.executable).with_name("ansible-doc")), "--json", "-t", "module", *names],
                         capture_output=True, text=True, env=env, cwd=REPO, check=True).stdout
    return {k.rsplit(".", 1)[1]: v["doc"] for k, v in json.loads(out).items()}


def documentation(name: str) -> dict:
    return _all_docs()[name]


def module_utils_imported(path: Path, seen: set[str] | None = None) -> set[str]:
    """The collection's module_utils a module (or module_utils) file imports, transitively."""
    seen = set() if seen is None else seen
    for util in re.findall(r"ansible_collections\.runbook\.ops\.plugins\.module_utils\.(\w+)", path.read_text()):
        if util not in seen:
            seen.add(util)
            module_utils_imported(REPO / "plugins" / "module_utils" / f"{util}.py", seen)
    return seen


@pytest.mark.parametrize("name", MODULES)
def test_author_is_known_and_seealso_is_there(name):
    doc = documentation(name)
    authors = doc["author"] if isinstance(doc["author"], list) else [doc["author"]]
    assert all(re.fullmatch(r".+ \(@[\w-]+\)", a) for a in authors), authors
    assert doc.get("seealso"), "no seealso"


@pytest.mark.parametrize("name", MODULES)
def test_action_group_attribute_matches_runtime_yml(name):
    groups = sorted(g for g, members in RUNTIME["action_groups"].items() if name in members)
    attribute = documentation(name).get("attributes", {}).get("action_group")
    if not groups:
        assert attribute is None
        return
    assert attribute["membership"] == [f"runbook.ops.{g}" for g in groups]
    assert attribute["support"] == "full"
    assert all(f"group/runbook.ops.{g}" in attribute["description"] for g in groups)


@pytest.mark.parametrize("name", MODULES)
def test_boto3_is_a_requirement_of_every_module_that_imports_it(name):
    module = REPO / "plugins" / "modules" / f"{name}.py"
    code = [(REPO / "plugins" / "module_utils" / f"{u}.py").read_text() for u in module_utils_imported(module)]
    code.append(module.read_text())
    if any(re.search(r"^\s*import boto3", c, re.M) for c in code):
        assert any("boto3" in r for r in documentation(name).get("requirements", [])), "boto3 not under requirements"


def test_the_import_walk_finds_boto3_in_backup_copy():
    assert "_dest_s3" in module_utils_imported(REPO / "plugins" / "modules" / "backup_copy.py")
