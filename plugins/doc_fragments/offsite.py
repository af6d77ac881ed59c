# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # The off-host destination of backup_copy and backup_fetch (module_utils/_offsite_options.py).
    DOCUMENTATION = r"""
options:
  destination:
    description:
      - Where the off-host copies are. The same dict for M(runbook.ops.backup_copy) and M(runbook.ops.backup_fetch).
      - Layout there, for every type, C(<id>) (the backup's file or directory), C(<id>.manifest.json) (its
        manifest) and C(<id>.copy.json) (the copy's manifest, written last, only after every sha256 was checked
        at the destination). Only copies with a C(.copy.json) that says verified count, for retention and restore;
        nothing else at the destination is ever read, changed or deleted.
    type: dict
    required: true
    suboptions:
      type:
        description:
          - C(path) a directory on the managed host (an NFS mount, another disk).
          - C(ssh) a directory on another host, reached from the managed host with the C(ssh) client (host to
            host, not through the controller). Key authentication only (C(BatchMode=yes)); one connection per run
            (C(ControlMaster)), closed when the module ends. The backup host needs a POSIX shell, coreutils and
            findutils.
          - C(s3) a bucket on S3-compatible object storage (needs the C(boto3) Python library on the managed host).
        type: str
        required: true
        choices: [path, ssh, s3]
      path:
        description: The directory (type C(path) on the managed host, type C(ssh) on the backup host, absolute).
          Created with mode 0700 when missing.
        type: str
      host:
        description: Type C(ssh), the backup host's name or address as the managed host reaches it.
        type: str
      user:
        description: Type C(ssh), the user on the backup host.
        type: str
      port:
        description: Type C(ssh), the SSH port.
        type: int
        default: 22
      identity_file:
        description: Type C(ssh), the private key file on the managed host (passed with C(-i), never its contents).
        type: path
      known_hosts_file:
        description: Type C(ssh), a known_hosts file with the backup host's key (default the user's own).
        type: path
      host_key_checking:
        description: Type C(ssh), C(StrictHostKeyChecking) for the connection.
        type: str
        default: "yes"
        choices: ["yes", accept-new, "no"]
      ssh_executable:
        description: Type C(ssh), the ssh client to run.
        type: str
        default: ssh
      bucket:
        description: Type C(s3), the bucket.
        type: str
      prefix:
        description: Type C(s3), the key prefix (a "directory" in the bucket), e.g. C(runbook/db1).
        type: str
        default: ""
      endpoint_url:
        description: Type C(s3), the endpoint of a non-AWS store (MinIO, Ceph, Wasabi...), e.g. C(https://s3.example.net).
        type: str
      region:
        description: Type C(s3), the region.
        type: str
      access_key:
        description:
          - Type C(s3), the access key id. Without it boto3's usual sources are used (C(AWS_ACCESS_KEY_ID) /
            C(AWS_SECRET_ACCESS_KEY) / C(AWS_SESSION_TOKEN) in the module's environment, profiles, instance roles).
          - Passed to boto3 directly; never in a command line, the result or a manifest.
        type: str
      secret_key:
        description: Type C(s3), the secret access key (with O(destination.access_key)).
        type: str
      session_token:
        description: Type C(s3), a session token for temporary credentials.
        type: str
      sse:
        description: Type C(s3), server-side encryption of every object written.
        type: str
        default: none
        choices: [none, AES256, "aws:kms"]
      sse_kms_key_id:
        description: Type C(s3), the KMS key for O(destination.sse=aws:kms) (default the bucket's).
        type: str
      validate_certs:
        description: Type C(s3), verify the endpoint's TLS certificate.
        type: bool
        default: true
      ca_bundle:
        description: Type C(s3), a CA bundle file for the endpoint's certificate.
        type: path
  timeout:
    description:
      - Seconds to connect to the destination, and for any single network read or write to stall (SSH keepalives,
        S3 read timeout). A lost connection fails the copies still running; they are not counted.
      - Each SSH transfer of one file also has a total deadline, 120 s plus the file's size at 1024 KiB/s (or at
        half of O(bwlimit) when that is slower); past it the transfer is killed and the copy is not counted.
        C(sha256sum) on the backup host holds the same deadline for the total size of the files it hashes
        (at 1024 KiB/s, as a checksum reads each file once); past it the C(ssh) client is killed with its process group.
    type: float
    default: 60
  bwlimit:
    description: Bandwidth limit in KiB per second for the data sent or fetched (C(0) means no limit).
    type: int
    default: 0
"""
