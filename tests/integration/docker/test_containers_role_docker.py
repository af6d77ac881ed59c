# SPDX-License-Identifier: GPL-3.0-or-later
"""The image roll of the runbook.ops.containers role on the docker engine, for real.

A compose project (Debian's docker-compose 1.29; docker.io 20.10 has no ``docker compose`` plugin) with one
service ``app``: a few lines of Python answering ``/health`` on a free loopback port (host network, no
bridge IPs). Three images are made here with ``docker import`` (no registry): v1 and v2 answer 200,
v3-broken answers 503 (the status comes from the image's ENV). The container bind-mounts this machine's
/usr and /etc read-only, so python3 is the machine's own.

The role runs through ansible-playbook (connection local) with ``containers_engine: docker``:
v1 -> v2 passes its health gate and is kept; v2 -> v3-broken fails its gate, the role puts v2 back,
reports ROLLED BACK and fails, and v2 serves again. Containers, the compose project and the images are
removed also when the test fails. Skipped only when there is no Docker engine (conftest.py) or no
docker-compose.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import uuid

import pytest

from harness.net import free_port, wait_until

pytestmark = pytest.mark.skipif(shutil.which("docker-compose") is None,
                                reason="no docker-compose (scripts/setup_docker.sh installs Debian's docker-compose)")

SERVER = b'''\
import http.server, json, os, signal, sys
PORT = int(os.environ["APP_PORT"])
VERSION = os.environ["APP_VERSION"]
HEALTH = int(os.environ["APP_HEALTH_STATUS"])
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # PID 1 gets no default SIGTERM handler


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = HEALTH if self.path == "/health" else (200 if self.path == "/version" else 404)
        body = json.dumps({"version": VERSION, "status": code}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
'''

PLAYBOOK = """\
- name: Roll the app's image with runbook.ops.containers
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Roll out
      block:
        - name: The containers role
          ansible.builtin.include_role:
            name: runbook.ops.containers
      always:
        - name: Show the results
          ansible.builtin.debug:
            var: containers_results
"""


def _health(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _running_image(docker_cli, project: str) -> list[str]:
    out = docker_cli("ps", "--filter", f"label=com.docker.compose.project={project}",
                     "--filter", "label=com.docker.compose.service=app", "--format", "{{.Image}}").stdout
    return out.split()


@pytest.fixture
def roll(tmp_path, docker_cli, rootfs_tar):
    """Images v1, v2, v3-broken, a compose project on v1 (up and healthy), torn down at the end."""
    uid = uuid.uuid4().hex[:8]
    repo = f"localhost/runbook-roll-{uid}"
    project = f"rbroll{uid}"
    port = free_port()
    tags = {"v1": f"{repo}:v1", "v2": f"{repo}:v2", "v3": f"{repo}:v3-broken"}
    statuses = {"v1": 200, "v2": 200, "v3": 503}
    rootfs = rootfs_tar({"app/server.py": SERVER})
    compose_dir = tmp_path / project
    compose_dir.mkdir()
    (compose_dir / "compose.yml").write_text(
        "services:\n"
        "  app:\n"
        f"    image: {tags['v1']}\n"
        "    network_mode: host\n"
        "    environment:\n"
        f"      APP_PORT: \"{port}\"\n"
        "    volumes:\n"
        "      - /usr:/usr:ro\n"
        "      - /etc:/etc:ro\n",
        encoding="utf-8")
    compose = ["docker-compose", "-p", project, "-f", "compose.yml"]
    try:
        for key, tag in tags.items():
            res = subprocess.run(
                ["docker", "import",
                 "--change", 'CMD ["/usr/bin/python3", "/app/server.py"]',
                 "--change", f"ENV APP_VERSION={key} APP_HEALTH_STATUS={statuses[key]}",
                 "-", tag],
                input=rootfs, capture_output=True, check=False)
            assert res.returncode == 0, res.stderr.decode()
        up = subprocess.run(compose + ["up", "-d"], cwd=compose_dir, capture_output=True, text=True, check=False)
        assert up.returncode == 0, up.stderr

        def v1_healthy() -> bool:
            try:
                return _health(port) == (200, {"version": "v1", "status": 200})
            except (OSError, ValueError):
                return False

        wait_until(v1_healthy, 30, f"v1 of the app answering /health on 127.0.0.1:{port}")
        yield {"dir": compose_dir, "project": project, "port": port, "tags": tags, "playbook": tmp_path / "roll.yml"}
    finally:
        override = compose_dir / "compose.runbook-images.yml"
        files = compose + (["-f", override.name] if override.exists() else [])
        subprocess.run(files + ["down", "--remove-orphans", "-t", "1"], cwd=compose_dir,
                       capture_output=True, check=False)
        left = docker_cli("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}", check=False).stdout.split()
        if left:
            docker_cli("rm", "-f", *left, check=False)
        docker_cli("rmi", "-f", *tags.values(), check=False)


def _run_role(ansible_playbook, roll, image: str):
    roll["playbook"].write_text(PLAYBOOK, encoding="utf-8")
    res = ansible_playbook(roll["playbook"], extra_vars={
        "ansible_python_interpreter": sys.executable,
        "containers_engine": "docker",
        "containers_compose_command": ["docker-compose"],
        "containers_compose_dir": str(roll["dir"]),
        "containers_compose_project": roll["project"],
        "containers_pull": False,
        "containers_health_retries": 15,
        "containers_health_delay": 1,
        "containers_health_timeout": 3,
        "containers_services": [{"service": "app", "image": image,
                                 "health_url": f"http://127.0.0.1:{roll['port']}/health"}],
    }, timeout=300)
    (shown,) = res.task_results("Show the results")
    return res, shown["containers_results"]


def test_roll_v1_to_v2_kept_then_v3_broken_rolled_back(ansible_playbook, docker_cli, roll):
    tags, port, project = roll["tags"], roll["port"], roll["project"]
    assert _running_image(docker_cli, project) == [tags["v1"]]

    # v1 -> v2: health gate passes, v2 is kept
    res, results = _run_role(ansible_playbook, roll, tags["v2"])
    assert res.rc == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert results["engine"] == "docker" and results["status"] == "updated", results
    (done,) = results["services"]
    assert (done["service"], done["previous"], done["image"], done["health"]) == ("app", tags["v1"], tags["v2"], "ok")
    assert _running_image(docker_cli, project) == [tags["v2"]]
    assert _health(port) == (200, {"version": "v2", "status": 200})

    # v2 -> v3-broken: the gate fails, v2 is put back, the run reports the rollback and fails
    res, results = _run_role(ansible_playbook, roll, tags["v3"])
    assert res.rc != 0
    assert results["status"] == "rolled_back", results
    assert results["error"]["msg"].startswith("ROLLED BACK"), results["error"]
    assert "503" in results["failure"], results["failure"]
    assert results["rollback"]["services"] == [{"service": "app", "previous": tags["v2"], "image": tags["v3"]}]
    assert results["rollback"]["health"] == "ok"
    # every failed task of the run, the rescued health gate first
    failed = [h["localhost"] for h in (t["hosts"] for p in res.data["plays"] for t in p["tasks"])
              if h.get("localhost", {}).get("failed")]
    assert failed and failed[-1]["msg"].startswith("ROLLED BACK"), res.stdout[-3000:]  # the run's last failure
    assert _running_image(docker_cli, project) == [tags["v2"]]
    assert _health(port) == (200, {"version": "v2", "status": 200})
    pinned = (roll["dir"] / "compose.runbook-images.yml").read_text(encoding="utf-8")
    assert tags["v2"] in pinned and tags["v3"] not in pinned
