"""VideoJob <-> REST: building the VideoJob a request asks for, and reading one back as the reference's job view.

Pure functions: no I/O, so the mapping is tested without a cluster and reads in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from pydantic.alias_generators import to_camel

from videogen_api.crd import GROUP, VERSION
from videogen_api.schemas import JobResponse, JobState, Progress, UsedParameters
from videogen_common.names import videojob_name_to_job_id

KubeObject = dict[str, Any]

MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "videogen-api"
IDEMPOTENCY_LABEL: Final = "videogen.dev/idempotency-key"
FINGERPRINT_ANNOTATION: Final = "videogen.dev/request-fingerprint"

TERMINAL_STATES: Final = frozenset({"completed", "failed", "cancelled"})

_DEFAULT_MESSAGES: Final[dict[str, str]] = {
    "pending": "Job queued",
    "processing": "Generating video...",
    "completed": "Generation complete",
    "failed": "Error: generation failed",
    "cancelled": "Job cancelled",
}


def build_videojob(
    name: str,
    mode: str,
    parameters: Mapping[str, Any],
    *,
    model: str | None,
    input_uri: str | None,
    input_content_type: str | None,
    output_bucket: str,
    output_prefix: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
) -> KubeObject:
    """The VideoJob for a request. ``parameters`` are the request's snake_case generation fields."""
    spec: KubeObject = {"mode": mode, **{to_camel(key): value for key, value in parameters.items()}}
    if model is not None:
        spec["model"] = model
    if input_uri is not None:
        spec["input"] = {"uri": input_uri, **({"contentType": input_content_type} if input_content_type else {})}
    # Set explicitly so that /outputs knows where every API job's file lands, whatever the operator's default is.
    spec["output"] = {"bucket": output_bucket, "prefix": output_prefix}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "VideoJob",
        "metadata": {
            "name": name,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY, **labels},
            "annotations": dict(annotations),
        },
        "spec": spec,
    }


def state_of(videojob: Mapping[str, Any]) -> JobState:
    """The reference status; a VideoJob the operator has not seen yet is pending."""
    state: JobState = (videojob.get("status") or {}).get("state") or "pending"
    return state


def is_active(videojob: Mapping[str, Any]) -> bool:
    """Pending or processing: it holds (or waits for) a GPU and counts against the concurrency limit."""
    return state_of(videojob) not in TERMINAL_STATES


def updated_at(videojob: Mapping[str, Any]) -> str:
    """The latest write to the object (spec or status), as RFC 3339."""
    metadata = videojob.get("metadata", {})
    status = videojob.get("status") or {}
    times = [metadata.get("creationTimestamp", "")]
    times += [entry.get("time", "") for entry in metadata.get("managedFields") or []]
    times += [status.get(key, "") for key in ("startTime", "completionTime")]
    times += [condition.get("lastTransitionTime", "") for condition in status.get("conditions") or []]
    # Kubernetes writes UTC seconds precision ("2024-01-15T10:30:00Z"), so the strings order like the times.
    return max(str(time) for time in times if time)


def _message(state: str, status: Mapping[str, Any]) -> str:
    message = str(status.get("message") or _DEFAULT_MESSAGES[state])
    # The reference's failed jobs read "Error: <what>".
    if state == "failed" and not message.startswith("Error"):
        message = f"Error: {message}"
    return message


def videojob_to_job(videojob: Mapping[str, Any], output_url: Callable[[str], str]) -> JobResponse:
    """The reference's job view plus ours. ``output_url`` turns an output file name into its /outputs URL."""
    metadata = videojob["metadata"]
    spec = videojob.get("spec", {})
    status = videojob.get("status") or {}
    state = state_of(videojob)
    output = status.get("output") or {}
    output_file = output.get("file")
    progress = status.get("progress")
    used = status.get("used")
    return JobResponse(
        job_id=videojob_name_to_job_id(metadata["name"]),
        status=state,
        message=_message(state, status),
        output_path=(output.get("path") or f"./outputs/{output_file}")
        if state == "completed" and output_file
        else None,
        created_at=metadata["creationTimestamp"],
        updated_at=updated_at(videojob),
        mode=spec.get("mode", ""),
        model=spec.get("model"),
        reason=status.get("reason"),
        cancel_requested=bool(spec.get("cancel")),
        progress=Progress(
            step=progress.get("step", 0), total_steps=progress.get("totalSteps", 0), percent=progress.get("percent", 0)
        )
        if progress
        else None,
        output_url=output_url(output_file) if state == "completed" and output_file else None,
        used=UsedParameters.model_validate({_snake(key): value for key, value in used.items()}) if used else None,
    )


def _snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
