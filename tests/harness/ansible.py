# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the collection's modules and playbooks through Ansible, as users do.

Every call is a real `ansible` / `ansible-playbook` process run from the
repository root (so ansible.cfg resolves runbook.ops to this tree), with the
JSON stdout callback so the test reads the module's real return value.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The directory of the `ansible` / `ansible-playbook` to run: the test venv's own, or
# RUNBOOK_ANSIBLE_BIN_DIR (another venv's bin, e.g. ansible-core 2.16's, for
# make test-ansible-cores). Its Python runs the modules on localhost.
BIN = Path(os.environ.get("RUNBOOK_ANSIBLE_BIN_DIR") or Path(sys.executable).parent)


def ansible_core_version() -> tuple[int, int]:
    """(major, minor) of the ansible-core that BIN holds."""
    out = subprocess.run([str(BIN / "ansible"), "--version"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"core (\d+)\.(\d+)", out)
    if not m:
        raise RuntimeError(f"cannot parse `ansible --version`: {out!r}")
    return int(m.group(1)), int(m.group(2))


def ansible_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
        PATH=f"{BIN}:{env.get('PATH', '')}",
    )
    env.pop("ANSIBLE_COLLECTIONS_PATHS", None)
    if extra:
        env.update(extra)
    return env


@dataclass
class ModuleResult:
    """One module run: its return value, plus what ansible printed."""

    result: dict
    rc: int
    stdout: str
    stderr: str

    def __getitem__(self, key):
        return self.result[key]

    def get(self, key, default=None):
        return self.result.get(key, default)

    @property
    def failed(self) -> bool:
        return bool(self.result.get("failed"))

    @property
    def changed(self) -> bool:
        return bool(self.result.get("changed"))


def _parse_json_output(stdout: str) -> dict:
    start = stdout.find("{")
    if start < 0:
        raise AssertionError(f"no JSON in ansible output:\n{stdout}")
    # the JSON callback's document; a line other callbacks print after it (the run report's link,
    # which ansible-core before 2.19 shows after the stdout callback's output) is not part of it
    data, _end = json.JSONDecoder().raw_decode(stdout[start:])
    return data


def run_module(module: str, args: dict, check: bool = False, diff: bool = False,
               env: dict | None = None, timeout: int = 600, extra_vars: dict | None = None) -> ModuleResult:
    """`ansible localhost -m runbook.ops.<module> -a '<json>'` and its result."""
    fqcn = module if "." in module else f"runbook.ops.{module}"
    argv = [str(BIN / "ansible"), "localhost", "-m", fqcn, "-a", json.dumps(args)]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    proc = subprocess.run(argv, cwd=REPO, env=ansible_env(env), capture_output=True, text=True, timeout=timeout, check=False)
    data = _parse_json_output(proc.stdout)
    task = data["plays"][0]["tasks"][0]
    result = task["hosts"]["localhost"]
    return ModuleResult(result=result, rc=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)


@dataclass
class PlaybookResult:
    data: dict
    rc: int
    stdout: str
    stderr: str

    def task_results(self, name: str, host: str = "localhost") -> list[dict]:
        """Results of every task called `name` on `host`, in order."""
        out = []
        for play in self.data.get("plays", []):
            for task in play.get("tasks", []):
                if task["task"]["name"] == name and host in task["hosts"]:
                    out.append(task["hosts"][host])
        return out

    @property
    def stats(self) -> dict:
        return self.data.get("stats", {})


def run_playbook(playbook: str | Path, extra_vars: dict | None = None, inventory: str | None = None,
                 check: bool = False, diff: bool = False, env: dict | None = None,
                 tags: str | None = None, timeout: int = 1200) -> PlaybookResult:
    argv = [str(BIN / "ansible-playbook"), str(playbook)]
    if inventory:
        argv += ["-i", inventory]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    if tags:
        argv += ["--tags", tags]
    proc = subprocess.run(argv, cwd=REPO, env=ansible_env(env), capture_output=True, text=True, timeout=timeout, check=False)
    return PlaybookResult(data=_parse_json_output(proc.stdout), rc=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)


def no_traceback(r) -> None:
    """A failed module result that says what went wrong in words: no Python traceback, no MODULE FAILURE."""
    assert "Traceback" not in r.get("msg", "")
    # ansible-core 2.19 adds "(traceback unavailable)" to every fail_json without a traceback
    assert r.get("exception", "(traceback unavailable)") == "(traceback unavailable)"
    assert "MODULE FAILURE" not in r.get("msg", "")
