# SPDX-License-Identifier: GPL-3.0-or-later
"""The pg_backup on-host runner copies a fixed list of collection files: it must be every module_utils
file pg_backup imports, directly or through another module_utils file (a missing one breaks every
scheduled backup on the host, and only the slow schedule test would notice)."""
from __future__ import annotations

import ast
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "ansible_collections.runbook.ops.plugins.module_utils."


def collection_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith(PREFIX):
                found.add(node.module[len(PREFIX):])
            elif node.module == PREFIX.rstrip("."):
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name[len(PREFIX):] for a in node.names if a.name.startswith(PREFIX))
    return found


def test_runner_copies_every_module_util_pg_backup_needs():
    todo, needed = ["plugins/modules/pg_backup.py"], set()
    while todo:
        for name in collection_imports(ROOT / todo.pop()):
            rel = f"plugins/module_utils/{name}.py"
            if rel not in needed:
                needed.add(rel)
                todo.append(rel)
    listed = yaml.safe_load((ROOT / "roles/pg_backup/vars/main.yml").read_text())["_pg_backup_schedule_collection_files"]
    assert needed <= set(listed), f"add to roles/pg_backup/vars/main.yml: {sorted(needed - set(listed))}"
    assert "plugins/module_utils/_module_run.py" in needed  # the walk really follows imports
