# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a playbook the way AWX runs a job: ansible-runner over a private data directory laid out as
AWX lays it out, from a checkout of the repository as the project.

What AWX puts there (awx/main/tasks/jobs.py, RunJob): ``project/`` (the project's files),
``inventory/hosts`` (an executable script printing the inventory as JSON), ``env/extravars`` (the
``awx_*`` / ``tower_*`` job variables, the template's variables and the survey answers, written as
``!unsafe`` strings), ``env/envvars`` (the job's environment, including the collections and roles
paths AWX derives from the project's ansible.cfg), and each credential's injected extra variables in
a file of ``env/`` passed with ``-e @file`` (``env/cmdline``). The injectors are the ones
awx/configure.yml creates (awx/vars/runbook.yml), rendered as AWX renders them.
"""
from __future__ import annotations

import configparser
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml
from harness.awx import inject_extra_vars

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


class _Unsafe(str):
    """A string AWX marks !unsafe so that Ansible never templates it (survey answers, secrets)."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Unsafe, lambda dumper, data: dumper.represent_scalar("!unsafe", str(data)))


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def _unsafe(value):
    if isinstance(value, dict):
        return {k: _unsafe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unsafe(v) for v in value]
    if isinstance(value, str):
        return _Unsafe(value)
    return value


def awx_settings() -> dict:
    return yaml.load((REPO / "awx" / "vars" / "runbook.yml").read_text(), Loader=_Loader)  # noqa: S506


def checkout(dest: Path) -> Path:
    """A fresh copy of the repository as git would check it out: tracked and new, not ignored files."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the work tree
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            target.symlink_to(os.readlink(src))
        elif src.is_file():
            shutil.copy2(src, target)
    return dest


def inject_credential(kind: str, inputs: dict) -> dict:
    """The extra variables AWX injects for a credential of runbook.ops' type `kind`
    (CredentialType.inject_credential: an immutable sandbox over the credential's inputs)."""
    ctype = {c["key"]: c for c in awx_settings()["runbook_awx_credential_types"]}[kind]
    return inject_extra_vars(ctype, inputs)


def _awx_paths(project: Path, pdd: Path) -> dict:
    """ANSIBLE_COLLECTIONS_PATHS / ANSIBLE_ROLES_PATH as RunJob.build_env derives them from the project's ansible.cfg."""
    cfg = configparser.ConfigParser()
    cfg.read(project / "ansible.cfg")
    defaults = cfg["defaults"] if cfg.has_section("defaults") else {}
    env = {}
    for key, setting, folder, default in (
            ("ANSIBLE_COLLECTIONS_PATHS", "collections_paths", "requirements_collections",
             "~/.ansible/collections:/usr/share/ansible/collections"),
            ("ANSIBLE_ROLES_PATH", "roles_path", "requirements_roles",
             "~/.ansible/roles:/usr/share/ansible/roles:/etc/ansible/roles")):
        paths = default.split(":")
        if setting in defaults:
            paths = [defaults[setting]] + paths
        env[key] = ":".join([str(pdd / folder)] + paths)
    return env


@dataclass
class Job:
    pdd: Path
    ident: str
    status: str
    rc: int
    events: list[dict]
    stdout: str

    @property
    def artifacts(self) -> dict:
        """AWX's job.artifacts: artifact_data of the playbook_on_stats event."""
        stats = [e for e in self.events if e.get("event") == "playbook_on_stats"]
        assert len(stats) == 1, [e.get("event") for e in self.events][-5:]
        return stats[0]["event_data"].get("artifact_data", {})

    def raw_output(self) -> str:
        """Everything AWX stores and shows of the job: its events and its stdout."""
        events_dir = self.pdd / "artifacts" / self.ident / "job_events"
        return "\n".join(p.read_text() for p in sorted(events_dir.glob("*.json"))) + "\n" + self.stdout


def run_job(tmp: Path, project_src: Path, template: str, *, inventory_vars: dict, groups: list[str],
            credentials: dict[str, dict], survey: dict | None = None, artifacts: dict | None = None,
            job_type: str = "run", verbosity: int = 0, limit: str | None = None, job_id: int = 1) -> Job:
    """Launch the job template `template` (a key of runbook_awx_job_templates) as AWX would."""
    settings = awx_settings()
    jt = {t["key"]: t for t in settings["runbook_awx_job_templates"]}[template]
    pdd = Path(tempfile.mkdtemp(prefix=f"awx_{job_id}_", dir=tmp))
    project = pdd / "project"
    shutil.copytree(project_src, project, symlinks=True)
    (pdd / "env").mkdir()
    (pdd / "inventory").mkdir()
    home = pdd / "home"
    home.mkdir()

    # inventory/hosts: an executable script that prints the inventory (AWX's build_inventory)
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    data = {"all": {"vars": inventory_vars, "children": groups},
            "_meta": {"hostvars": {"localhost": local}}}
    for group in groups:
        data[group] = {"hosts": ["localhost"]}
    script = pdd / "inventory" / "hosts"
    script.write_text("#! /usr/bin/env python3\n# -*- coding: utf-8 -*-\nimport json\n"
                      f"inventory = json.loads({json.dumps(data)!r})\nprint(json.dumps(inventory))\n")
    script.chmod(stat.S_IRWXU)

    # env/extravars: the job's variables; answers and artifacts are !unsafe, AWX's own are not
    name = f"{settings['runbook_awx_prefix']} {template}"
    extra = {}
    for prefix in ("awx", "tower"):
        extra.update({f"{prefix}_job_id": job_id, f"{prefix}_job_launch_type": "scheduled",
                      f"{prefix}_job_template_id": 7, f"{prefix}_job_template_name": name,
                      f"{prefix}_project_revision": "0" * 40, f"{prefix}_project_scm_branch": "main",
                      f"{prefix}_inventory_id": 3, f"{prefix}_inventory_name": "test stack",
                      f"{prefix}_execution_node": "awx-ee", f"{prefix}_host": "https://awx.example.invalid",
                      f"{prefix}_schedule_id": 11, f"{prefix}_schedule_name": f"{name} schedule"})
    extra.update(_unsafe(artifacts or {}))
    extra.update(_unsafe(survey or {}))
    (pdd / "env" / "extravars").write_text(yaml.dump(extra, Dumper=_Dumper))

    # each credential's injected extra variables: a read-only file of env/, passed with -e @file
    cmdline = []
    for kind, inputs in credentials.items():
        fd, path = tempfile.mkstemp(dir=pdd / "env")
        with os.fdopen(fd, "w") as handle:
            handle.write(yaml.dump(_unsafe(inject_credential(kind, inputs)), Dumper=_Dumper))
        os.chmod(path, stat.S_IRUSR)
        cmdline += ["-e", f"@{path}"]
    if job_type == "check":
        cmdline.append("--check")
    if verbosity:
        cmdline.append("-" + "v" * verbosity)
    (pdd / "env" / "cmdline").write_text(" ".join(cmdline))

    envvars = {"ANSIBLE_FORCE_COLOR": "True", "ANSIBLE_HOST_KEY_CHECKING": "False",
               "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True", "ANSIBLE_PARAMIKO_RECORD_HOST_KEYS": "False",
               "AWX_PRIVATE_DATA_DIR": str(pdd), "JOB_ID": str(job_id), "INVENTORY_ID": "3",
               "PROJECT_REVISION": "0" * 40, "ANSIBLE_RETRY_FILES_ENABLED": "False", "MAX_EVENT_RES": "700000",
               "AWX_HOST": "https://awx.example.invalid", "ANSIBLE_SSH_CONTROL_PATH_DIR": str(pdd / "cp")}
    envvars.update(_awx_paths(project, pdd))
    (pdd / "env" / "envvars").write_text(yaml.safe_dump(envvars))
    (pdd / "env" / "settings").write_text(yaml.safe_dump({"job_timeout": jt["timeout"], "pexpect_timeout": 5,
                                                          "suppress_ansible_output": True}))

    # the execution environment's process: nothing of this machine's Ansible setup, a fresh HOME
    env = {"PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
           "TMPDIR": str(pdd)}
    ident = str(job_id)
    argv = [str(BIN / "ansible-runner"), "run", str(pdd), "-p", jt["playbook"], "--inventory", str(script),
            "--ident", ident, "-q"]
    if limit:
        argv += ["--limit", limit]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900, check=False)
    art = pdd / "artifacts" / ident
    assert (art / "status").is_file(), proc.stdout + proc.stderr
    events = [json.loads(p.read_text()) for p in sorted((art / "job_events").glob("*.json"),
                                                        key=lambda p: int(p.name.split("-", 1)[0]))]
    return Job(pdd=pdd, ident=ident, status=(art / "status").read_text().strip(), rc=int((art / "rc").read_text()),
               events=events, stdout=(art / "stdout").read_text())
