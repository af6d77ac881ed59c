"""Off-host copies between two real systemd hosts over SSH: what landed on the backup host, remote retention,
and the restores from it after the database host lost its backups."""
from __future__ import annotations

import json

import pytest
import testinfra

DB1 = "offsite-db1"
BACKUP1 = "offsite-backup1"
DEST = "/srv/backups/offsite-db1"


@pytest.fixture(scope="module")
def db1():
    return testinfra.get_host(f"podman://{DB1}")


@pytest.fixture(scope="module")
def backup1():
    return testinfra.get_host(f"podman://{BACKUP1}")


def copy_docs(backup1) -> list[dict]:
    names = backup1.check_output(f"ls {DEST}").split()
    return [json.loads(backup1.file(f"{DEST}/{n}").content_string) for n in names if n.endswith(".copy.json")]


def test_copies_on_the_backup_host_verified_with_remote_retention(backup1):
    docs = copy_docs(backup1)
    pg = [d for d in docs if d["kind"] == "postgres"]
    redis = [d for d in docs if d["kind"] == "redis"]
    # three backup runs; the host kept 1, the backup host keeps 2 per series (the oldest copy was deleted)
    assert len(pg) == 2 and len(redis) == 2, [d["id"] for d in docs]
    for d in docs:
        assert d["verified"] == "passed" and d["source_host"] == DB1, d
        for f in d["files"]:
            path = f"{DEST}/{f['path']}"
            assert backup1.check_output(f"sha256sum {path}").split()[0] == f["sha256"]
            st = backup1.file(path)
            assert st.mode == 0o600 and st.user == "backups", path
    assert not backup1.check_output(f"ls -A {DEST} | grep '^\\.partial' || true")


def test_no_credentials_in_manifests(backup1):
    for d in copy_docs(backup1):
        text = json.dumps(d)
        assert "runbook-molecule-pw" not in text and "BEGIN OPENSSH" not in text


def test_postgres_restored_from_the_backup_host_with_the_same_rows(db1):
    before = db1.file("/root/orders_before").content_string.strip()
    after = db1.check_output("runuser -u postgres -- psql -tAX -d myapp -c 'SELECT count(*) FROM orders'")
    assert after.strip() == before == "5000"
    fetched = db1.check_output("ls /var/backups/runbook/fetched").split()
    assert any(n.startswith("myapp-") and n.endswith(".manifest.json") for n in fetched), fetched
    # the local backups were deleted before the restore: only the fetched copy is on the host
    assert db1.check_output("ls /var/backups/runbook").split() == ["fetched"]


def test_redis_restored_from_the_backup_host(db1):
    keys = db1.check_output("REDISCLI_AUTH=redis-molecule-pw redis-cli --no-auth-warning DBSIZE")
    assert int(keys) >= 40
