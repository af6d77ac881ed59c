# SPDX-License-Identifier: GPL-3.0-or-later
"""The execution environment definitions: execution-environment.yml (schema 3) and the
collection's meta/execution-environment.yml with its requirement files."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml
from ansible_builder.ee_schema import validate_schema
from bindep.depends import Depends
from packaging.requirements import Requirement

# Importing ansible_builder sets sys.tracebacklimit = 0 for the whole process,
# which strips the tracebacks other tests (and their failure reports) rely on.
if getattr(sys, "tracebacklimit", None) == 0:
    del sys.tracebacklimit

REPO = Path(__file__).resolve().parents[2]

RPM = ["platform:rpm", "platform:redhat", "platform:centos"]
DPKG = ["platform:dpkg", "platform:debian"]


def _requirements(path: Path) -> list[Requirement]:
    lines = [re.sub(r"\s+#.*$", "", line).strip() for line in path.read_text().splitlines()]
    return [Requirement(line) for line in lines if line and not line.startswith("#")]


def test_project_execution_environment_is_a_valid_schema_3_definition():
    ee = yaml.safe_load((REPO / "execution-environment.yml").read_text())
    validate_schema(ee)  # raises on an invalid definition
    assert ee["version"] == 3
    deps = ee["dependencies"]
    assert {"ansible_core", "ansible_runner", "python_interpreter", "galaxy", "system"} <= set(deps)
    # a current ansible-core (2.20+ needs Python 3.12+) and what Ansible needs to reach hosts
    core = Requirement(deps["ansible_core"]["package_pip"])
    assert core.name == "ansible-core" and core.specifier.contains("2.21.5") and not core.specifier.contains("2.19.14")
    assert deps["python_interpreter"]["python_path"] == "/usr/bin/python3.12"
    system = {rule[0] for rule in Depends("\n".join(deps["system"]) + "\n").active_rules(RPM)}
    assert system == {"openssh-clients", "sshpass", "rsync"}
    galaxy = yaml.safe_load((REPO / deps["galaxy"]).read_text())
    assert galaxy["collections"] == [{"name": "runbook_ops", "type": "dir"}]
    # the collection's sources reach the build context under runbook_ops/, galaxy.yml first
    sources = [f["src"] for f in ee["additional_build_files"] if f["dest"].split("/")[0] == "runbook_ops"]
    assert {"galaxy.yml", "plugins", "roles", "playbooks", "meta"} <= set(sources)
    assert all((REPO / s).exists() for s in sources)


def test_collection_ee_metadata_points_at_its_requirement_files():
    meta = yaml.safe_load((REPO / "meta" / "execution-environment.yml").read_text())
    files = meta["dependencies"]
    assert set(files) == {"python", "system"}
    for rel in files.values():
        assert not Path(rel).is_absolute() and (REPO / rel).is_file(), rel


def test_python_requirements_have_ranges_no_pins_and_no_ansible():
    reqs = _requirements(REPO / "meta" / "ee-requirements.txt")
    names = {r.name.lower() for r in reqs}
    # boto3: backup_copy / backup_fetch to S3 from the execution environment
    assert names == {"psycopg", "redis", "jmespath", "boto3"}
    assert not names & {"ansible", "ansible-core", "ansible-base"}
    for r in reqs:
        assert r.specifier and not any(s.operator in ("==", "===") for s in r.specifier), str(r)
    # the same packages the modules need on a managed host
    runtime = {r.name.lower(): r for r in _requirements(REPO / "requirements" / "runtime.txt")}
    assert names - {"boto3"} == set(runtime)
    for r in reqs:
        if r.name.lower() in runtime:
            assert r.specifier == runtime[r.name.lower()].specifier and r.extras == runtime[r.name.lower()].extras
    # the boto3 the S3 tests run with satisfies the range
    dev = {r.name.lower(): r for r in _requirements(REPO / "requirements" / "dev.txt")}
    boto3 = next(r for r in reqs if r.name.lower() == "boto3")
    assert boto3.specifier.contains(str(next(iter(dev["boto3"].specifier)).version))


def test_bindep_has_postgresql_and_redis_clients_for_rpm_and_debian_images():
    deps = Depends((REPO / "meta" / "ee-bindep.txt").read_text())
    rpm = {rule[0] for rule in deps.active_rules(RPM)}
    dpkg = {rule[0] for rule in deps.active_rules(DPKG)}
    assert rpm == {"postgresql", "redis"}  # postgresql: psql, pg_dump, pg_restore; redis: redis-cli
    assert dpkg == {"postgresql-client", "redis-tools"}
    # the Debian names are real packages: this machine has them (scripts/setup.sh installs them)
    proc = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Status}\n", *sorted(dpkg)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stdout.count("install ok installed") == 2, proc.stdout + proc.stderr
