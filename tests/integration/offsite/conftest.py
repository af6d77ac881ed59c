# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the off-host copy tests: a real sshd on a loopback port (the backup host) and moto's S3 API
server (an emulator) with signature and IAM checks on; module-scoped, stopped also when a test fails."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
COLLECTIONS = HERE.parents[2] / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from offsite_helpers import BUCKET, SSHD, MotoServer, Sshd  # noqa: E402


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    if not os.path.exists(SSHD):
        pytest.fail("sshd is missing: scripts/setup.sh installs openssh-server")
    server = Sshd(tmp_path_factory.mktemp("sshd")).setup().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    """moto with signature and IAM checks on: a user with an access key allowed s3:*, and a bucket."""
    server = MotoServer(tmp_path_factory.mktemp("moto"), auth=True).start()
    try:
        import boto3  # pylint: disable=import-outside-toplevel
        iam = boto3.session.Session().client("iam", endpoint_url=server.url, region_name="us-east-1",
                                             aws_access_key_id="setup", aws_secret_access_key="setup")
        iam.create_user(UserName="backup")
        key = iam.create_access_key(UserName="backup")["AccessKey"]
        iam.put_user_policy(UserName="backup", PolicyName="s3", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        server.key, server.secret = key["AccessKeyId"], key["SecretAccessKey"]
        server.client(server.key, server.secret).create_bucket(Bucket=BUCKET)
        yield server
    finally:
        server.stop()
