"""Finished jobs read back from S3: the runner's metadata beside each output, and its copy under the VideoJob's name.

A VideoJob is deleted some time after it finishes (``spec.ttlSecondsAfterFinished``); its output MP4, poster and
metadata stay in S3 under their own lifetime. The runner writes its metadata twice (videogen_common.runner_contract):
beside the MP4 (``<stem>.json``: who may download that file) and under the VideoJob's name
(``.jobs/<namespace>/<name>.json``, the job record: ``GET /api/v1/job/{id}`` once the VideoJob is gone). Both carry
the VideoJob's owner label, so the access rule outlives the VideoJob.

The job view is rebuilt as a VideoJob (the fields the record holds) and shown by the same function as a live one:
the same shape, the same access check (``Caller.may_see``). What the record cannot hold is what changed after the
run: the message is the reference's "Generation complete", and webhook deliveries are not shown.
"""

from __future__ import annotations

import logging
from datetime import UTC
from typing import Final

from pydantic import ValidationError

from videogen_api.storage import Storage
from videogen_common.names import is_output_filename
from videogen_common.resources.meta import LABEL_OWNER, ObjectMeta
from videogen_common.resources.objects import VideoJob
from videogen_common.resources.videojob import VideoJobSpec
from videogen_common.resources.videojob_status import OutputStatus, Progress, Reason, State, VideoJobStatus
from videogen_common.runner_contract import ResultMetadata, job_record_key

log = logging.getLogger(__name__)

#: A metadata document is a few KB (the plan included); anything much larger was not written by the runner.
_MAX_RECORD_BYTES: Final = 256 * 1024
_TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"


def read_metadata(storage: Storage, key: str) -> ResultMetadata | None:
    """The runner's metadata at ``key``; None when there is none or it cannot be read as one (logged)."""
    data = storage.read_small(key, _MAX_RECORD_BYTES)
    if data is None:
        return None
    try:
        return ResultMetadata.model_validate_json(data)
    except ValidationError as exc:
        log.warning("ignoring s3://%s/%s: not a runner metadata document: %s", storage.bucket, key, exc)
        return None


def read_job_record(storage: Storage, outputs_prefix: str, namespace: str, name: str) -> VideoJob | None:
    """The finished VideoJob ``name`` as its job record shows it; None when it has none (it never completed, or its
    outputs have expired, or it was made outside this API's outputs prefix)."""
    metadata = read_metadata(storage, job_record_key(outputs_prefix, namespace, name))
    if metadata is None or metadata.videojob.name != name or metadata.videojob.namespace != namespace:
        return None
    return videojob_from_metadata(metadata)


def output_metadata_key(outputs_prefix: str, filename: str) -> str:
    """The metadata beside an output file (``<stem>.json``, OutputLocation.for_video's layout)."""
    base = f"{outputs_prefix.strip('/')}/" if outputs_prefix.strip("/") else ""
    return f"{base}{filename.removesuffix('.mp4')}.json"


def videojob_from_metadata(metadata: ResultMetadata) -> VideoJob | None:
    """The completed VideoJob the metadata describes, with what it records; None when its video is not an output
    file this API serves."""
    filename = metadata.video_uri.rsplit("/", 1)[-1]
    if not is_output_filename(filename):
        return None
    ref = metadata.videojob
    labels = {LABEL_OWNER: ref.owner} if ref.owner is not None else {}
    finished = metadata.created_at.astimezone(UTC).strftime(_TIME_FORMAT)
    steps = metadata.used.num_inference_steps
    try:
        return _completed_videojob(metadata, filename, labels, finished, steps)
    except ValidationError as exc:
        log.warning("ignoring the metadata of %s: it does not make a VideoJob: %s", ref.name, exc)
        return None


def _completed_videojob(
    metadata: ResultMetadata, filename: str, labels: dict[str, str], finished: str, steps: int
) -> VideoJob:
    ref = metadata.videojob
    return VideoJob(
        metadata=ObjectMeta(
            name=ref.name,
            namespace=ref.namespace,
            uid=ref.uid or None,
            labels=labels,
            creation_timestamp=ref.created_at,
        ),
        # Not validated: the spec's rules are for creating a job (an input for image-to-video, say), and the view
        # reads only its mode, model and defaults from it.
        spec=VideoJobSpec.model_construct(mode=metadata.mode, model=metadata.model, prompt=metadata.prompt),
        status=VideoJobStatus(
            state=State.COMPLETED,
            reason=Reason.SUCCEEDED,
            progress=Progress(step=steps, total_steps=steps, percent=100),
            used=metadata.used,
            output=OutputStatus(
                uri=metadata.video_uri,
                file=filename,
                path=f"./outputs/{filename}",
                poster_uri=metadata.poster_uri,
            ),
            completion_time=finished,
        ),
    )
