# SPDX-License-Identifier: GPL-3.0-or-later
"""`ansible-builder create` gives a valid build context for the runbook.ops execution environment.

Building the image needs the base image from a container registry, which these machines cannot
reach; everything short of it runs for real here: the generated Containerfile, the galaxy stage's
collection install (the same ansible-galaxy command, offline, from the context), and the builder
stage's introspection, which must find the collection's own Python and system requirements.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


def _run(argv, cwd, env=None):
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"{argv}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    ctx = tmp_path_factory.mktemp("ee") / "context"
    _run([str(BIN / "ansible-builder"), "create", "-f", "execution-environment.yml", "-c", str(ctx),
          "--output-filename", "Containerfile"], cwd=REPO)
    return ctx


def test_containerfile_has_every_stage_and_installs_what_the_definition_says(context):
    text = (context / "Containerfile").read_text()
    lines = text.splitlines()
    assert 'ARG EE_BASE_IMAGE="quay.io/centos/centos:stream9"' in lines
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core>=2.21,<2.22 ansible-runner>=2.4,<3"' in lines
    assert 'ARG PYCMD="/usr/bin/python3.12"' in lines and 'ARG PYPKG="python3.12"' in lines
    assert 'ARG PKGMGR="/usr/bin/dnf"' in lines
    stages = [line.split()[-1] for line in lines if line.startswith("FROM ")]
    assert stages == ["base", "galaxy", "builder", "final"]
    galaxy = text[text.index("AS galaxy"):text.index("AS builder")]
    assert "COPY _build /build" in galaxy and "WORKDIR /build" in galaxy
    assert 'ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml ' \
           '--collections-path "/usr/share/ansible/collections"' in galaxy
    builder = text[text.index("AS builder"):text.index("AS final")]
    assert "RUN $PYCMD /output/scripts/introspect.py introspect" in builder
    final = text[text.index("AS final"):]
    assert "RUN /output/scripts/check_ansible $PYCMD" in final
    assert "COPY --from=galaxy /usr/share/ansible /usr/share/ansible" in final
    assert "LABEL ansible-execution-environment=true" in final
    # the run report's callback is enabled for every job run in the image
    assert "ENV ANSIBLE_CALLBACKS_ENABLED=runbook.ops.run_report" in final
    # PostgreSQL 18's client from PGDG, after the bindep install (which brings the base image's older
    # one) and first on PATH, where the modules look for pg_dump / pg_restore / psql
    bindep_at = final.index("RUN /output/scripts/install-from-bindep")
    pgdg_at = final.index("pgdg-redhat-repo-latest.noarch.rpm")
    assert bindep_at < pgdg_at < final.index("ENV PATH=/usr/pgsql-${PG_MAJOR}/bin:$PATH")
    assert "ARG PG_MAJOR=18" in final and "$PKGMGR install -y postgresql${PG_MAJOR}" in final
    # every file a COPY names is in the context
    for line in lines:
        if line.startswith("COPY ") and "--from=" not in line:
            assert (context / line.split()[1]).exists(), line


def test_context_holds_the_collection_sources_and_the_galaxy_requirements(context):
    build = context / "_build"
    # the execution environment's own system packages (the collection's come from its meta/)
    assert (build / "bindep.txt").read_text().split("\n") == [
        "openssh-clients [platform:rpm]", "sshpass [platform:rpm]", "rsync [platform:rpm]"]
    assert yaml.safe_load((build / "requirements.yml").read_text()) == \
        {"collections": [{"name": "runbook_ops", "type": "dir"}]}
    src = build / "runbook_ops"
    assert yaml.safe_load((src / "galaxy.yml").read_text())["name"] == "ops"
    for rel in ("meta/runtime.yml", "meta/execution-environment.yml", "meta/ee-requirements.txt",
                "meta/ee-bindep.txt", "playbooks/daily.yml", "roles/report/tasks/main.yml"):
        assert (src / rel).is_file(), rel
    modules = {p.name for p in (REPO / "plugins" / "modules").glob("*.py")}
    assert modules and modules <= {p.name for p in (src / "plugins" / "modules").glob("*.py")}
    for script in ("assemble", "check_ansible", "check_galaxy", "install-from-bindep", "introspect.py", "pip_install"):
        assert (build / "scripts" / script).is_file(), script


def test_galaxy_and_builder_stages_install_the_collection_and_find_its_requirements(context, tmp_path):
    build = context / "_build"
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path / "home"), "ANSIBLE_GALAXY_DISABLE_GPG_VERIFY": "1",
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp")}
    os.makedirs(env["HOME"])
    installed = tmp_path / "usr-share-ansible" / "collections"
    # the galaxy stage's commands, from the context's _build (WORKDIR /build), without network
    _run([str(BIN / "ansible-galaxy"), "role", "install", "-r", "requirements.yml", "--roles-path",
          str(tmp_path / "roles")], cwd=build, env=env)
    _run([str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "-r", "requirements.yml",
          "--collections-path", str(installed)], cwd=build, env=env)
    coll = installed / "ansible_collections" / "runbook" / "ops"
    assert (coll / "MANIFEST.json").is_file() and (coll / "meta" / "execution-environment.yml").is_file()
    assert not (coll / "tests").exists() and not (coll / ".venv").exists()
    # the installed collection works: ansible-doc from outside the repository, with only that path
    doc_env = dict(env, ANSIBLE_COLLECTIONS_PATH=str(installed), ANSIBLE_CONFIG=str(tmp_path / "none.cfg"))
    (tmp_path / "none.cfg").write_text("[defaults]\n")
    out = _run([str(BIN / "ansible-doc"), "-t", "module", "runbook.ops.pg_backup"], cwd=tmp_path, env=doc_env).stdout
    assert "pg_backup" in out
    # the builder stage's introspection (same script, same options) over what the galaxy stage installed
    pip_out, bindep_out = tmp_path / "src" / "requirements.txt", tmp_path / "src" / "bindep.txt"
    proc = _run([sys.executable, str(build / "scripts" / "introspect.py"), "introspect", str(installed.parent / "collections"),
                 f"--write-bindep={bindep_out}", f"--write-pip={pip_out}"], cwd=build, env=env)
    data = yaml.safe_load(proc.stdout)
    assert {line.split("  #")[0] for line in data["python"]} == {"psycopg[binary]>=3.1", "redis>=5.0", "jmespath>=1.0",
                                                                 "boto3>=1.28"}
    assert all("from collection runbook.ops" in line for line in data["python"] + data["system"])
    assert {line.split("  #")[0] for line in data["system"]} == {
        "postgresql-client [platform:dpkg]", "postgresql [platform:rpm]",
        "redis-tools [platform:dpkg]", "redis [platform:rpm]"}
    assert pip_out.read_text().count("runbook.ops") == 4 and bindep_out.read_text().count("runbook.ops") == 4
    # the assemble script installs exactly these with pip: they resolve (already satisfied here)
    _run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--disable-pip-version-check", "-q",
          "-r", str(pip_out)], cwd=tmp_path, env=env)
