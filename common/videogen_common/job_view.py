"""A VideoJob as the REST API's job view (``GET /api/v1/job/{id}``): the reference API's fields, then ours.

Pure, and here rather than in the API so that every component that shows a job shows the same JSON: the API's job
routes, its event stream and the operator's webhook deliveries (which must not import the API).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from videogen_common.names import is_videojob_name, videojob_name_to_job_id
from videogen_common.resources.objects import VideoJob
from videogen_common.resources.videojob import VideoJobSpec
from videogen_common.resources.videojob_status import State, VideoJobStatus
from videogen_common.webhooks import DEFAULT_EVENTS, WebhookEvent

__all__ = ["DEFAULT_MESSAGES", "job_message", "job_view", "updated_at", "webhook_view"]

#: The reference API's message for each state, when the status has none of its own.
DEFAULT_MESSAGES: Final[Mapping[State, str]] = {
    State.PENDING: "Job queued",
    State.PROCESSING: "Generating video...",
    State.COMPLETED: "Generation complete",
    State.FAILED: "Error: generation failed",
    State.CANCELLED: "Job cancelled",
}


def job_message(state: State, status: VideoJobStatus) -> str:
    message = status.message or DEFAULT_MESSAGES[state]
    # The reference's failed jobs read "Error: <what>".
    if state == State.FAILED and not message.startswith("Error"):
        message = f"Error: {message}"
    return message


def updated_at(videojob: VideoJob) -> str:
    """The latest write to the object (spec or status), as RFC 3339."""
    metadata, status = videojob.metadata, videojob.status
    times = [metadata.creation_timestamp, status.start_time, status.completion_time]
    times += [entry.time for entry in metadata.managed_fields]
    times += [condition.last_transition_time for condition in status.conditions]
    # Kubernetes writes UTC seconds precision ("2024-01-15T10:30:00Z"), so the strings order like the times.
    return max((time for time in times if time), default="")


def job_view(videojob: VideoJob, output_url: Callable[[str], str] | None = None) -> dict[str, Any]:
    """The job as the REST API shows it (snake_case JSON). ``output_url`` turns an output file name into its
    /outputs URL; without it ``output_url`` is left out (``output_path`` names the file either way)."""
    spec, status = videojob.spec, videojob.status
    state = status.current_state
    output = status.output if state == State.COMPLETED and status.output is not None and status.output.file else None
    view: dict[str, Any] = {
        # A VideoJob made with kubectl may have any name: its name is then its id.
        "job_id": videojob_name_to_job_id(videojob.name) if is_videojob_name(videojob.name) else videojob.name,
        "status": state.value,
        "message": job_message(state, status),
        "output_path": (output.path or f"./outputs/{output.file}") if output else None,
        "created_at": videojob.metadata.creation_timestamp or "",
        "updated_at": updated_at(videojob),
        "mode": spec.mode.value,
        "model": spec.model,
        "reason": status.reason.value if status.reason else None,
        "cancel_requested": spec.cancel,
        "progress": status.progress.model_dump(mode="json") if status.progress else None,
        "used": status.used.model_dump(mode="json") if status.used else None,
    }
    if output_url is not None:
        view["output_url"] = output_url(output.file) if output else None
    view["webhook"] = webhook_view(spec, status)
    return view


def webhook_view(spec: VideoJobSpec, status: VideoJobStatus) -> dict[str, Any] | None:
    """Where the job's events go and how the latest delivery went (None without spec.webhook)."""
    if spec.webhook is None:
        return None
    deliveries = status.webhook
    events = spec.webhook_events_filter or [event for event in WebhookEvent if event in DEFAULT_EVENTS]
    return {
        "url": spec.webhook,
        "events": [event.value for event in events],
        "delivered": deliveries.delivered if deliveries else 0,
        "dropped": deliveries.dropped if deliveries else 0,
        "pending": len(deliveries.pending) if deliveries else 0,
        "last_event": deliveries.last_event.value if deliveries and deliveries.last_event else None,
        "last_attempt_at": deliveries.last_attempt_time if deliveries else None,
        "last_status_code": deliveries.last_status_code if deliveries else None,
        "last_error": deliveries.last_error if deliveries else None,
    }
