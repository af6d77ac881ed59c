# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A destination that is a bucket and prefix on S3-compatible object storage (boto3)."""

from __future__ import annotations

import traceback
import typing as t

from ansible_collections.runbook.ops.plugins.module_utils._dest_base import Destination, OffsiteError, Unreachable
from ansible_collections.runbook.ops.plugins.module_utils._ratelimit import BUF, LimitedReader, RateLimiter, stream

try:
    import boto3
    import botocore.config
    import botocore.exceptions
    HAS_BOTO3 = True
    BOTO3_IMP_ERR = None
except ImportError:  # pragma: no cover - depends on the host
    boto3 = None
    HAS_BOTO3 = False
    BOTO3_IMP_ERR = traceback.format_exc()


class S3Destination(Destination):
    """A bucket and prefix on S3-compatible storage. Credentials: the module's options or boto3's usual
    sources (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, profiles, instance roles)."""

    kind = "s3"
    staged = False
    multipart_threshold = 64 * BUF  # larger files go up in parts (S3: at least 5 MiB each)
    multipart_chunksize = 16 * BUF

    def __init__(self, opts: dict, timeout: float) -> None:
        super().__init__(opts, timeout)
        if not HAS_BOTO3:
            raise ImportError("boto3")
        if not opts.get("bucket"):
            raise OffsiteError("destination.bucket: required for type s3")
        self.bucket = opts["bucket"]
        self.prefix = (opts.get("prefix") or "").strip("/")
        self.url = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self.endpoint = opts.get("endpoint_url") or "AWS"
        cfg = botocore.config.Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2},
                                     signature_version="s3v4")
        kwargs: dict = {"config": cfg}
        if opts.get("endpoint_url"):
            kwargs["endpoint_url"] = opts["endpoint_url"]
        if opts.get("region"):
            kwargs["region_name"] = opts["region"]
        if opts.get("ca_bundle"):
            kwargs["verify"] = opts["ca_bundle"]
        elif not opts.get("validate_certs", True):
            kwargs["verify"] = False
        for opt, arg in (("access_key", "aws_access_key_id"), ("secret_key", "aws_secret_access_key"),
                         ("session_token", "aws_session_token")):
            if opts.get(opt):
                kwargs[arg] = opts[opt]
        if bool(opts.get("access_key")) != bool(opts.get("secret_key")):
            raise OffsiteError("destination.access_key and destination.secret_key: give both or neither")
        self.extra: dict = {}
        if opts.get("sse") and opts["sse"] != "none":
            self.extra["ServerSideEncryption"] = opts["sse"]
            if opts.get("sse_kms_key_id"):
                self.extra["SSEKMSKeyId"] = opts["sse_kms_key_id"]
        elif opts.get("sse_kms_key_id"):
            raise OffsiteError("destination.sse_kms_key_id: needs destination.sse=aws:kms")
        self.client = boto3.session.Session().client("s3", **kwargs)
        from boto3.s3.transfer import TransferConfig  # pylint: disable=import-outside-toplevel
        self.transfer = TransferConfig(use_threads=False, multipart_threshold=self.multipart_threshold,
                                       multipart_chunksize=self.multipart_chunksize)

    def key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def _error(self, exc: Exception, what: str) -> OffsiteError:
        if isinstance(exc, botocore.exceptions.NoCredentialsError):
            return Unreachable(f"S3 {self.url} ({self.endpoint}): no credentials: set destination.access_key/secret_key or "
                               "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
        if isinstance(exc, botocore.exceptions.ClientError):
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
                        "InvalidClientTokenId", "AccessDenied", "403") or status == 403:
                return Unreachable(f"S3 {self.url} ({self.endpoint}) rejected the credentials while {what} ({code or status}): check "
                                   "destination.access_key/secret_key (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) "
                                   "and the bucket policy")
            if code in ("NoSuchBucket", "404") and what == "checking the bucket":
                return Unreachable(f"destination.bucket: bucket {self.bucket!r} does not exist at {self.url}")
            return OffsiteError(f"S3 {self.url}: {what} failed: {code or status}: {err.get('Message', '')}".rstrip(": "))
        if isinstance(exc, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionError,
                            botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError)):
            return Unreachable(f"S3 {self.url} at {self.endpoint} is unreachable while {what}: {exc}")
        if isinstance(exc, botocore.exceptions.BotoCoreError):
            return OffsiteError(f"S3 {self.url}: {what} failed: {exc}")
        return OffsiteError(f"S3 {self.url}: {what} failed: {exc}")

    def _call(self, what: str, fn: t.Callable, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._error(exc, what) from exc

    def prepare(self, create: bool) -> bool:
        self._call("checking the bucket", self.client.head_bucket, Bucket=self.bucket)
        # head_bucket may succeed for a bucket owner with wrong keys on some stores; a list call signs with them
        self._call("listing the bucket", self.client.list_objects_v2, Bucket=self.bucket, Prefix=self.key(""), MaxKeys=1)
        return True

    def listing(self) -> dict[str, int]:
        out = {}
        base = self.key("")
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base):
                for obj in page.get("Contents", []):
                    rel = obj["Key"][len(base):]
                    if rel:
                        out[rel] = int(obj["Size"])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._error(exc, "listing the destination") from exc
        return out

    def read(self, rel: str) -> bytes:
        resp = self._call(f"reading {rel}", self.client.get_object, Bucket=self.bucket, Key=self.key(rel))
        return resp["Body"].read()

    def write_bytes(self, rel: str, data: bytes) -> None:
        self._call(f"writing {rel}", self.client.put_object, Bucket=self.bucket, Key=self.key(rel), Body=data,
                   **self.extra)

    def upload(self, local: str, rel: str, offset: int, limiter: RateLimiter) -> None:
        with open(local, "rb") as fh:
            self._call(f"uploading {rel}", self.client.upload_fileobj, LimitedReader(fh, limiter), self.bucket,
                       self.key(rel), ExtraArgs=dict(self.extra) or None, Config=self.transfer)

    def sha256(self, rels: list[str]) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for rel in rels:
            try:
                _size, digest = self.download(rel, lambda _d: None, RateLimiter(0))
                out[rel] = digest
            except OffsiteError as exc:
                if isinstance(exc, Unreachable) or "NoSuchKey" not in str(exc) and "404" not in str(exc):
                    raise
                out[rel] = None
        return out

    def rename(self, src: str, dst: str) -> None:  # pragma: no cover - S3 copies are not staged
        raise NotImplementedError

    def delete(self, rels: list[str]) -> None:
        keys = []
        listing = None
        for rel in rels:
            keys.append(self.key(rel))
            # a "directory" backup: every object under it
            if listing is None:
                listing = self.listing()
            keys += [self.key(r) for r in listing if r.startswith(rel + "/")]
        for i in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[i:i + 1000]]
            resp = self._call("deleting at the destination", self.client.delete_objects, Bucket=self.bucket,
                              Delete={"Objects": batch, "Quiet": True})
            errors = resp.get("Errors") or []
            if errors:
                raise OffsiteError(f"S3 {self.url}: deleting {errors[0].get('Key')} failed: {errors[0].get('Code')}")

    def download(self, rel: str, write: t.Callable[[bytes], t.Any], limiter: RateLimiter) -> tuple[int, str]:
        resp = self._call(f"reading {rel}", self.client.get_object, Bucket=self.bucket, Key=self.key(rel))
        body = resp["Body"]
        try:
            try:
                return stream(body, write, limiter)
            except (botocore.exceptions.BotoCoreError, OSError) as exc:
                raise self._error(exc, f"reading {rel}") from exc
        finally:
            body.close()
