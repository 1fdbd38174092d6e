"""VideoJob <-> REST: building the VideoJob a request asks for, and reading one back as the reference's job view.

Pure functions: no I/O, so the mapping is tested without a cluster and reads in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from videogen_api.schemas import JobProgress, JobResponse, JobUsedParameters
from videogen_common.names import videojob_name_to_job_id
from videogen_common.resources.meta import (
    ANNOTATION_REQUEST_FINGERPRINT,
    LABEL_IDEMPOTENCY_KEY,
    LABEL_MANAGED_BY,
    MANAGED_BY_API,
    ObjectMeta,
)
from videogen_common.resources.objects import VideoJob
from videogen_common.resources.videojob import InputRef, Mode, OutputSpec, VideoJobSpec
from videogen_common.resources.videojob_status import State, VideoJobStatus

# The names tests/e2e import; the values are the shared constants.
IDEMPOTENCY_LABEL: Final = LABEL_IDEMPOTENCY_KEY
FINGERPRINT_ANNOTATION: Final = ANNOTATION_REQUEST_FINGERPRINT

_DEFAULT_MESSAGES: Final[Mapping[State, str]] = {
    State.PENDING: "Job queued",
    State.PROCESSING: "Generating video...",
    State.COMPLETED: "Generation complete",
    State.FAILED: "Error: generation failed",
    State.CANCELLED: "Job cancelled",
}


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


def updated_at(videojob: VideoJob) -> str:
    """The latest write to the object (spec or status), as RFC 3339."""
    metadata, status = videojob.metadata, videojob.status
    times = [metadata.creation_timestamp, status.start_time, status.completion_time]
    times += [entry.time for entry in metadata.managed_fields]
    times += [condition.last_transition_time for condition in status.conditions]
    # Kubernetes writes UTC seconds precision ("2024-01-15T10:30:00Z"), so the strings order like the times.
    return max(time for time in times if time)


def _message(state: State, status: VideoJobStatus) -> str:
    message = status.message or _DEFAULT_MESSAGES[state]
    # The reference's failed jobs read "Error: <what>".
    if state == State.FAILED and not message.startswith("Error"):
        message = f"Error: {message}"
    return message


def videojob_to_job(videojob: VideoJob, output_url: Callable[[str], str]) -> JobResponse:
    """The reference's job view plus ours. ``output_url`` turns an output file name into its /outputs URL."""
    spec, status = videojob.spec, videojob.status
    state = status.current_state
    output = status.output if state == State.COMPLETED and status.output is not None and status.output.file else None
    return JobResponse(
        job_id=videojob_name_to_job_id(videojob.name),
        status=state,
        message=_message(state, status),
        output_path=(output.path or f"./outputs/{output.file}") if output else None,
        created_at=videojob.metadata.creation_timestamp or "",
        updated_at=updated_at(videojob),
        mode=spec.mode,
        model=spec.model,
        reason=status.reason,
        cancel_requested=spec.cancel,
        progress=JobProgress.model_validate(status.progress.model_dump()) if status.progress else None,
        output_url=output_url(output.file) if output else None,
        used=JobUsedParameters.model_validate(status.used.model_dump()) if status.used else None,
    )
