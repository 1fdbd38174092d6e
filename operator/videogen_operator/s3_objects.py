"""The runner's S3 objects the operator touches: it reads progress reports and rolls back cancelled outputs."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from videogen_common.runner_contract import OutputLocation, ProgressLocation, ProgressReport

log = logging.getLogger(__name__)


def read_progress(s3: Any, location: ProgressLocation) -> ProgressReport | None:
    """The latest progress report, or None when there is none (yet) or it cannot be read right now."""
    try:
        body = s3.get_object(Bucket=location.bucket, Key=location.key)["Body"].read()
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
            log.warning("cannot read progress %s/%s: %s", location.bucket, location.key, err)
        return None
    except BotoCoreError as err:
        log.warning("cannot read progress %s/%s: %s", location.bucket, location.key, err)
        return None
    try:
        return ProgressReport.model_validate_json(body)
    except ValidationError as err:
        log.warning("ignoring a malformed progress report %s/%s: %s", location.bucket, location.key, err)
        return None


def delete_outputs(s3: Any, location: OutputLocation, progress: ProgressLocation | None) -> None:
    """Remove whatever a cancelled run uploaded (video, poster, metadata, job record) and its progress report: a
    record left behind would show the cancelled job as completed once its VideoJob is gone."""
    keys = [location.metadata_key, location.video_key, location.poster_key]
    keys += [location.record_key] if location.record_key is not None else []
    s3.delete_objects(Bucket=location.bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})
    if progress is not None:
        s3.delete_object(Bucket=progress.bucket, Key=progress.key)
