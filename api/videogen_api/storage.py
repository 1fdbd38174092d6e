"""The S3 side: uploaded inputs in, generated outputs out (connection from videogen_common.s3)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from botocore.exceptions import ClientError

_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}
_CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True)
class ObjectHead:
    size: int
    etag: str
    content_type: str | None
    last_modified: Any


class Storage:
    """One bucket; keys are built by the callers."""

    def __init__(self, s3_client: Any, bucket: str, presign_client: Any = None, check_client: Any = None) -> None:
        self._s3 = s3_client
        self.bucket = bucket
        # Presigned URLs name the endpoint they were signed for: clients may reach S3 elsewhere than the API does.
        self._presign = presign_client or s3_client
        # The readiness check's own client, with one short attempt: an S3 that hangs must not make the probe time
        # out (a timed-out probe fails the replica, which the degraded answer is there to avoid).
        self._check = check_client or s3_client

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def upload(self, key: str, file: BinaryIO, content_type: str) -> None:
        file.seek(0)
        self._s3.upload_fileobj(file, self.bucket, key, ExtraArgs={"ContentType": content_type})

    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self.bucket, Key=key)

    def head(self, key: str) -> ObjectHead | None:
        try:
            response = self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in _NOT_FOUND_CODES:
                return None
            raise
        return ObjectHead(
            size=int(response["ContentLength"]),
            etag=str(response.get("ETag", "")),
            content_type=response.get("ContentType"),
            last_modified=response.get("LastModified"),
        )

    def read_small(self, key: str, max_bytes: int) -> bytes | None:
        """A small object's bytes (a metadata JSON), or None when there is none. A larger one is refused (ValueError):
        this is for documents the system wrote, and a key that names something else must not fill the memory."""
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{max_bytes}")
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in _NOT_FOUND_CODES:
                return None
            raise
        with response["Body"] as body:
            data: bytes = body.read()
        if len(data) > max_bytes:
            raise ValueError(f"s3://{self.bucket}/{key} is larger than {max_bytes} bytes")
        return data

    def stream(self, key: str, first: int, last: int) -> Iterator[bytes]:
        """Bytes first..last (inclusive) of the object, in chunks, read as the client consumes them."""
        body = self._s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={first}-{last}")["Body"]
        try:
            yield from body.iter_chunks(_CHUNK_BYTES)
        finally:
            body.close()

    def presigned_url(self, key: str, ttl_seconds: int, method: Literal["GET", "HEAD"]) -> str:
        operation = "head_object" if method == "HEAD" else "get_object"
        url: str = self._presign.generate_presigned_url(
            operation, Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=ttl_seconds
        )
        return url

    def check(self) -> None:
        """Raises when the bucket cannot be reached with these credentials."""
        self._check.head_bucket(Bucket=self.bucket)
