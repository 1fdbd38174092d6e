"""S3 access: fetch the input, publish the outputs all-or-nothing, write small JSON objects.

Every S3 failure leaves here as InvalidInputError (the input object is missing or refused) or TransientError
(connection trouble, 5xx, throttling), so the exit code says whether a retry can help.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from videogen_runner.errors import InvalidInputError, RunnerError, TransientError, is_transient_s3_error

log = logging.getLogger(__name__)


@contextmanager
def s3_errors(action: str, *, missing_is_invalid: bool = False) -> Iterator[None]:
    """Turn botocore errors into the runner's kinds, with ``action`` (what we were doing) in the message."""
    try:
        yield
    except RunnerError:
        raise
    except ClientError as e:
        code = str(e.response.get("Error", {}).get("Code", ""))
        if missing_is_invalid and code in {"NoSuchKey", "404", "NoSuchBucket", "NotFound"}:
            raise InvalidInputError(f"{action}: not found in S3") from e
        if is_transient_s3_error(e):
            raise TransientError(f"{action}: S3 error {code}") from e
        raise InvalidInputError(f"{action}: S3 refused the request ({code})") from e
    except Exception as e:
        if is_transient_s3_error(e):
            raise TransientError(f"{action}: S3 unreachable ({e})") from e
        raise


def download(client: Any, bucket: str, key: str, target: Path) -> None:
    with s3_errors(f"reading input s3://{bucket}/{key}", missing_is_invalid=True):
        client.download_file(bucket, key, str(target))


def put_json(client: Any, bucket: str, key: str, body: str) -> None:
    with s3_errors(f"writing s3://{bucket}/{key}"):
        client.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json")


@dataclass
class Publisher:
    """Uploads the results in order and removes them again unless :meth:`commit` is reached.

    Each object goes up in one PUT (atomic in S3: readers see all of it or nothing), and the metadata goes last as
    the mark of a complete set; if anything fails in between, :meth:`rollback` deletes what went up.
    """

    client: Any
    bucket: str
    uploaded: list[str] = field(default_factory=list)

    def put_file(self, path: Path, key: str, content_type: str) -> None:
        with s3_errors(f"uploading s3://{self.bucket}/{key}"), path.open("rb") as body:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        self.uploaded.append(key)

    def put_text(self, body: str, key: str, content_type: str) -> None:
        with s3_errors(f"uploading s3://{self.bucket}/{key}"):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body.encode(), ContentType=content_type)
        self.uploaded.append(key)

    def rollback(self) -> None:
        """Best effort: if S3 is down the deletes fail too, but then the metadata never went up either."""
        for key in reversed(self.uploaded):
            try:
                self.client.delete_object(Bucket=self.bucket, Key=key)
            except Exception as e:
                log.warning("could not remove partial output s3://%s/%s: %s", self.bucket, key, e)
        self.uploaded.clear()
