"""VideoJob <-> REST: building the VideoJob a request asks for, and reading one back as the reference's job view.

Pure functions: no I/O, so the mapping is tested without a cluster and reads in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from videogen_api.schemas import JobResponse
from videogen_common.job_view import job_view
from videogen_common.resources.meta import (
    ANNOTATION_REQUEST_FINGERPRINT,
    LABEL_IDEMPOTENCY_KEY,
    LABEL_MANAGED_BY,
    MANAGED_BY_API,
    ObjectMeta,
)
from videogen_common.resources.objects import VideoJob
from videogen_common.resources.videojob import InputRef, Mode, OutputSpec, VideoJobSpec

# The names tests/e2e import; the values are the shared constants.
IDEMPOTENCY_LABEL: Final = LABEL_IDEMPOTENCY_KEY
FINGERPRINT_ANNOTATION: Final = ANNOTATION_REQUEST_FINGERPRINT


def build_videojob(
    name: str,
    mode: Mode,
    parameters: Mapping[str, Any],
    *,
    model: str | None,
    input_uri: str | None,
    input_content_type: str | None,
    output_bucket: str,
    output_prefix: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
) -> VideoJob:
    """The VideoJob for a request. ``parameters`` are the request's generation fields, named as VideoJobSpec's
    (the reference API's snake_case names are the spec's Python names)."""
    spec = VideoJobSpec(
        mode=mode,
        model=model,
        input=InputRef(uri=input_uri, content_type=input_content_type) if input_uri is not None else None,
        # Set explicitly so that /outputs knows where every API job's file lands, whatever the operator's default is.
        output=OutputSpec(bucket=output_bucket, prefix=output_prefix),
        **parameters,
    )
    metadata = ObjectMeta(name=name, labels={LABEL_MANAGED_BY: MANAGED_BY_API, **labels}, annotations=dict(annotations))
    return VideoJob(metadata=metadata, spec=spec)


def is_active(videojob: VideoJob) -> bool:
    """Pending or processing: it holds (or waits for) a GPU and counts against the concurrency limit."""
    return not videojob.status.current_state.terminal


def videojob_to_job(videojob: VideoJob, output_url: Callable[[str], str]) -> JobResponse:
    """The reference's job view plus ours (common ``job_view``: the event stream and webhooks show the same)."""
    return JobResponse.model_validate(job_view(videojob, output_url))
